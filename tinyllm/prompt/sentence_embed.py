"""Sentence embeddings from a frozen encoder, and zero-shot classification by their similarity to
label descriptions (the way all-MiniLM-L6-v2 is meant to be used; no template, no [MASK], no training).

    e(x) = normalise( sum_i m_i h_i(x) / sum_i m_i )      (C,)   mean of the last hidden states over the
                                                                 real tokens of [CLS] x [SEP] (m: attention mask)
    y* = argmax_y  e(x) . e(d_y)                                 cosine to the description d_y of label y
                                                                 ("a positive movie review"); E2.1's argmax
                                                                 with a similarity in place of P(y | x)

The encoder is frozen, so e(x) depends only on the weights and the text: ``embed`` keeps every
embedding it computed in a cache keyed by the weights' fingerprint (tinyllm.prompt.grid) and the text,
and a grid that embeds the same 500 test sentences for every method, K and seed computes them once.
"""

import numpy as np

_CACHE = {}                 # (weights fingerprint, text) -> (C,) float32 unit vector
_FINGERPRINTS = {}          # id(model) -> (the params dict object, fingerprint)


def _fingerprint(model):
    """The weights' fingerprint, memoised per model object (weights that train in place are never
    embedded here: every method that trains the encoder trains a copy)."""
    from tinyllm.prompt.grid import weights_fingerprint

    seen = _FINGERPRINTS.get(id(model))
    if seen is None or seen[0] is not model.params:
        seen = (model.params, weights_fingerprint(model))
        _FINGERPRINTS[id(model)] = seen
    return seen[1]


def embed(model, tokenizer, texts, batch_size=64, max_len=128, cache=True):
    """(N, C) float32 unit-norm mean-pooled last hidden states of [CLS] text [SEP] (BERT encoders).

    Texts are batched by length (less padding); with ``cache`` each (weights, text) is computed once
    per process."""
    from tinyllm.models import BERT

    if not isinstance(model, BERT):
        raise TypeError(f"model must be a tinyllm BERT (an encoder), got {type(model).__name__}")
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be strings")
    key = _fingerprint(model) if cache else None
    todo = [t for t in dict.fromkeys(texts) if (key, t) not in _CACHE] if cache else list(dict.fromkeys(texts))
    out = {}
    ids = [[tokenizer.cls_id] + tokenizer.encode(t)[: max_len - 2] + [tokenizer.sep_id] for t in todo]
    order = np.argsort([len(x) for x in ids], kind="stable")
    for s in range(0, len(order), batch_size):
        rows = order[s:s + batch_size]
        T = max(len(ids[i]) for i in rows)
        idx = np.full((len(rows), T), tokenizer.pad_id or 0, np.int64)            # (B, T)
        am = np.zeros((len(rows), T), np.int64)                                   # (B, T)
        for j, i in enumerate(rows):
            idx[j, :len(ids[i])], am[j, :len(ids[i])] = ids[i], 1
        h = model.encode(idx, attention_mask=am)                                  # (B, T, C)
        e = (h * am[..., None]).sum(axis=1) / am.sum(axis=1, keepdims=True)       # (B, C) mean pooling
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        for j, i in enumerate(rows):
            out[todo[i]] = e[j].astype(np.float32)
    if cache:
        _CACHE.update({(key, t): v for t, v in out.items()})
        return np.stack([_CACHE[(key, t)] for t in texts]) if texts else np.zeros((0, model.config.d_model), np.float32)
    return np.stack([out[t] for t in texts]) if texts else np.zeros((0, model.config.d_model), np.float32)


def similarity_scores(model, tokenizer, texts, descriptions):
    """(N, L) cosine similarities of each text's embedding to each label description's."""
    if not descriptions or not all(isinstance(d, str) and d.strip() for d in descriptions):
        raise ValueError(f"descriptions must be non-empty strings, one per label, got {descriptions!r}")
    return embed(model, tokenizer, texts) @ embed(model, tokenizer, descriptions).T


def predict_by_similarity(model, tokenizer, texts, descriptions):
    """argmax over labels of the cosine to their descriptions -> (N,) int."""
    return similarity_scores(model, tokenizer, texts, descriptions).argmax(axis=1)
