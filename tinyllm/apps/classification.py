"""Classification through a prompt (article §3.4, §6): review sentiment and news topic, zero-shot.

Both go through the prompt library: a ``PromptModel`` (a template and a verbalizer, E2.2 and S11)
scores every label by the log-probability of its words at the template's ``{mask}`` and predicts the
best one; ``tinyllm.prompt.metrics.evaluate`` gives accuracy and macro-F1.

- **Sentiment** (2 classes): a test-split review without its closing sentence. The template lets the
  review go on (``{x} {mask} .``) and the verbalizer's words for a label are the closing sentences
  TinyWorld writes after such a review ("I would watch it again", ..., several tokens each: the
  chain rule of S11), combined by logsumexp. A naive template in everyday English, ``{x} it was
  {mask} .`` with "great"/"awful" (words that close no review in the corpus), is measured beside it.
- **Topic** (10 classes): a news sentence without the reaction that follows it; the template writes
  the reaction (``{x} the crowd said it was {mask} .``) and each topic's label words are the
  adjectives its reactions use.
"""

from tinyllm.apps.base import AppResult, Example, check_n, load, test_documents

SENTIMENT_TEMPLATE = "{x} {mask} ."
NAIVE_TEMPLATE = "{x} it was {mask} ."
TOPIC_TEMPLATE = "{x} the crowd said it was {mask} ."


def without_last_sentence(text):
    """The document without its closing sentence (where a review's or a news item's label shows)."""
    return text[: text.rindex(".", 0, len(text) - 1) + 1]


def news_without_reaction(text):
    """A news document up to the end of its report (the reaction sentence removed)."""
    return text[: text.index(".") + 1]


def sentiment_words():
    """label -> the closing sentences TinyWorld writes after a review of that sentiment."""
    from tinyllm.data import tinyworld_world as tw

    return {label: [" ".join(e) for e in tw.MOVIE_ENDINGS[label] + tw.FOOD_ENDINGS[label]]
            for label in ("positive", "negative")}


def topic_words():
    """topic -> the adjectives the reactions to its news use."""
    from tinyllm.data import tinyworld_world as tw

    return {topic: list(words["adjectives"]) for topic, words in tw.NEWS.items()}


def classify(model, tok, template, label_words, texts):
    """Zero-shot labels (names) of ``texts`` through ``PromptModel(model, tok, template, label_words)``."""
    from tinyllm.prompt.prompt_model import PromptModel

    pm = PromptModel(model, tok, template, label_words)
    names = list(label_words)
    return [names[int(i)] for i in pm.predict(texts)]


def run(model=None, n=100, seed=0):
    """Accuracy and macro-F1 on ``n`` test reviews (two templates) and ``n`` test news items."""
    from tinyllm.prompt.metrics import evaluate

    n = check_n(n)
    net, tok, name = load(model)
    reviews = test_documents("review", n, seed)
    news = test_documents("news", n, seed)
    tasks = (
        ("sentiment", [without_last_sentence(d.text) for d in reviews], [d.label for d in reviews],
         SENTIMENT_TEMPLATE, sentiment_words()),
        ("sentiment_naive", [without_last_sentence(d.text) for d in reviews], [d.label for d in reviews],
         NAIVE_TEMPLATE, {"positive": ["great"], "negative": ["awful"]}),
        ("topic", [news_without_reaction(d.text) for d in news], [d.label for d in news],
         TOPIC_TEMPLATE, topic_words()),
    )
    metrics, examples = {}, []
    for group, texts, gold, template, words in tasks:
        pred = classify(net, tok, template, words, texts)
        r = evaluate(gold, pred, labels=list(words))
        metrics[f"accuracy_{group}"], metrics[f"macro_f1_{group}"] = r["accuracy"], r["macro_f1"]
        examples += [Example(template.replace("{x}", x), p, p, g, p == g, group)
                     for x, p, g in zip(texts, pred, gold)]
    metrics["n"] = n
    return AppResult("classification", name, "accuracy_sentiment", metrics["accuracy_sentiment"], metrics,
                     examples)
