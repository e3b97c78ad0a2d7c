"""Dialogue (article §3.4, §6): a multi-turn conversation whose reply needs a fact set up earlier.

A TinyWorld dialogue has five turns: A greets B, B answers and names A, A asks B a question about
B's life, B replies with a fact of the world, A closes. The model writes B's reply: it has to know
from the earlier turns who B is (the same question asked of A has another answer) and recall B's
fact. Prompt: the dialogue up to ``B:``; greedy generation up to the full stop. The fact is parsed
out of the reply with ``parse_fields`` and the reply's template for that question; the metrics are
exact match of the fact (headline) and of the whole reply.
"""

from tinyllm.apps.base import AppResult, Example, check_n, complete, load, test_documents
from tinyllm.apps.metrics import exact_match
from tinyllm.prompt.parse import parse_fields

# question -> (template of the reply, the person's attribute that fills it)
REPLIES = {
    "where do you live?": ("I live in {fact}.", lambda w, p: p.city),
    "what do you do?": ("I am {article} {fact}.", lambda w, p: p.job),
    "do you have a pet?": ("yes, I have {article} {fact}.", lambda w, p: p.pet),
    "what do you like to eat?": ("I like {fact}.", lambda w, p: p.food),
    "who is your friend?": ("my friend is {fact}.", lambda w, p: p.friend),
}


def prompt_of(text, speaker):
    """The dialogue text up to and including the answering speaker's last ``NAME:``."""
    return text[: text.rindex(f"{speaker}:") + len(speaker) + 1]


def reply(model, tok, text, speaker, question):
    """(output text, the fact parsed from it or None): ``speaker``'s reply to ``question`` (a key of
    REPLIES) in the dialogue ``text`` (cut after the speaker's last ``NAME:`` by ``prompt_of``)."""
    output = complete(model, tok, prompt_of(text, speaker), max_new_tokens=10)
    fields = parse_fields(output, REPLIES[question][0])
    return output, (fields["fact"] if fields else None)


def run(model=None, n=100, seed=0):
    """Exact match of the fact in B's reply, and of the whole reply, on ``n`` test dialogues."""
    from tinyllm.data import tinyworld
    from tinyllm.data.word_tokenizer import join_words, split_words

    n = check_n(n)
    net, tok, name = load(model)
    w = tinyworld.world()
    examples, replies, gold_replies = [], [], []
    for d in test_documents("dialogue", n, seed):
        b = d.fields["speakers"][1]
        output, parsed = reply(net, tok, d.text, b, d.fields["question"])
        gold = REPLIES[d.fields["question"]][1](w, w.person[b])
        examples.append(Example(prompt_of(d.text, b), output, parsed, gold, exact_match([parsed], [gold]) == 1.0))
        replies.append(output)
        gold_replies.append(join_words(split_words(d.fields["answer"])) + ".")
    metrics = {"exact_match_fact": exact_match([e.parsed for e in examples], [e.gold for e in examples]),
               "exact_match_reply": exact_match(replies, gold_replies), "n": n}
    return AppResult("dialogue", name, "exact_match_fact", metrics["exact_match_fact"], metrics, examples)
