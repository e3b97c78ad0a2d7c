"""TinyWorld: a seeded generator of an English-like corpus about one fixed small world.

    from tinyllm.data import tinyworld
    docs = tinyworld.sample(10_000, seed=0, split="train")
    docs[0].text, docs[0].logprob, docs[0].kind, docs[0].label, docs[0].fields
    tok = tinyworld.tokenizer()                      # word tokenizer covering every TinyWorld word
    floor = tinyworld.entropy_floor(docs, tok)       # nats per token

The world (32 people, each with one home town, one job, one pet, one favourite food and one
friend; 16 towns in 4 countries; 16 animals and their sounds; 30 foods and their tastes; 52
objects; a toy language) is fixed (``tinyworld_world.py``). Documents are drawn from the grammar in ``tinyworld_grammar.py`` with the
caller's seed: facts, questions with answers, movie and food reviews with sentiment, dialogues,
translations into the toy language, stories with a summary, tiny programs with their output,
arithmetic and news with a topic. About 1,000 distinct words; documents of 16-41 word tokens.

Learnability by design: most of the entropy sits in uniform choices among word lists (easy to
match), the deterministic parts (agreement, punctuation, the answer to a question about a known
fact, a summary, a translation, a sum) are fully predictable, and there are few enough facts
(32 people x 5) to be memorised from about a million tokens.

Exact log-probability. Every random decision of the generator (the kind of document included)
is a uniform or weighted choice whose probability is added up as the document is written, so
``doc.logprob`` is the natural log of the probability of the choice path. The grammar is
unambiguous (different paths give different texts; ``exact_logprob`` enumerates all paths for a
text and the tests check there is exactly one), so it is also the log-probability of the text.

Entropy floor. A causal LM reads ``[BOS] text [EOS]`` and predicts the text's tokens and [EOS].
If tokenization is a one-to-one function of the text (it is for ``tokenizer()``: no [UNK], exact
round trip), then the probability of the token sequence equals that of the text, and no model can
do better in expectation than ``-sum(logprob) / sum(len(tokens) + 1)`` nats per token: that is
``entropy_floor``. On a finite sample it is the estimate of that floor on those documents; a model
scored on the same documents fluctuates with it. (With a tokenizer that is not one-to-one on the
text, e.g. one that lower-cases or maps words to [UNK], the number is no longer a floor.)

Splits. A document belongs to the split given by a hash of its text (``split_of``: 80% train,
10% validation, 10% test), and ``sample(..., split=s)`` keeps only documents of split ``s``. So no
text can ever be in two splits. Two floors follow, and tinyllm reports both:

- the practical floor, ``entropy_floor``: the cross-entropy of the generator itself on the split's
  documents, from ``doc.logprob``. It bounds every model that gives each text the probability the
  whole TinyWorld generator gives it, i.e. every model that does not compute the split's hash of
  a text it has not finished reading. That is what a language model trained here can approach.
- the exact floor of a split, ``split_entropy_floor``: the entropy of the split's own distribution,
  the generator conditioned on the hash landing in the split's buckets. Conditioning divides each
  probability by the split's share (0.1 for validation and test, 0.8 for train), so this floor is
  lower by ln(1 / share) per document: ln(10) ~ 2.30 nats per validation or test document, about
  0.09 nats per token. It bounds every model whatsoever, one that could invert the hash included.
  The share is the hash's nominal bucket share; the true probability mass of a split differs from
  it only by the hash's imbalance over the generator's texts.
"""

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from . import tinyworld_grammar as grammar
from .tinyworld_world import World
from .word_tokenizer import WordTokenizer, join_words, split_words

SPLITS = ("train", "validation", "test")
KINDS = grammar.KINDS
_SPLIT_BUCKETS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}
_LOG = [None] + [math.log(n) for n in range(1, 257)]

_WORLD = None


def world():
    """The one TinyWorld (built on first use from the fixed ``WORLD_SEED``)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World()
    return _WORLD


@dataclass(slots=True)
class Document:
    """One TinyWorld document.

    text     the document (one line, canonical spacing)
    logprob  natural log of its probability under the generator (kind choice included)
    kind     one of KINDS
    label    "positive"/"negative" for reviews, the topic for news, else None
    fields   structured parts for task use: QA pairs, translation source/target, summary, ...
    """

    text: str
    logprob: float
    kind: str
    label: str = None
    fields: dict = field(default_factory=dict)


class _Sampler:
    """Chooser that draws from a seeded stream of uniforms (see tinyworld_grammar)."""

    def __init__(self, rng):
        self._rng = rng
        self._u = []
        self._i = 0
        self.reset()

    def reset(self):
        self.tokens = []
        self.logp = 0.0
        self.meta = {}

    def _next(self):
        if self._i == len(self._u):
            self._u = self._rng.random(4096).tolist()
            self._i = 0
        u = self._u[self._i]
        self._i += 1
        return u

    def uniform(self, n):
        self.logp -= _LOG[n]
        return int(self._next() * n)

    def weighted(self, probs):
        u = self._next()
        acc = 0.0
        for i, p in enumerate(probs):
            acc += p
            if u < acc:
                break
        self.logp += math.log(probs[i])
        return i

    def say(self, *tokens):
        self.tokens.extend(tokens)


def split_of(text):
    """The split ("train", "validation" or "test") that ``text`` belongs to: a hash of the text."""
    bucket = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(),
                            "little") % 10
    for name, buckets in _SPLIT_BUCKETS.items():
        if bucket in buckets:
            return name


def sample(n_docs, seed, split="train", kinds=None):
    """Draw ``n_docs`` documents of ``split`` from the generator, seeded by ``seed``.

    The same (seed, split, kinds) gives the same documents, and ``sample(n, s)`` is a prefix of
    ``sample(m, s)`` for n < m. ``kinds`` (a subset of KINDS) keeps only documents of those kinds,
    e.g. ``kinds=("review",)`` for a sentiment task; their ``logprob`` stays the unconditioned
    generator's.
    """
    if isinstance(n_docs, bool) or not isinstance(n_docs, (int, np.integer)) or n_docs < 0:
        raise ValueError(f"n_docs must be a non-negative int, got {n_docs!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if kinds is not None:
        kinds = set([kinds] if isinstance(kinds, str) else kinds)
        bad = kinds - set(KINDS)
        if bad:
            raise ValueError(f"kinds must be a subset of {KINDS}, got unknown {sorted(bad)}")
    w = world()
    c = _Sampler(np.random.default_rng(seed))
    buckets = _SPLIT_BUCKETS[split]
    docs = []
    while len(docs) < n_docs:
        c.reset()
        grammar.document(c, w)
        meta = c.meta
        if kinds is not None and meta["kind"] not in kinds:
            continue
        text = join_words(c.tokens)
        h = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(),
                           "little") % 10
        if h not in buckets:
            continue
        docs.append(Document(text, c.logp, meta["kind"], meta.get("label"),
                             meta.get("fields", {})))
    return docs


def texts(n_docs, seed, split="train"):
    """Only the texts of ``sample(n_docs, seed, split)``."""
    return [d.text for d in sample(n_docs, seed, split)]


_TOKENIZER = None


def tokenizer():
    """A case-preserving WordTokenizer whose vocabulary is exactly the TinyWorld words.

    Every TinyWorld text encodes without [UNK] and decodes back to itself, so tokenization is a
    one-to-one function of the text (what ``entropy_floor`` needs).
    """
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = WordTokenizer(vocabulary(), lower=False)
    return WordTokenizer(_TOKENIZER.vocab()[len(_TOKENIZER.specials):], lower=False)


def vocabulary():
    """Sorted list of every word and punctuation token a TinyWorld document can contain.

    The union of the world's word lists and of the words the grammar's templates write (read off
    enough sampled documents that every template choice has occurred: the rarest template word
    has probability above 1e-3 per document, and 20,000 documents are drawn).
    """
    words = set(world().words())
    c = _Sampler(np.random.default_rng(0))
    w = world()
    for _ in range(20_000):
        c.reset()
        grammar.document(c, w)
        words.update(c.tokens)
    return sorted(words)


def entropy_floor(docs, tokenizer):
    """The practical floor: the generator's own cross-entropy on ``docs``, in nats per token, for
    a causal LM (E3.6, E4.1).

    ``-sum(doc.logprob) / sum(len(tokenizer.encode(doc.text)) + 1)``: the +1 is the [EOS] the
    model also predicts. It bounds every model that does not use the split's hash (see the module
    docstring; ``split_entropy_floor`` is the exact floor of a split, which bounds every model),
    and only when ``tokenizer`` is a one-to-one function of the text; ``tokenizer()`` is.
    """
    docs = list(docs)
    if not docs:
        raise ValueError("docs must not be empty")
    nll = -sum(d.logprob for d in docs)
    n_tokens = sum(len(tokenizer.encode(d.text)) + 1 for d in docs)
    return nll / n_tokens


def split_share(split):
    """The nominal share of the generator's probability mass in ``split`` (its hash buckets / 10)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return len(_SPLIT_BUCKETS[split]) / 10


def split_entropy_floor(docs, tokenizer, split):
    """The exact floor of ``split`` in nats per token: the entropy of the generator conditioned on
    the split (see the module docstring), lower than ``entropy_floor`` by ln(1 / share) per
    document. It bounds any model, even one that can compute the split's hash; ``entropy_floor``
    bounds the models that cannot (E3.6, E4.1).
    """
    docs = list(docs)
    if not docs:
        raise ValueError("docs must not be empty")
    nll = -sum(d.logprob for d in docs) - len(docs) * math.log(1 / split_share(split))
    n_tokens = sum(len(tokenizer.encode(d.text)) + 1 for d in docs)
    return nll / n_tokens


class _Branch(Exception):
    def __init__(self, n):
        self.n = n


class _Mismatch(Exception):
    pass


class _Replay:
    """Chooser that replays a fixed choice path and checks each emitted token against a text."""

    def __init__(self, path, target):
        self.path = path
        self.target = target
        self.k = 0
        self.pos = 0
        self.logp = 0.0
        self.meta = {}

    def _take(self, n):
        if self.k == len(self.path):
            raise _Branch(n)
        i = self.path[self.k]
        self.k += 1
        return i

    def uniform(self, n):
        self.logp -= _LOG[n]
        return self._take(n)

    def weighted(self, probs):
        i = self._take(len(probs))
        self.logp += math.log(probs[i])
        return i

    def say(self, *tokens):
        for t in tokens:
            if self.pos == len(self.target) or self.target[self.pos] != t:
                raise _Mismatch
            self.pos += 1


def parses(text):
    """Every choice path of the generator that writes exactly ``text``, with its log-prob.

    A depth-first search that replays the grammar and prunes a path at the first token that
    disagrees with the text. Meant for checking the grammar (it is slow: milliseconds per doc).
    """
    target = split_words(text)
    w = world()
    found = []
    stack = [()]
    while stack:
        path = stack.pop()
        r = _Replay(path, target)
        try:
            grammar.document(r, w)
        except _Branch as b:
            stack.extend(path + (i,) for i in range(b.n))
            continue
        except _Mismatch:
            continue
        if r.pos == len(target) and join_words(target) == text:
            found.append((path, r.logp))
    return found


def exact_logprob(text):
    """log P(text) under the generator, summed over every path that writes it (-inf if none)."""
    lps = [lp for _, lp in parses(text)]
    if not lps:
        return -math.inf
    m = max(lps)
    return m + math.log(sum(math.exp(lp - m) for lp in lps))
