"""Question answering (article §3.4, §6): a question in, a one-word answer out, exact match.

Two kinds of question, so that memorising and generalising are measured apart:

- ``known``: the questions of TinyWorld's test-split QA documents. Their wording and their facts
  were both in pre-training (in other documents: the test texts themselves never were), so this is
  recall of memorised facts.
- ``unseen``: two-hop questions that no TinyWorld document ever asks, composed from the world's
  facts: "where does the friend of Anna live?" is the home town of Anna's friend. A model that
  only memorised "where does X live?" for names X has nothing to recall here.

Prompt (the corpus's own grammar): ``question: {question} answer:``; greedy generation up to the
full stop; ``parse_answer`` keeps the first word.
"""

import numpy as np

from tinyllm.apps.base import AppResult, Example, check_n, complete, load, test_documents
from tinyllm.apps.metrics import exact_match
from tinyllm.prompt.parse import parse_answer

TEMPLATE = "question: {question} answer:"

# two-hop questions: (wording about "the friend of NAME", the friend's attribute)
TWO_HOP = (
    ("where does the friend of {name} live?", lambda w, f: f.city),
    ("what is the job of the friend of {name}?", lambda w, f: f.job),
    ("what pet does the friend of {name} have?", lambda w, f: f.pet),
    ("what does the friend of {name} like to eat?", lambda w, f: f.food),
    ("which country is the friend of {name} from?", lambda w, f: w.country_of[f.city]),
)


def known_questions(n, seed=0):
    """``n`` (question, answer) pairs from test-split QA documents (the first pair of each)."""
    return [(d.fields["question"], d.fields["answer"]) for d in test_documents("qa", n, seed)]


def unseen_questions(n, seed=0):
    """``n`` two-hop (question, answer, shortcut) triples drawn with ``seed``.

    ``shortcut`` is the one-hop answer, the named person's own attribute ("where does Anna live?"):
    what a model that skips the friend would say.
    """
    from tinyllm.data import tinyworld

    w = tinyworld.world()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p = w.people[int(rng.integers(len(w.people)))]
        wording, answer = TWO_HOP[int(rng.integers(len(TWO_HOP)))]
        out.append((wording.format(name=p.name), answer(w, w.person[p.friend]), answer(w, p)))
    return out


def answer(model, tok, question):
    """(output text, parsed answer) for one question."""
    output = complete(model, tok, TEMPLATE.format(question=question), max_new_tokens=6)
    return output, parse_answer(output)


def run(model=None, n=100, seed=0):
    """Exact match on ``n`` known-fact and ``n`` unseen two-hop questions."""
    n = check_n(n)
    net, tok, name = load(model)
    examples = []
    unseen = unseen_questions(n, seed)
    for group, pairs in (("known", known_questions(n, seed)), ("unseen", [(q, a) for q, a, _ in unseen])):
        for question, gold in pairs:
            output, parsed = answer(net, tok, question)
            examples.append(Example(TEMPLATE.format(question=question), output, parsed, gold,
                                    exact_match([parsed], [gold]) == 1.0, group))
    metrics = {}
    for group in ("known", "unseen"):
        ex = [e for e in examples if e.group == group]
        metrics[f"exact_match_{group}"] = exact_match([e.parsed for e in ex], [e.gold for e in ex])
    # how often a two-hop answer is the one-hop shortcut (the named person's own attribute)
    metrics["unseen_gave_shortcut"] = exact_match([e.parsed for e in examples if e.group == "unseen"],
                                                  [s for _, _, s in unseen])
    metrics["n"] = n
    return AppResult("qa", name, "exact_match_known", metrics["exact_match_known"], metrics, examples)
