"""The cython backend: the C99 kernels of csrc/ through the extension tinyllm._C.

Python checks the arguments (and copies an input whose last axis is not contiguous); C does the
loops with OpenMP, reading and writing the attention arrays through their strides.
Attention stores only the row log-sum-exp (B, H, Tq) besides its inputs and output; backward
recomputes the weights A from q, k and lse (FlashAttention on a CPU). Implements S1, E3.2, E3.3, S3.
"""

import numpy as np

from tinyllm.kernels import _validate
from tinyllm.ops import multihead as _ops_multihead

try:
    from tinyllm import _C
except ImportError as exc:  # the extension was not built
    _C = None
    _IMPORT_ERROR = exc


def check_available():
    """Raise ImportError, with the command that builds the extension, when it is missing."""
    if _C is None:
        raise ImportError(f"the C extension tinyllm._C is missing ({_IMPORT_ERROR}); "
                          "build with: pip install -e .  (or, in a checkout: python setup.py build_ext --inplace)")


def softmax_forward(x):
    """Row softmax over the last axis (S1). x (..., N) -> y (..., N), cache {"y"}."""
    check_available()
    x2 = _validate.as_rows("x", x)                      # (rows, N)
    y = np.empty_like(x2)
    _C.softmax_forward(x2, y)
    y = y.reshape(x.shape)
    return y, {"y": y}


def softmax_backward(dy, cache):
    """Backward of S1: dx = y * (dy - <dy, y>). dy (..., N) -> dx (..., N)."""
    y = cache["y"]
    dy2 = _validate.grad_like("dy", dy, y).reshape(-1, y.shape[-1])
    dx = np.empty_like(dy2)
    _C.softmax_backward(y.reshape(-1, y.shape[-1]), dy2, dx)
    return dx.reshape(y.shape)


def _alloc(shape, dtype, *dims):
    """Output buffer: np.empty, or zeros when a size is 0 (the kernel then writes nothing)."""
    return np.zeros(shape, dtype) if 0 in dims else np.empty(shape, dtype)


def matmul_softmax_forward(q, k, causal=False, key_mask=None, scale=None):
    """A = softmax(scale q k^T + mask), fused in C (E3.2, S3).

    q (B, H, Tq, D), k (B, H, Tk, D), key_mask (B, Tk) bool -> A (B, H, Tq, Tk), cache.
    """
    check_available()
    q, k, mask, scale = _validate.qk(q, k, key_mask, scale)
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    A = _alloc((B, H, Tq, Tk), q.dtype, B, H, Tq, Tk, D)
    _C.matmul_softmax_forward(q, k, mask, A, scale, bool(causal))
    return A, {"q": q, "k": k, "A": A, "scale": scale}


def matmul_softmax_backward(dA, cache):
    """Backward of the fused E3.2: dS = A (dA - <dA, A>), dq = scale dS k, dk = scale dS^T q."""
    q, k, A, scale = cache["q"], cache["k"], cache["A"], cache["scale"]
    dA = _validate.grad_like("dA", dA, A)
    dq = _alloc(q.shape, q.dtype, *A.shape)
    dk = _alloc(k.shape, k.dtype, *A.shape)
    _C.matmul_softmax_backward(q, k, A, dA, dq, dk, scale)
    return dq, dk


def attention_forward(q, k, v, causal=False, key_mask=None, scale=None):
    """softmax(scale q k^T + mask) v with key tiles and an online softmax (E3.2, E3.3, S3).

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), key_mask (B, Tk) bool
    -> out (B, H, Tq, Dv), cache holding q, k, v, out and lse (B, H, Tq); no (Tq, Tk) matrix.
    The kernel reads q, k and v through their strides: a view such as a (B, T, H, D) array seen as
    (B, H, T, D) is not copied (only one whose last axis is not contiguous is).
    """
    check_available()
    q, k, v, mask, scale = _validate.qkv_views(q, k, v, key_mask, scale)
    B, H, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    out = _alloc((B, H, Tq, Dv), q.dtype, B, H, Tq, Tk, Dv)
    lse = np.full((B, H, Tq), -np.inf, q.dtype)
    _C.attention_forward_strided(q, k, v, mask, out, lse, scale, bool(causal))
    return out, {"q": q, "k": k, "v": v, "mask": mask, "out": out, "lse": lse, "scale": scale,
                 "causal": bool(causal)}


def attention_backward(dout, cache):
    """Backward of E3.3 and E3.2, recomputing A tile by tile from q, k and lse -> dq, dk, dv."""
    q, k, v = cache["q"], cache["k"], cache["v"]
    out = cache["out"]
    dout = _validate.grad_like("dout", dout, out, contiguous=False)
    dq = _alloc(q.shape, q.dtype, *out.shape, k.shape[2])
    dk = _alloc(k.shape, k.dtype, *out.shape, k.shape[2])
    dv = _alloc(v.shape, v.dtype, *out.shape, k.shape[2])
    _C.attention_backward_strided(q, k, v, cache["mask"], out, cache["lse"], _validate.strided(dout),
                                  dq, dk, dv, cache["scale"], cache["causal"])
    return dq, dk, dv


def attention_forward_packed(qkv, n_head, causal=False, key_mask=None, scale=None):
    """tinyllm.ops.multihead.attention_forward_packed without its copies (E3.5, E3.2, E3.3, S3).

    qkv (B, T, 3C) the fused projection [Q | K | V], key_mask (B, T) bool -> out (B, T, C), the
    heads merged (Concat(head_1..h)), and the cache. The kernel reads q, k and v through their
    strides in qkv (no split copy) and writes each head's output into its columns of out (no merge
    copy); the backward writes dq, dk and dv into one (B, T, 3C) gradient the same way.
    cache: q, k, v (B, H, T, D) views of qkv, mask, out (B, H, T, D) view of the returned out, merged
    (the returned out itself), lse (B, H, T), scale, causal, n_head.
    """
    check_available()
    q, k, v = _ops_multihead.split_qkv(qkv, n_head)                  # (B, H, T, D) views
    q, k, v, mask, scale = _validate.qkv_views(q, k, v, key_mask, scale)
    B, H, T, D = q.shape
    out = np.empty((B, T, H * D), q.dtype)                           # (B, T, C)
    out_h = _ops_multihead.split_heads(out, n_head)                  # (B, H, T, D) view of out
    lse = np.full((B, H, T), -np.inf, q.dtype)
    _C.attention_forward_strided(q, k, v, mask, out_h, lse, scale, bool(causal))
    return out, {"q": q, "k": k, "v": v, "mask": mask, "out": out_h, "merged": out, "lse": lse,
                 "scale": scale, "causal": bool(causal), "n_head": n_head}


def attention_backward_packed(dout, cache):
    """Backward of attention_forward_packed: dout (B, T, C) -> dqkv (B, T, 3C) = [dQ | dK | dV],
    written by the kernel straight into its columns (E3.5, E3.3, E3.2)."""
    q, out_h = cache["q"], cache["out"]
    B, H, T, D = q.shape
    dout = _validate.grad_like("dout", dout, cache["merged"], contiguous=False)   # (B, T, C)
    dqkv = np.empty((B, T, 3 * H * D), q.dtype)                      # (B, T, 3C)
    dq, dk, dv = _ops_multihead.split_qkv(dqkv, H)                   # (B, H, T, D) views
    _C.attention_backward_strided(q, cache["k"], cache["v"], cache["mask"], out_h, cache["lse"],
                                  _validate.strided(_ops_multihead.split_heads(dout, H)),
                                  dq, dk, dv, cache["scale"], cache["causal"])
    return dqkv
