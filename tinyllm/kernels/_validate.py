"""Argument checks shared by the compiled backends: same errors as tinyllm.ops, then C-contiguous
arrays, a uint8 key mask and the resolved scale, ready for a kernel."""

import math

import numpy as np

from tinyllm.ops._checks import check_float
from tinyllm.ops.attention import check_attention_inputs
from tinyllm.ops.softmax import check_rows


def as_rows(name, x):
    """Check a float array and view it as C-contiguous (rows, N) over its last axis."""
    check_float(name, x)
    check_rows(name, x)
    n = x.shape[-1]
    return np.ascontiguousarray(x).reshape(-1, n)


def _mask_and_scale(q, key_mask, scale):
    """A checked key mask as uint8 (or None) and the float scale (default 1/sqrt(D))."""
    mask = None if key_mask is None else np.ascontiguousarray(key_mask).view(np.uint8)
    return mask, 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)


def _contiguous(q, k, key_mask, scale):
    """Checked inputs -> contiguous q and k, the mask as uint8 (or None), the float scale."""
    mask, scale = _mask_and_scale(q, key_mask, scale)
    return np.ascontiguousarray(q), np.ascontiguousarray(k), mask, scale


def qk(q, k, key_mask, scale):
    """Check q (B, H, Tq, D), k (B, H, Tk, D), key_mask (B, Tk) bool with the reference's own rules;
    return contiguous copies, the mask as uint8 (or None) and the float scale (default 1/sqrt(D))."""
    return _contiguous(q, k, check_attention_inputs(q, k, key_mask=key_mask), scale)


def qkv(q, k, v, key_mask, scale):
    """Like ``qk`` with v (B, H, Tk, Dv) checked in the same pass; returns q, k, v, mask, scale."""
    q2, k2, mask, scale = _contiguous(q, k, check_attention_inputs(q, k, v, key_mask), scale)
    return q2, k2, np.ascontiguousarray(v), mask, scale


def strided(x):
    """x itself when the strided attention kernels can read it in place (last axis contiguous,
    every stride a whole number of elements; an axis of length 1 is never stepped along, so its
    stride does not count), else a C-contiguous copy."""
    item = x.itemsize
    ok = all(n == 1 or (s % item == 0 and (axis < x.ndim - 1 or s == item))
             for axis, (n, s) in enumerate(zip(x.shape, x.strides)))
    return x if ok else np.ascontiguousarray(x)


def qkv_views(q, k, v, key_mask, scale):
    """Like ``qkv`` but q, k and v stay as given when the strided kernels can read them
    (``strided``): no copy of a (B, T, H, D) layout seen as (B, H, T, D)."""
    mask, scale = _mask_and_scale(q, check_attention_inputs(q, k, v, key_mask), scale)
    return strided(q), strided(k), strided(v), mask, scale


def heads(x):
    """(B, H, T, D) -> contiguous (B*H, T, D): one row block per (batch, head) pair."""
    return np.ascontiguousarray(x).reshape(-1, x.shape[2], x.shape[3])


def keep_mask(mask, B, Tk):
    """The uint8 key mask (B, Tk) a kernel reads; all ones when there is none."""
    return np.ones((B, Tk), np.uint8) if mask is None else mask


def grad_like(name, g, like, contiguous=True):
    """Check an upstream gradient against the forward output ``like``; return it C-contiguous, or
    as it is with contiguous=False (for the strided kernels)."""
    check_float(name, g)
    if g.shape != like.shape or g.dtype != like.dtype:
        raise ValueError(f"{name} must have shape {like.shape} and dtype {like.dtype}, "
                         f"got {g.shape} {g.dtype}")
    return np.ascontiguousarray(g) if contiguous else g
