"""Scaled dot-product attention (E3.2, E3.3) with causal and key-padding masks (S3).

    A = softmax(Q K^T / sqrt(d))          (E3.2)     d = the key dimension of one head
    Attention(Q, K, V) = A V              (E3.3)

This is the NumPy reference that every kernel backend must match (docs/KERNELS.md, the kernel contract). It
keeps the full (Tq, Tk) matrix A for the backward pass; the compiled backends recompute it instead.

Masks (S3) set a score to -inf before the softmax, so its weight is exactly 0:
- causal, bottom-right aligned: query i may look at key j iff j <= i + (Tk - Tq). With Tq == Tk this
  is the usual "no peeking at the future"; with a KV cache or a learned prefix (Tk > Tq) the extra
  keys come first and every query sees them.
- key_mask (B, Tk) bool, True = keep: padding keys are hidden from every query.
A row with no visible key at all gives weights 0 and output 0 (never NaN). A NaN among a row's
visible scores (a NaN in q, or in a key that row sees) makes that whole row NaN: NaN in, NaN out.
Empty sizes (B, H, Tq, Tk, D or Dv of 0) are refused with a ValueError.
"""

import math

import numpy as np

from tinyllm.ops._checks import check_float, check_same_dtype
from tinyllm.ops.softmax import softmax_backward, softmax_forward


def attention_mask(B, Tq, Tk, causal=False, key_mask=None):
    """The boolean visibility mask of S3, broadcastable to (B, H, Tq, Tk); None when all visible."""
    allowed = None
    if causal:
        i = np.arange(Tq)[:, None]
        j = np.arange(Tk)[None, :]
        allowed = (j <= i + (Tk - Tq))[None, None]               # (1, 1, Tq, Tk)
    if key_mask is not None:
        keep = key_mask[:, None, None, :]                         # (B, 1, 1, Tk)
        allowed = keep if allowed is None else (allowed & keep)
    return allowed


def check_attention_inputs(q, k, v=None, key_mask=None):
    """Validate the attention contract's arguments (shared by every kernel backend).

    q: (B, H, Tq, D)   k: (B, H, Tk, D)   v: (B, H, Tk, Dv) or None   key_mask: (B, Tk) bool or None.
    Raises TypeError/ValueError naming the argument; returns key_mask as a bool ndarray (or None).
    """
    check_float("q", q)
    check_float("k", k)
    check_same_dtype(q=q, k=k)
    if q.ndim != 4 or k.ndim != 4:
        raise ValueError(f"attention: q and k must be (B, H, T, D), got {q.shape} and {k.shape}")
    if q.shape[:2] != k.shape[:2] or q.shape[3] != k.shape[3]:
        raise ValueError(f"attention: q {q.shape} and k {k.shape} must agree in B, H and D")
    if q.shape[3] == 0:
        raise ValueError(f"attention: the head dimension D must be at least 1, got q {q.shape}")
    if 0 in q.shape[:3] or k.shape[2] == 0:
        raise ValueError(f"attention: empty inputs are not supported; B, H, Tq and Tk must be at least 1, "
                         f"got q {q.shape} and k {k.shape}")
    if v is not None:
        check_float("v", v)
        check_same_dtype(q=q, v=v)
        if v.ndim != 4 or v.shape[:3] != k.shape[:3]:
            raise ValueError(f"attention: v must be (B, H, Tk, Dv) matching k {k.shape}, got {v.shape}")
        if v.shape[3] == 0:
            raise ValueError(f"attention: the value dimension Dv must be at least 1, got v {v.shape}")
    if key_mask is not None:
        key_mask = np.asarray(key_mask)
        if key_mask.dtype != np.bool_:
            raise TypeError(f"attention: key_mask must be bool (True = keep), got dtype {key_mask.dtype}")
        if key_mask.shape != (q.shape[0], k.shape[2]):
            raise ValueError(f"attention: key_mask must have shape (B, Tk) = {(q.shape[0], k.shape[2])}, "
                             f"got {key_mask.shape}")
    return key_mask


def matmul_softmax_forward(q, k, causal=False, key_mask=None, scale=None):
    """The attention weights A = softmax(scale * Q K^T + mask). Implements E3.2 with S3.

    q: (B, H, Tq, D)   k: (B, H, Tk, D)   key_mask: (B, Tk) bool or None   ->   A: (B, H, Tq, Tk)
    scale defaults to 1/sqrt(D). Compiled backends fuse the product, the mask and the softmax.
    cache: q, k, scale, softmax (the softmax's cache: y = A).
    """
    return _matmul_softmax(q, k, causal, check_attention_inputs(q, k, key_mask=key_mask), scale)


def _matmul_softmax(q, k, causal, key_mask, scale):
    """E3.2 on inputs already checked (attention_forward checks q, k, v together, once)."""
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    S = (q @ k.swapaxes(-1, -2)) * q.dtype.type(scale)           # (B, H, Tq, Tk) scores
    allowed = attention_mask(B, Tq, Tk, causal, key_mask)
    if allowed is not None:
        S = np.where(allowed, S, q.dtype.type(-np.inf))
    A, c_softmax = softmax_forward(S)                             # masked rows -> 0 (S1)
    return A, {"q": q, "k": k, "scale": scale, "softmax": c_softmax}


def matmul_softmax_backward(dA, cache):
    """Backward of E3.2: dS = A * (dA - <dA, A>) (S1), then dQ = scale dS K and dK = scale dS^T Q.

    dA: (B, H, Tq, Tk) -> dq (B, H, Tq, D), dk (B, H, Tk, D). Masked entries have A = 0, so dS is 0
    there and no gradient leaks through a mask.
    """
    q, k, scale = cache["q"], cache["k"], cache["scale"]
    dS = softmax_backward(dA, cache["softmax"]) * q.dtype.type(scale)  # (B, H, Tq, Tk)
    dq = dS @ k                                                   # (B, H, Tq, D)
    dk = dS.swapaxes(-1, -2) @ q                                  # (B, H, Tk, D)
    return dq, dk


def attention_forward(q, k, v, causal=False, key_mask=None, scale=None):
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V. Implements E3.2 and E3.3 with the masks of S3.

    q: (B, H, Tq, D)   k: (B, H, Tk, D)   v: (B, H, Tk, Dv)   key_mask: (B, Tk) bool, True = keep
    ->  out: (B, H, Tq, Dv); cache: A (B, H, Tq, Tk) the weights, v, and matmul_softmax (the cache
    of E3.2: q, k, scale, softmax).
    """
    key_mask = check_attention_inputs(q, k, v, key_mask)
    A, c_ms = _matmul_softmax(q, k, causal, key_mask, scale)      # (B, H, Tq, Tk)   E3.2
    out = A @ v                                                   # (B, H, Tq, Dv)   E3.3
    return out, {"A": A, "v": v, "matmul_softmax": c_ms}


def attention_backward(dout, cache):
    """Backward of E3.3 then E3.2.

    In the forward pass out = A V, so dA = dout V^T and dV = A^T dout; dA then flows back through
    the softmax and the product Q K^T (``matmul_softmax_backward``).
    dout: (B, H, Tq, Dv) -> dq (B, H, Tq, D), dk (B, H, Tk, D), dv (B, H, Tk, Dv)
    """
    A, v = cache["A"], cache["v"]
    dA = dout @ v.swapaxes(-1, -2)                # (B, H, Tq, Tk)
    dv = A.swapaxes(-1, -2) @ dout                # (B, H, Tk, Dv)
    dq, dk = matmul_softmax_backward(dA, cache["matmul_softmax"])
    return dq, dk, dv
