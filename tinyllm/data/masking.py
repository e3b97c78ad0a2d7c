"""Masked-LM corruption for BERT pre-training (S10), giving the labels of E3.7.

E3.7: L = -sum over masked positions i of log P(x_i | x_\\i). The positions are chosen here:
in every sequence, 15% of the positions that hold an ordinary token (never [CLS], [SEP], [PAD]
or any other special id, never outside the attention mask) are chosen uniformly without
replacement, at least one when the sequence has any; each chosen position becomes [MASK] with
probability 0.8, a random ordinary token with probability 0.1, and stays unchanged with
probability 0.1. The label of a chosen position is its original token; all other labels are -100
(ignored by the loss).
"""

import numpy as np

from .framing import IGNORE_INDEX


def mlm_mask(input_ids, rng, *, vocab_size, mask_id, special_ids, attention_mask=None,
             mask_prob=0.15, mask_token_prob=0.8, random_token_prob=0.1):
    """Corrupt a batch for masked-LM training (S10); returns ``(corrupted, labels)``.

    input_ids      (B, T) int token ids
    rng            np.random.Generator (all randomness comes from it)
    vocab_size     random replacements are drawn uniformly from ids in [0, vocab_size) that are
                   not in ``special_ids``
    mask_id        the [MASK] id
    special_ids    ids never chosen (and never drawn as random replacements)
    attention_mask (B, T) 1/True = real token; positions with 0 are never chosen
    Per row: n = max(1, round(mask_prob * candidates)) positions are chosen (0 if no candidate).
    Returns corrupted (B, T) int64 and labels (B, T) int64 (-100 where not chosen).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}")
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"input_ids must be a 2-D integer array (B, T), got shape {ids.shape} "
                        f"dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"input_ids must lie in [0, vocab_size={vocab_size}), got range "
                         f"[{ids.min()}, {ids.max()}]")
    for name, p in (("mask_prob", mask_prob), ("mask_token_prob", mask_token_prob),
                    ("random_token_prob", random_token_prob)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if mask_token_prob + random_token_prob > 1.0:
        raise ValueError(f"mask_token_prob + random_token_prob must be <= 1, got "
                         f"{mask_token_prob + random_token_prob}")
    special = np.asarray(sorted(set(int(i) for i in special_ids)), dtype=np.int64)
    ordinary = np.setdiff1d(np.arange(vocab_size), special)
    if ordinary.size == 0:
        raise ValueError("special_ids cover the whole vocabulary; nothing can be masked")
    candidate = ~np.isin(ids, special)  # (B, T)
    if attention_mask is not None:
        am = np.asarray(attention_mask)
        if am.shape != ids.shape:
            raise ValueError(f"attention_mask must have shape {ids.shape}, got {am.shape}")
        candidate &= am.astype(bool)
    n_cand = candidate.sum(axis=1)  # (B,)
    n_pick = np.where(n_cand > 0, np.maximum(1, np.rint(mask_prob * n_cand)), 0).astype(int)
    keys = rng.random(ids.shape)  # (B, T) random ranks; non-candidates sort last
    keys[~candidate] = 2.0
    rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")  # (B, T)
    chosen = rank < n_pick[:, None]  # (B, T)
    labels = np.where(chosen, ids, IGNORE_INDEX).astype(np.int64)
    u = rng.random(ids.shape)  # (B, T) which corruption each chosen position gets
    random_tokens = ordinary[rng.integers(ordinary.size, size=ids.shape)]
    corrupted = ids.astype(np.int64).copy()
    to_mask = chosen & (u < mask_token_prob)
    to_random = chosen & (u >= mask_token_prob) & (u < mask_token_prob + random_token_prob)
    corrupted[to_mask] = mask_id
    corrupted[to_random] = random_tokens[to_random]
    return corrupted, labels
