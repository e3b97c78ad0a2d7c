"""The fast path of a training step: the element-wise ops of tinyllm.ops, fused in C (csrc/fused.c).

Same signatures and the same results as the NumPy reference (tests/test_fused.py checks float64 to
1e-12 and float32 to 1e-5, relative to the largest entry):

    y, cache = layernorm_forward(x, gamma, beta, eps)       S4   cache: x, mean, rstd (rows,), gamma
    dx, dgamma, dbeta = layernorm_backward(dy, cache)
    y, cache = gelu_forward(x, approximate)                 S5   cache: x (tanh or erf recomputed)
    dx = gelu_backward(dy, cache, overwrite_dy=False)
    y, cache = linear_forward(x, W, b)                      E3.1 with the bias added in place
    dx, dW, db = linear_backward(dy, cache, need_dW)
    loss, cache = cross_entropy_forward(logits, targets, ignore_index, overwrite_logits=False)  S2
    dlogits = cross_entropy_backward(dloss, cache)          written over the logits when allowed
    dW = embedding_backward(dy, cache)                      S8   the cache of tinyllm.ops.embedding

The C kernels run when the extension tinyllm._C is built and the selected attention backend is not
"numpy": ``with tinyllm.kernels.use("numpy"):`` runs the whole model on the reference, which is how
the tests and chapter 03e compare the two paths. Each cache records which path made it
(``cache["fused"]``), so a backward always matches its forward.

Numba has no counterpart here: these loops are memory-bound, and a Numba version of each would be
a third copy of the same arithmetic at the same speed as the C one (the attention kernels, which
are compute-bound, are where the backends differ).
"""

import contextlib

import numpy as np

import tinyllm.kernels as _kernels
from tinyllm import runtime
from tinyllm.ops import embedding as _embedding_ref
from tinyllm.ops import gelu as _gelu_ref
from tinyllm.ops import layernorm as _ln_ref
from tinyllm.ops import linear as _linear_ref
from tinyllm.ops import losses as _losses_ref
from tinyllm.ops._checks import check_float, check_same_dtype

try:
    from tinyllm import _C
except ImportError:   # the extension was not built: every op falls back to the reference
    _C = None
if _C is not None and not hasattr(_C, "layernorm_forward"):   # built before csrc/fused.c existed
    _C = None   # rebuild with: python setup.py build_ext --inplace


# Which weight gradients run on one BLAS thread (runtime.serial_blas), from OpenBLAS 0.3.31 with two
# threads on a busy 2-core AVX2 machine (medians of 20, N = 4096 rows; see _serial_dW).
_DW_PARALLEL_MIN = 2 ** 17      # fewer entries: one thread (S's 128 x 512: 8 ms either way)
_DW_SQUARE_PARALLEL_MIN = 2 ** 20   # a square W below this: one thread (256 x 256: 9 ms vs 100 ms)


# A product x W (or dy W^T) of at most this many multiply-adds runs on one BLAS thread: on a busy
# 2-core machine two threads made them 2-4x slower (medians of 20: (2048 x 128) @ (128 x 128) 1.3
# ms on one thread, 3.3-4.7 ms on two; the S model's tied head, 2048 x 128 x 256: 2.2-3.0 ms vs
# 4-11 ms), and even the best two-thread times were within 15% of one thread's.
_SERIAL_MATMUL_MAX = 2 ** 26


def _blas_threads(macs):
    """The BLAS thread context for a product of `macs` multiply-adds (see _SERIAL_MATMUL_MAX)."""
    return runtime.serial_blas() if macs <= _SERIAL_MATMUL_MAX else contextlib.nullcontext()


def _serial_dW(W):
    """True when dW = x^T dy should run on one BLAS thread: a small W, or a square one, for which
    OpenBLAS's threaded path waited ~6 ms per 256-row block of the inner dimension (measured: 256 x
    256, 384 x 384 and 512 x 512 took 100 ms on two threads, 9-30 ms on one; 1024 x 1024 no longer
    did). Other shapes thread well (256 x 1024: 47 ms vs 57 ms; the M model's 4096 x 256 head:
    160-190 ms vs 175-210 ms)."""
    return W.size < _DW_PARALLEL_MIN or (W.shape[0] == W.shape[1] and W.size < _DW_SQUARE_PARALLEL_MIN)


def enabled():
    """True when the fused C kernels are used: the extension is built and the current attention
    backend is not the NumPy reference."""
    return _C is not None and _kernels.current() != "numpy"


def _rows(x):
    """x (..., C) as a C-contiguous (rows, C) array (a view when x already is contiguous)."""
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1])


# ------------------------------------------------------------------ LayerNorm (S4)

def layernorm_forward(x, gamma, beta, eps=1e-5):
    """S4 over the last axis, one pass per row. x (..., C), gamma, beta (C,) -> y (..., C).

    cache (fused): x (rows, C) the input as rows, mean (rows,), rstd (rows,), gamma (C,), fused.
    """
    if not enabled():
        y, cache = _ln_ref.layernorm_forward(x, gamma, beta, eps)
        cache["fused"] = False
        return y, cache
    check_float("x", x)
    check_same_dtype(x=x, gamma=gamma, beta=beta)
    C = x.shape[-1]
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"layernorm: gamma and beta must have shape ({C},), "
                         f"got {gamma.shape} and {beta.shape}")
    x2 = _rows(x)                                             # (rows, C)
    y = np.empty_like(x2)
    mean = np.empty(x2.shape[0], x.dtype)                     # (rows,)
    rstd = np.empty(x2.shape[0], x.dtype)                     # (rows,)
    _C.layernorm_forward(x2, np.ascontiguousarray(gamma), np.ascontiguousarray(beta), y, mean, rstd,
                         float(eps))
    return y.reshape(x.shape), {"x": x2, "mean": mean, "rstd": rstd, "gamma": gamma, "fused": True}


def layernorm_backward(dy, cache):
    """Backward of S4: dx (..., C), dgamma (C,), dbeta (C,) (see tinyllm.ops.layernorm)."""
    if not cache["fused"]:
        return _ln_ref.layernorm_backward(dy, cache)
    x2 = cache["x"]
    dx = np.empty_like(x2)
    C = x2.shape[1]
    dgamma = np.zeros(C, x2.dtype)                            # stays 0 when there are no rows
    dbeta = np.zeros(C, x2.dtype)
    _C.layernorm_backward(_rows(dy), x2, cache["mean"], cache["rstd"],
                          np.ascontiguousarray(cache["gamma"]), dx, dgamma, dbeta)
    return dx.reshape(dy.shape), dgamma, dbeta


# ------------------------------------------------------------------ GELU (S5)

def gelu_forward(x, approximate="tanh"):
    """S5, "tanh" (GPT-2) or "none" (exact erf, BERT). x any shape -> y same shape.

    cache (fused): x, approximate. The backward recomputes tanh (or erf) from x.
    """
    if approximate not in ("tanh", "none"):
        raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")
    if not enabled():
        y, cache = _gelu_ref.gelu_forward(x, approximate)
        cache["fused"] = False
        return y, cache
    check_float("x", x)
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _C.gelu_forward(x.reshape(-1), y.reshape(-1), approximate == "tanh")
    return y, {"x": x, "approximate": approximate, "fused": True}


def gelu_backward(dy, cache, overwrite_dy=False):
    """Backward of S5. dy (same shape as x) -> dx; with overwrite_dy=True dx is written into dy
    (the caller promises not to use dy again: one (B, T, F) buffer fewer per layer)."""
    if not cache["fused"]:
        return _gelu_ref.gelu_backward(dy, cache)
    x = cache["x"]
    dy = np.ascontiguousarray(dy)
    dx = dy if overwrite_dy else np.empty_like(dy)
    _C.gelu_backward(x.reshape(-1), dy.reshape(-1), dx.reshape(-1), cache["approximate"] == "tanh")
    return dx


# ------------------------------------------------------------------ linear (E3.1, E3.4, S6)

def linear_forward(x, W, b=None):
    """y = x W + b with the bias added in place. x (..., C_in), W (C_in, C_out) -> y (..., C_out).
    A small product runs on one BLAS thread (_blas_threads).

    cache: x (..., C_in), W (C_in, C_out), has_b, fused (tinyllm.ops.linear's keys plus the flag).
    """
    if not enabled():
        y, cache = _linear_ref.linear_forward(x, W, b)
        cache["fused"] = False
        return y, cache
    check_float("x", x)
    check_float("W", W)
    check_same_dtype(x=x, W=W, b=b)
    if W.ndim != 2 or x.shape[-1] != W.shape[0]:
        raise ValueError(f"linear: x has last dim {x.shape[-1]} but W has shape {W.shape}; "
                         f"expected W of shape ({x.shape[-1]}, C_out)")
    if b is not None and b.shape != (W.shape[1],):
        raise ValueError(f"linear: b must have shape ({W.shape[1]},), got {b.shape}")
    x2 = x.reshape(-1, x.shape[-1])                           # (N, C_in)
    with _blas_threads(x2.shape[0] * W.size):
        y = x2 @ W                                            # (N, C_out), one BLAS call
    if b is not None:
        _C.bias_add(y, np.ascontiguousarray(b))
    return y.reshape(x.shape[:-1] + (W.shape[1],)), {"x": x, "W": W, "has_b": b is not None,
                                                      "fused": True}


def linear_backward(dy, cache, need_dW=True):
    """dx = dy W^T, dW = x^T dy, db = the column sums of dy (in C). See tinyllm.ops.linear.

    The weight gradient is a product with a long inner dimension (N = B*T rows) and a small result.
    OpenBLAS (0.3.31) with 2 threads runs it several times slower when the result has fewer rows
    than columns (measured: (128 x 2048) @ (2048 x 384) took 54 ms of CPU, the transposed product
    2 ms), so dW is computed in the orientation whose result is tall, and transposed back; and
    a small or square W's runs on one BLAS thread (_serial_dW, runtime.serial_blas), as does a
    small dx (_blas_threads, like the forward's product). A W stored transposed (the tied head's E^T, E (C_out, C_in) C-contiguous)
    gets dW in the same layout: dW^T = dy^T x, returned as its transposed view, no copy (and the
    model adds dW^T to E's gradient contiguously).
    """
    if not cache["fused"]:
        return _linear_ref.linear_backward(dy, cache, need_dW)
    x, W = cache["x"], cache["W"]
    dy2 = _rows(dy)                                           # (N, C_out)
    with _blas_threads(dy2.shape[0] * W.size):
        dx = (dy2 @ W.T).reshape(x.shape)
    if not need_dW:
        return dx, None, None
    x2 = x.reshape(-1, x.shape[-1])                           # (N, C_in)
    with runtime.serial_blas() if _serial_dW(W) else contextlib.nullcontext():
        if W.T.flags.c_contiguous and not W.flags.c_contiguous:
            dW = (dy2.T @ x2).T                               # (C_in, C_out), a view of (C_out, C_in)
        elif x2.shape[1] >= dy2.shape[1]:
            dW = x2.T @ dy2                                   # (C_in, C_out)
        else:   # the same product as (dy^T x)^T, whose result is tall (see the docstring)
            dW = np.ascontiguousarray((dy2.T @ x2).T)
    db = None
    if cache["has_b"]:
        db = np.empty(dy2.shape[1], dy2.dtype)
        _C.bias_grad(dy2, db)
    return dx, dW, db


# ------------------------------------------------------------------ AdamW (S9)

def adamw_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled=True):
    """One Adam/AdamW update of flat contiguous p, m, v (n,) from g (n,), in place, in C.
    The rule and its reference are in tinyllm.train.optim (adam_rule_fused, adam_rule)."""
    _C.adamw_step(p, g, m, v, float(lr), float(beta1), float(beta2), float(eps),
                  float(weight_decay), float(bc1), float(bc2), bool(decoupled))


# ------------------------------------------------------------------ cross-entropy (S1, S2)

def cross_entropy_forward(logits, targets, ignore_index=_losses_ref.IGNORE_INDEX,
                          overwrite_logits=False):
    """Mean NLL over the kept positions (S2), one pass per row keeping only its log-sum-exp.

    logits (..., V), targets (...) int. cache (fused): z (rows, V) the logits, y (rows,) int64,
    lse (rows,), n (kept rows), ignore_index, shape, overwrite, fused. overwrite_logits=True lets
    the backward write over the logits.
    """
    if not enabled():
        loss, cache = _losses_ref.cross_entropy_forward(logits, targets, ignore_index)
        cache["fused"] = False
        return loss, cache
    _losses_ref.check_targets(logits, targets, ignore_index)
    z = _rows(logits)                                         # (rows, V)
    y = np.ascontiguousarray(targets.reshape(-1), dtype=np.int64)   # (rows,)
    lse = np.empty(z.shape[0], z.dtype)                       # (rows,)
    total = _C.cross_entropy_forward(z, y, lse, int(ignore_index))
    n = int(np.count_nonzero(y != ignore_index))
    loss = logits.dtype.type(total / n if n else 0.0)
    return loss, {"z": z, "y": y, "lse": lse, "n": n, "ignore_index": int(ignore_index),
                  "shape": logits.shape, "overwrite": bool(overwrite_logits), "fused": True}


def cross_entropy_backward(dloss, cache):
    """d logits = dloss (softmax(z) - onehot(y)) / n on kept rows, 0 on ignored rows (S2).

    Written into the logits' own buffer when the forward allowed it (no (B, T, V) allocation).
    """
    if not cache["fused"]:
        return _losses_ref.cross_entropy_backward(dloss, cache)
    z = cache["z"]
    dz = z if cache["overwrite"] else np.empty_like(z)
    scale = float(dloss) / cache["n"] if cache["n"] else 0.0
    _C.cross_entropy_backward(z, cache["y"], cache["lse"], dz, cache["ignore_index"], scale)
    return dz.reshape(cache["shape"])


# ------------------------------------------------------------------ embedding (S8)

def embedding_backward(dy, cache):
    """Backward of a lookup (tinyllm.ops.embedding's cache): dW (V, C), row v the sum of the rows
    of dy (..., C) at the positions whose id is v, added in position order like the reference's
    np.add.at (which does the same sums several times slower). The forward, a gather, needs no
    kernel; ids were checked there."""
    ids = cache["ids"]
    if not enabled() or dy.dtype != cache["dtype"] or dy.shape[:-1] != ids.shape:
        return _embedding_ref.embedding_backward(dy, cache)
    dW = np.empty(cache["shape"], dtype=cache["dtype"])                    # (V, C)
    _C.embedding_backward(np.ascontiguousarray(ids, dtype=np.int64).reshape(-1), _rows(dy), dW)
    return dW
