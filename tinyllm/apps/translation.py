"""Translation into and out of TinyWorld's toy language (article §3.4, §6): BLEU and chrF.

Into the toy language, the model does what pre-training showed it: ``translate: {source}. toy:``,
greedy generation up to the full stop.

Out of the toy language, the model has never seen a single example (the corpus only translates
English -> toy). It can still translate back by scoring, with Bayes' rule: the English sentence y
that makes the document ``translate: y. toy: x.`` most likely, argmax_y P(y) P(x | y) (E2.2 with
the toy sentence x as the input). The candidates are the sentences of TinyWorld's two translation
patterns ("the C A V the C A" and "NAME V the C A"; the pattern is read off the toy sentence's
length), searched one word slot at a time (each slot tries every word of its class with the other
slots fixed, two sweeps), which is exact enough because the translation is word for word.

BLEU and chrF are ``sacrebleu``'s corpus scores (0-100); exact match is over whole sentences.
"""

from tinyllm.apps.base import AppResult, Example, check_n, complete, load, sequence_logprobs, test_documents
from tinyllm.apps.metrics import bleu, chrf, exact_match
from tinyllm.prompt.parse import parse_fields

INTO_TOY = "translate: {source}. toy:"
JOINT = "{source}. toy: {target}."


def _slots():
    """The two English patterns: (word classes per slot, how to write the sentence)."""
    from tinyllm.data import tinyworld_world as tw

    colours, animals, verbs = list(tw.COLOURS), list(tw.ANIMALS), list(tw.TRANSLATE_VERBS)
    names = list(tw.FEMALE_NAMES + tw.MALE_NAMES)
    long = ([colours, animals, verbs, colours, animals],
            lambda s: f"the {s[0]} {s[1]} {s[2]} the {s[3]} {s[4]}")
    short = ([names, verbs, colours, animals], lambda s: f"{s[0]} {s[1]} the {s[2]} {s[3]}")
    return long, short


def to_toy(model, tok, source):
    """(output text, parsed toy sentence or None) for one English sentence (no final full stop)."""
    output = complete(model, tok, INTO_TOY.format(source=source), max_new_tokens=10)
    fields = parse_fields(output, "{target}.")
    return output, (fields["target"] if fields else None)


def from_toy(model, tok, toy_sentence, sweeps=2):
    """The English sentence that best explains ``toy_sentence`` under the model (noisy channel)."""
    long, short = _slots()
    classes, write = long if len(toy_sentence.split()) == 7 else short
    choice = [c[0] for c in classes]
    for _ in range(sweeps):
        for i, words in enumerate(classes):
            candidates = [write(choice[:i] + [w] + choice[i + 1:]) for w in words]
            scores = sequence_logprobs(model, tok, "translate:",
                                       [JOINT.format(source=c, target=toy_sentence) for c in candidates])
            choice[i] = words[int(scores.argmax())]
    return write(choice)


def run(model=None, n=100, seed=0):
    """BLEU, chrF and exact match into the toy language and out of it on ``n`` test sentences."""
    n = check_n(n)
    net, tok, name = load(model)
    docs = test_documents("translate", n, seed)
    examples = []
    for d in docs:
        source, target = d.fields["source"], d.fields["target"]
        output, parsed = to_toy(net, tok, source)
        examples.append(Example(INTO_TOY.format(source=source), output, parsed, target,
                                exact_match([parsed], [target]) == 1.0, "into toy"))
    for d in docs:
        source, target = d.fields["source"], d.fields["target"]
        english = from_toy(net, tok, target)
        examples.append(Example(f"argmax_y P(translate: y. toy: {target}.)", english, english, source,
                                exact_match([english], [source]) == 1.0, "out of toy"))
    metrics = {}
    for group, key in (("into toy", "into"), ("out of toy", "out")):
        ex = [e for e in examples if e.group == group]
        pred, ref = [e.parsed or "" for e in ex], [e.gold for e in ex]
        metrics[f"bleu_{key}"] = bleu(pred, ref)
        metrics[f"chrf_{key}"] = chrf(pred, ref)
        metrics[f"exact_match_{key}"] = exact_match(pred, ref)
    metrics["n"] = n
    return AppResult("translation", name, "bleu_into", metrics["bleu_into"], metrics, examples)
