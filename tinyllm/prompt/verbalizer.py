"""Verbalizers (S11): from label words' scores to P(y | x, t), the probability of E2.2.

A verbalizer maps each label y to one or more words v(y). A word's score is its log-probability at
the answer slot of the prompt t(x); for a word of K tokens v_1..v_K

    causal LM (GPT):  s(v) = sum_k log P(v_k | t(x), v_<k)                      the exact chain rule
    masked LM (BERT): {mask} becomes K [MASK]s; s(v) = sum_k log P([MASK]_k = v_k | ...)
                      decoding="left_to_right": the masks before k hold v_<k (PET's decoding)
                      decoding="parallel":      every mask stays [MASK]

Several words per label combine into the label score S(y) by ``combine``: "logsumexp" (default,
log sum_w P(w): the label is any of its words), "mean" or "max". Then

    P(y | x, t) = softmax_y S(y)                                                 (E2.2, S11)

With one one-token word per label this is the model's softmax restricted to the verbalizer's
tokens (PET's loss): the normaliser over the vocabulary cancels.

    >>> v = Verbalizer({"negative": ["awful", "bad"], "positive": ["great"]}, tok)
    >>> v.label_names, v.word_ids        # ['negative', 'positive'], [[[12], [40]], [[77]]]
"""

import numpy as np

from tinyllm.prompt.template import encode_strict

COMBINE = ("logsumexp", "mean", "max")
DECODING = ("left_to_right", "parallel")


class Verbalizer:
    """Label words v(y) and how their scores combine into S(y) (S11).

    label_words: dict label name -> word or list of words (labels are indices in dict order);
    also accepted: a list of (name, words) pairs, or a list of word lists (names "0", "1", ...).
    Words are tokenised as written: with a byte-level BPE tokenizer write a word that follows a space
    with its space (" great")."""

    def __init__(self, label_words, tokenizer, combine="logsumexp", decoding="left_to_right"):
        if combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")
        if decoding not in DECODING:
            raise ValueError(f"decoding must be one of {DECODING}, got {decoding!r}")
        self.combine = combine
        self.decoding = decoding
        pairs = _pairs(label_words)
        if len(pairs) < 2:
            raise ValueError(f"label_words needs at least two labels, got {len(pairs)}")
        self.label_names, self.words, self.word_ids = [], [], []
        owner = {}
        for name, words in pairs:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"label_words: label names must be non-empty strings, got {name!r}")
            if name in self.label_names:
                raise ValueError(f"label_words: duplicate label {name!r}")
            if isinstance(words, str):
                words = [words]
            words = list(words)
            if not words:
                raise ValueError(f"label_words[{name!r}] is empty: give the label at least one word")
            ids = []
            for w in words:
                if not isinstance(w, str) or not w.strip():
                    raise ValueError(f"label_words[{name!r}]: words must be non-empty strings, got {w!r}")
                if w in owner:
                    raise ValueError(f"label_words: duplicate word {w!r} (in label {owner[w]!r} and {name!r}); "
                                     "each word may verbalise one label once")
                owner[w] = name
                ids.append(encode_strict(tokenizer, w, f"label_words[{name!r}]"))
                if not ids[-1]:
                    raise ValueError(f"label_words[{name!r}]: word {w!r} has no tokens")
            self.label_names.append(name)
            self.words.append(words)
            self.word_ids.append(ids)

    @property
    def num_labels(self):
        return len(self.label_names)

    def label_token_ids(self):
        """Every token id used by a label word (AutoPrompt never picks these as triggers)."""
        return sorted({i for ids in self.word_ids for w in ids for i in w})

    def to_dict(self):
        return {"label_words": {n: list(w) for n, w in zip(self.label_names, self.words)},
                "combine": self.combine, "decoding": self.decoding}

    def __repr__(self):
        return f"Verbalizer({dict(zip(self.label_names, self.words))!r}, combine={self.combine!r})"

    # ------------------------------------------------------------ label scores S(y) and backward

    def combine_forward(self, word_scores):
        """word_scores (N, W) over the flat word list (label by label) -> label scores S (N, L), cache."""
        S = np.empty((word_scores.shape[0], self.num_labels), word_scores.dtype)
        weights = np.zeros_like(word_scores)                   # dS_y / ds_w, (N, W)
        start = 0
        for y, ids in enumerate(self.word_ids):
            s = word_scores[:, start:start + len(ids)]             # (N, n_y)
            if self.combine == "logsumexp":
                m = s.max(axis=1, keepdims=True)
                e = np.exp(s - m)
                S[:, y] = (m + np.log(e.sum(axis=1, keepdims=True)))[:, 0]
                weights[:, start:start + len(ids)] = e / e.sum(axis=1, keepdims=True)
            elif self.combine == "mean":
                S[:, y] = s.mean(axis=1)
                weights[:, start:start + len(ids)] = 1.0 / len(ids)
            else:
                j = s.argmax(axis=1)
                S[:, y] = s[np.arange(len(s)), j]
                weights[np.arange(len(s)), start + j] = 1.0
            start += len(ids)
        return S, weights

    def combine_backward(self, dS, weights):
        """dS (N, L) -> d word_scores (N, W)."""
        counts = [len(ids) for ids in self.word_ids]
        return weights * np.repeat(dS, counts, axis=1)


def _pairs(label_words):
    if isinstance(label_words, dict):
        return list(label_words.items())
    if isinstance(label_words, (list, tuple)):
        if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in label_words):
            return list(label_words)
        return [(str(i), w) for i, w in enumerate(label_words)]
    raise TypeError(f"label_words must be a dict label -> words, got {type(label_words).__name__}")
