"""Embedding lookup (S8): token, position and segment embeddings are all rows picked from a table."""

import numpy as np

from tinyllm.ops._checks import check_float, check_int


def embedding_forward(ids, W):
    """y = W[ids]. Implements the lookups of S8 (token, position, segment).

    ids: (...) integers in [0, V)   W: (V, C)   ->   y: (..., C)
    cache: ids (...), shape (V, C) and dtype of W (the backward builds dW from them).
    """
    check_int("ids", ids)
    check_float("W", W)
    if W.ndim != 2:
        raise ValueError(f"embedding: W must be (V, C), got shape {W.shape}")
    V = W.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"embedding: ids must lie in [0, {V}), got {int(bad)}")
    return W[ids], {"ids": ids, "shape": W.shape, "dtype": W.dtype}


def embedding_backward(dy, cache):
    """Backward of a lookup: each row of dW collects the gradients of every position that used it.

    dy: (..., C) -> dW (V, C). ``np.add.at`` adds repeated ids correctly (a plain ``dW[ids] += dy``
    would keep only the last one).
    """
    dW = np.zeros(cache["shape"], dtype=cache["dtype"])
    np.add.at(dW, cache["ids"].reshape(-1), dy.reshape(-1, dy.shape[-1]))
    return dW
