"""Softmax and log-softmax over the last axis (S1), the stable way.

Forward subtracts the row maximum before exponentiating, so ``exp`` never overflows:
    softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z)                      (S1)
A row whose entries are all ``-inf`` (a fully masked attention row, S3) has no mass at all; it
returns zeros instead of NaN.
"""

import numpy as np

from tinyllm.ops._checks import check_float


def check_rows(name, x):
    """A softmax needs at least one axis and at least one entry along the last one."""
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name}: softmax runs over the last axis, which must hold at least one entry; "
                         f"got shape {x.shape}")


def softmax_forward(x):
    """Row softmax over the last axis. Implements S1 (and the softmax of E3.2).

    x: (..., N) float32/float64, N >= 1, may contain -inf (masked entries).
    Returns y (..., N) and the cache: y (..., N). Rows that are entirely -inf give 0;
    a row with a NaN gives NaN.
    """
    check_float("x", x)
    check_rows("x", x)
    m = np.max(x, axis=-1, keepdims=True)                 # (..., 1)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype)  # an all -inf row keeps exp(-inf) = 0
    e = np.exp(x - m)                                     # (..., N)
    s = np.sum(e, axis=-1, keepdims=True)                 # (..., 1)
    y = e / np.where(s == 0, 1.0, s).astype(x.dtype)     # a NaN sum keeps the whole row NaN
    return y, {"y": y}


def softmax_backward(dy, cache):
    """Backward of S1: dz = y * (dy - <dy, y>), the row-wise Jacobian-vector product.

    dy: (..., N) upstream gradient. Returns dx (..., N). Fully masked rows (y = 0) give dx = 0.
    """
    y = cache["y"]
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def log_softmax_forward(x):
    """Log-softmax over the last axis: z - logsumexp(z) (S1, S2), stable.

    x: (..., N). Returns log p (..., N) and the cache: p (..., N) = softmax(x), for the backward.
    """
    check_float("x", x)
    check_rows("x", x)
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype)
    shifted = x - m
    lse = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))   # (..., 1)
    logp = shifted - lse
    return logp, {"p": np.exp(logp)}


def log_softmax_backward(dy, cache):
    """Backward of log-softmax: dz = dy - p * sum(dy). dy (..., N) -> dx (..., N)."""
    p = cache["p"]
    return dy - p * np.sum(dy, axis=-1, keepdims=True)
