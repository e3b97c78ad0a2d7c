"""Argument checks shared by the compiled backends: same errors as tinyllm.ops, then C-contiguous
arrays, a uint8 key mask and the resolved scale, ready for a kernel."""

import math

import numpy as np

from tinyllm.ops._checks import check_float
from tinyllm.ops.attention import check_attention_inputs


def as_rows(name, x):
    """Check a float array and view it as C-contiguous (rows, N) over its last axis."""
    check_float(name, x)
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis, got a scalar")
    n = x.shape[-1]
    return np.ascontiguousarray(x).reshape(-1, n)


def qk(q, k, key_mask, scale):
    """Check q (B, H, Tq, D), k (B, H, Tk, D), key_mask (B, Tk) bool with the reference's own rules;
    return contiguous copies, the mask as uint8 (or None) and the float scale (default 1/sqrt(D))."""
    key_mask = check_attention_inputs(q, k, key_mask=key_mask)
    mask = None if key_mask is None else np.ascontiguousarray(key_mask).view(np.uint8)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)
    return np.ascontiguousarray(q), np.ascontiguousarray(k), mask, scale


def v_like(v, q, k):
    """Check v (B, H, Tk, Dv) against q and k; return it C-contiguous."""
    check_attention_inputs(q, k, v)
    return np.ascontiguousarray(v)


def grad_like(name, g, like):
    """Check an upstream gradient against the forward output ``like``; return it C-contiguous."""
    check_float(name, g)
    if g.shape != like.shape or g.dtype != like.dtype:
        raise ValueError(f"{name} must have shape {like.shape} and dtype {like.dtype}, "
                         f"got {g.shape} {g.dtype}")
    return np.ascontiguousarray(g)
