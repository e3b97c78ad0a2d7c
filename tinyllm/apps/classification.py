"""Classification through a prompt (article §3.4, §6): review sentiment and news topic, zero-shot.

Both go through the prompt library: the tasks ``tw-sentiment`` (a test-split review without its
closing sentence, 2 classes) and ``tw-topic`` (a news report without its reaction, 10 classes) of
``tinyllm.prompt.tasks``, each with its suggested template and verbalizer (``tasks.default_prompt``:
TinyWorld's own words, the closing sentences of reviews as multi-token label words combined by
logsumexp, S11, and each topic's reaction adjectives). A ``PromptModel`` scores every label by the
log-probability of its words at the template's ``{mask}`` and predicts the best one (E2.2);
``tinyllm.prompt.metrics.evaluate`` gives accuracy and macro-F1.

Beside them, a naive template in everyday English, ``review: {x} it was {mask} .`` with
"great"/"awful" (words that close no review in the corpus): the prompt's wording matters.
"""

from tinyllm.apps.base import AppResult, Example, check_n, load

NAIVE_TEMPLATE = "review: {x} it was {mask} ."
NAIVE_WORDS = {"negative": ["awful"], "positive": ["great"]}


def classify(model, tok, template, label_words, texts):
    """Zero-shot label indices of ``texts`` through ``PromptModel(model, tok, template, label_words)``."""
    from tinyllm.prompt.prompt_model import PromptModel

    return PromptModel(model, tok, template, label_words).predict(texts)


def run(model=None, n=100, seed=0):
    """Accuracy and macro-F1 on the first ``n`` test examples of tw-sentiment (two prompts) and tw-topic.

    The tasks fix their own test examples, so ``seed`` does not change them.
    """
    from tinyllm.prompt import tasks
    from tinyllm.prompt.metrics import evaluate

    n = check_n(n)
    net, tok, name = load(model)
    sentiment, topic = tasks.load("tw-sentiment", split="test", n=n), tasks.load("tw-topic", split="test", n=n)
    runs = (("sentiment", sentiment, *tasks.default_prompt("tw-sentiment", "gpt")),
            ("sentiment_naive", sentiment, NAIVE_TEMPLATE, NAIVE_WORDS),
            ("topic", topic, *tasks.default_prompt("tw-topic", "gpt")))
    metrics, examples = {}, []
    for group, ds, template, words in runs:
        if list(words) != list(ds.label_names):
            raise ValueError(f"label_words of {group}: expected labels {ds.label_names}, got {list(words)}")
        pred = classify(net, tok, template, words, ds.texts)
        r = evaluate(ds.labels, pred, labels=list(range(len(ds.label_names))))
        metrics[f"accuracy_{group}"], metrics[f"macro_f1_{group}"] = r["accuracy"], r["macro_f1"]
        examples += [Example(template.replace("{x}", x), ds.label_names[p], ds.label_names[p], ds.label_names[g],
                             bool(p == g), group) for x, p, g in zip(ds.texts, pred, ds.labels)]
    metrics["n"] = n
    return AppResult("classification", name, "accuracy_sentiment", metrics["accuracy_sentiment"], metrics,
                     examples)
