"""Argument checks shared by the compiled backends: same errors as tinyllm.ops, then C-contiguous
arrays, a uint8 key mask and the resolved scale, ready for a kernel."""

import math

import numpy as np

from tinyllm.ops._checks import check_float, check_same_dtype


def as_rows(name, x):
    """Check a float array and view it as C-contiguous (rows, N) over its last axis."""
    check_float(name, x)
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis, got a scalar")
    n = x.shape[-1]
    return np.ascontiguousarray(x).reshape(-1, n)


def qk(q, k, key_mask, scale):
    """Check q (B, H, Tq, D), k (B, H, Tk, D), key_mask (B, Tk) bool; return contiguous copies,
    the mask as uint8 (or None) and the float scale (default 1/sqrt(D))."""
    check_float("q", q)
    check_float("k", k)
    check_same_dtype(q=q, k=k)
    if q.ndim != 4 or k.ndim != 4:
        raise ValueError(f"attention: q and k must be (B, H, T, D), got {q.shape} and {k.shape}")
    if q.shape[:2] != k.shape[:2] or q.shape[3] != k.shape[3]:
        raise ValueError(f"attention: q {q.shape} and k {k.shape} must agree in B, H and D")
    if q.shape[3] == 0:
        raise ValueError(f"attention: the head dimension D must be at least 1, got q {q.shape}")
    mask = None
    if key_mask is not None:
        key_mask = np.asarray(key_mask)
        if key_mask.dtype != np.bool_:
            raise TypeError(f"attention: key_mask must be bool (True = keep), got dtype {key_mask.dtype}")
        if key_mask.shape != (q.shape[0], k.shape[2]):
            raise ValueError(f"attention: key_mask must have shape (B, Tk) = {(q.shape[0], k.shape[2])}, "
                             f"got {key_mask.shape}")
        mask = np.ascontiguousarray(key_mask).view(np.uint8)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)
    return np.ascontiguousarray(q), np.ascontiguousarray(k), mask, scale


def v_like(v, q, k):
    """Check v (B, H, Tk, Dv) against k and the dtype of q; return it C-contiguous."""
    check_float("v", v)
    check_same_dtype(q=q, v=v)
    if v.ndim != 4 or v.shape[:3] != k.shape[:3]:
        raise ValueError(f"attention: v must be (B, H, Tk, Dv) matching k {k.shape}, got {v.shape}")
    return np.ascontiguousarray(v)


def grad_like(name, g, like):
    """Check an upstream gradient against the forward output ``like``; return it C-contiguous."""
    check_float(name, g)
    if g.shape != like.shape or g.dtype != like.dtype:
        raise ValueError(f"{name} must have shape {like.shape} and dtype {like.dtype}, "
                         f"got {g.shape} {g.dtype}")
    return np.ascontiguousarray(g)
