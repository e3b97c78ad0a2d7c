"""Summarisation of TinyWorld stories (article §3.4, §6): ROUGE and exact match.

A story tells who went where, what they found or made, and whom they gave it to; its summary is
one sentence, "Lena gave Greta a clock.". Prompt (the corpus's own grammar): ``story: {paragraph}
summary:``; greedy generation up to the full stop; ``parse_fields`` takes the sentence. ROUGE-1,
ROUGE-2 and ROUGE-L F-measures come from ``rouge-score``; exact match compares whole summaries.
"""

from tinyllm.apps.base import AppResult, Example, check_n, complete, load, test_documents
from tinyllm.apps.metrics import exact_match, rouge
from tinyllm.prompt.parse import parse_fields

TEMPLATE = "story: {paragraph} summary:"


def summarize(model, tok, paragraph):
    """(output text, parsed summary or None) for one story paragraph."""
    output = complete(model, tok, TEMPLATE.format(paragraph=paragraph), max_new_tokens=10)
    fields = parse_fields(output, "{summary}.")
    return output, (fields["summary"] + "." if fields else None)


def run(model=None, n=100, seed=0):
    """ROUGE-1/2/L and exact match of the summaries of ``n`` test stories."""
    n = check_n(n)
    net, tok, name = load(model)
    examples = []
    for d in test_documents("story", n, seed):
        paragraph, gold = d.fields["paragraph"], d.fields["summary"]
        output, parsed = summarize(net, tok, paragraph)
        examples.append(Example(TEMPLATE.format(paragraph=paragraph), output, parsed, gold,
                                exact_match([parsed], [gold]) == 1.0))
    pred, ref = [e.parsed for e in examples], [e.gold for e in examples]
    metrics = {**rouge(pred, ref), "exact_match": exact_match(pred, ref), "n": n}
    return AppResult("summarization", name, "rougeL", metrics["rougeL"], metrics, examples)
