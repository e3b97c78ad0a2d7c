"""Word tokenizer with a top-K frequency vocabulary (article §3.2 step 2).

Splitting rule: a token is a run of word characters (``\\w+``: Unicode letters, digits and ``_``)
or one single other non-space character (each punctuation mark is its own token). With
``lower=True`` (the default for real text) words are lower-cased first. Words outside the
vocabulary become [UNK].

Decoding joins tokens with one space, except that no space goes before ``. , ; : ? ! ) ]`` or
after ``( [``. So ``decode(encode(t)) == t`` holds exactly for text that (a) has all its words in
the vocabulary, (b) is already lower-case when ``lower=True``, and (c) is written with that spacing:
single spaces between words, punctuation attached as above. TinyWorld text satisfies all three
with ``tinyworld.tokenizer()``; that makes tokenization a one-to-one function of the text there.
"""

import re
from collections import Counter

from .tokenizer import SPECIAL_TOKENS, Tokenizer, check_flag, check_str_list, check_text

_SPLIT = re.compile(r"\w+|[^\w\s]")
_NO_SPACE_BEFORE = frozenset(".,;:?!)]")
_NO_SPACE_AFTER = frozenset("([")


def split_words(text, lower=False):
    """The word/punctuation pieces of ``text`` (the splitting rule above)."""
    return _SPLIT.findall(text.lower() if lower else text)


def join_words(words):
    """Inverse of ``split_words`` for text written with canonical spacing (see module doc)."""
    out = []
    prev = None
    for w in words:
        if out and w not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            out.append(" ")
        out.append(w)
        prev = w
    return "".join(out)


class WordTokenizer(Tokenizer):
    """Specials first, then the words (ids in that order)."""

    kind = "word"

    def __init__(self, words, lower=True, specials=SPECIAL_TOKENS):
        specials = check_str_list(specials, "specials", allow_empty=True)
        words = check_str_list(words, "words", allow_empty=True)
        bad = next((i for i, w in enumerate(words) if not w or len(w.split()) != 1 or w.strip() != w), None)
        if bad is not None:     # split_words never yields such a word: its id could never be encoded
            raise ValueError(f"words[{bad}] = {words[bad]!r}: a word is non-empty and has no spaces")
        words = [w for w in words if w not in specials]
        super().__init__(list(specials) + words, specials)
        if self.unk_id is None:
            raise ValueError("specials must include [UNK]: a word tokenizer maps every word outside "
                             "its vocabulary to [UNK]")
        self.lower = check_flag(lower, "lower")

    @classmethod
    def train(cls, texts, vocab_size=None, lower=True, min_freq=1):
        """Count words in ``texts`` and keep the top ``vocab_size - 7`` (ties: alphabetical).

        ``vocab_size`` counts the special tokens; None keeps every word seen ``min_freq`` times.
        """
        if isinstance(texts, str):
            texts = [texts]
        counts = Counter()
        for k, t in enumerate(texts):
            check_text(t, f"texts[{k}]")
            counts.update(split_words(t, lower))
        ranked = sorted((w for w, n in counts.items() if n >= min_freq),
                        key=lambda w: (-counts[w], w))
        if vocab_size is not None:
            if vocab_size <= len(SPECIAL_TOKENS):
                raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special "
                                 f"tokens, got {vocab_size}")
            ranked = ranked[: vocab_size - len(SPECIAL_TOKENS)]
        return cls(ranked, lower=bool(lower))

    def _encode(self, text):
        unk, stoi = self.unk_id, self._stoi
        return [stoi.get(w, unk) for w in split_words(text, self.lower)]

    def _decode(self, ids):
        return join_words([self._itos[i] for i in ids])

    def _config(self):
        return {"words": self._itos[len(self.specials):], "lower": self.lower,
                "specials": list(self.specials)}
