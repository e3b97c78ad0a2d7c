"""Inverted dropout: zero each entry with probability p and scale the survivors by 1/(1-p)."""

import numpy as np

from tinyllm.ops._checks import check_float


def dropout_forward(x, p, rng=None, training=True):
    """Inverted dropout, so that evaluation needs no rescaling.

    x: any shape; p in [0, 1); rng: np.random.Generator (required when training and p > 0).
    Returns y (same shape as x) and the cache: mask (x's shape, the keep-mask already scaled by
    1/(1-p)), or None when nothing is dropped.
    """
    check_float("x", x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x, {"mask": None}
    if not isinstance(rng, np.random.Generator):
        raise TypeError("dropout: training with p > 0 needs rng=np.random.Generator (no global state)")
    mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * mask, {"mask": mask}


def dropout_backward(dy, cache):
    """Backward of dropout: the same mask (already scaled) gates the gradient."""
    mask = cache["mask"]
    return dy if mask is None else dy * mask
