"""Code (article §3.4, §6): run a tiny program in your head, and complete a program to an output.

Two tasks on TinyWorld's test-split programs (``tinyllm.apps.interpreter`` defines the language):

- ``output``: the program in, its printed output out. Prompt ``program: {program} output:``;
  greedy generation; ``parse_answer(..., type=int)``; exact match against the interpreter's output,
  also split by shape: two assignments and a sum (``sum``) or a ``repeat`` loop (a product).
- ``completion``: the program's last number is blanked out and its output is given; the model must
  fill the blank so that the program prints that output. The corpus always writes the output after
  the program, so the output cannot be read before the blank; instead each candidate c (the model's
  10 most likely tokens at the blank) is scored by the probability of the whole document
  ``program: ... c ...; print v. output: OUT.`` (E2.2 with the output as the condition), the best
  one is put into the program, and the interpreter runs it: a completion counts when it prints OUT.
  A greedy left-to-right completion that does not look at the output is the baseline
  (``completion_greedy``): it can only be right by luck.
"""

import re

import numpy as np

from tinyllm.apps.base import AppResult, Example, check_n, complete, load, sequence_logprobs, test_documents
from tinyllm.apps.interpreter import ProgramError, output as run_program
from tinyllm.apps.metrics import exact_match
from tinyllm.prompt.parse import parse_answer

OUTPUT_TEMPLATE = "program: {program} output:"
_LAST_NUMBER = re.compile(r"(\d+)(?=[^\d]*$)")


def program_of(text):
    """The program part of a TinyWorld program document (between "program:" and "output:")."""
    return text.split("program:", 1)[1].split("output:", 1)[0].strip()


def blank(program):
    """(prefix, suffix) around the program's last number: "k = 7; y = k +" and "; print y."."""
    m = _LAST_NUMBER.search(program)
    if m is None:
        raise ValueError(f"program: {program!r} has no number to blank out")
    return program[: m.start()].rstrip(), program[m.end():]


def checked(program, want):
    """True when ``program`` runs in the interpreter and prints ``want``; False on any ProgramError."""
    try:
        return run_program(program) == want
    except ProgramError:
        return False


def complete_to_output(model, tok, prefix, suffix, want, k=10):
    """The blank filled by the candidate that makes "program: prefix c suffix output: want." likeliest."""
    head = f"program: {prefix}"
    ids = [tok.bos_id] + list(tok.encode(head))
    logits = model.forward(np.array([ids]))[0, -1]                              # (V,)
    candidates = [tok.id_to_token(int(i)) for i in np.argsort(-logits)[:k]]
    scores = sequence_logprobs(model, tok, head, [f"{c}{suffix} output: {want}." for c in candidates])
    return candidates[int(scores.argmax())]


def predict_output(model, tok, program):
    """(output text, the printed value parsed as an int or None) for one program."""
    output = complete(model, tok, OUTPUT_TEMPLATE.format(program=program), max_new_tokens=4)
    return output, parse_answer(output, type=int)


def run(model=None, n=100, seed=0):
    """Exact match of program outputs, and interpreter-checked completion, on ``n`` test programs."""
    n = check_n(n)
    net, tok, name = load(model)
    examples = []
    docs = test_documents("program", n, seed)
    for d in docs:
        program = program_of(d.text)
        gold = run_program(program)
        out, parsed = predict_output(net, tok, program)
        examples.append(Example(OUTPUT_TEMPLATE.format(program=program), out, parsed, gold,
                                exact_match([parsed], [gold]) == 1.0, "output"))
    for d in docs:
        program = program_of(d.text)
        want = d.fields["output"]
        prefix, suffix = blank(program)
        filled = complete_to_output(net, tok, prefix, suffix, want)
        candidate = f"{prefix} {filled}{suffix}"
        examples.append(Example(f"program: {prefix} ___{suffix} output: {want}.", filled, candidate, want,
                                checked(candidate, want), "completion"))
        greedy = complete(net, tok, f"program: {prefix}", max_new_tokens=12, stop=("output",))
        guess = f"{prefix} {greedy.removesuffix('output').strip()}"
        examples.append(Example(f"program: {prefix}", greedy, guess, want, checked(guess, want),
                                "completion_greedy"))
    outputs = [e for e in examples if e.group == "output"]
    metrics = {"exact_match_output": exact_match([e.parsed for e in outputs], [e.gold for e in outputs])}
    for shape, has_repeat in (("sum", False), ("repeat", True)):
        ex = [e for e in outputs if ("repeat" in e.prompt) == has_repeat]
        if ex:
            metrics[f"exact_match_output_{shape}"] = exact_match([e.parsed for e in ex], [e.gold for e in ex])
    for group in ("completion", "completion_greedy"):
        ex = [e for e in examples if e.group == group]
        metrics[group] = sum(e.correct for e in ex) / len(ex)
    metrics["n"] = n
    return AppResult("code", name, "exact_match_output", metrics["exact_match_output"], metrics, examples)
