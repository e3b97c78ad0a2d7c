"""The hot loops of attention behind one dispatch: numpy | cython | numba | cuda.

Every backend provides the same six functions with the signatures of ``tinyllm.ops``:

    y, cache = softmax_forward(x)                                   S1 (last axis)
    dx = softmax_backward(dy, cache)
    A, cache = matmul_softmax_forward(q, k, causal=False, key_mask=None, scale=None)      E3.2, S3
    dq, dk = matmul_softmax_backward(dA, cache)
    out, cache = attention_forward(q, k, v, causal=False, key_mask=None, scale=None)  E3.2, E3.3, S3
    dq, dk, dv = attention_backward(dout, cache)

and, for the models, all heads at once from a fused (B, T, 3C) projection (tinyllm.ops.multihead):

    out, cache = attention_forward_packed(qkv, n_head, causal=False, key_mask=None, scale=None)  E3.5
    dqkv = attention_backward_packed(dout, cache)          out, dout (B, T, C); dqkv (B, T, 3C)

``numpy`` is ``tinyllm.ops`` itself, the reference. ``cython`` (C99 in csrc/, OpenMP), ``numba``
(``@njit(parallel=True)``) and ``cuda`` (``numba.cuda``) compute attention FlashAttention-style:
key tiles, an online softmax, only the row log-sum-exp kept for backward.

Choosing a backend: ``with tinyllm.kernels.use("numba"): ...``, or the environment variable
``TINYLLM_BACKEND``; otherwise the default is the fastest CPU backend present, in the fixed order
cython > numba > numpy (measured by benchmarks/bench_kernels.py). Each cache records the backend that
made it, so a backward always runs on the backend of its forward, whatever is selected by then.
"""

import contextlib
import importlib
import os
import threading

_MODULES = {
    "numpy": "tinyllm.kernels.numpy_backend",
    "cython": "tinyllm.kernels.cython_backend",
    "numba": "tinyllm.kernels.numba_backend",
    "cuda": "tinyllm.kernels.cuda_backend",
}
_CPU_PREFERENCE = ("cython", "numba", "numpy")

_loaded = {}
_errors = {}
_state = threading.local()


def _load(name):
    """Import backend ``name`` once; return the module or None (the reason goes to ``_errors``)."""
    if name not in _loaded:
        try:
            module = importlib.import_module(_MODULES[name])
            module.check_available()
            _loaded[name] = module
        except Exception as exc:  # a missing compiler, driver or package: not available here
            _loaded[name] = None
            _errors[name] = f"{type(exc).__name__}: {exc}"
    return _loaded[name]


def available():
    """The backends that work in this process, e.g. ['numpy', 'cython', 'numba', 'cuda']."""
    return [name for name in _MODULES if _load(name) is not None]


def unavailable_reason(name):
    """Why backend ``name`` is not available (None when it is)."""
    _check_name(name)
    return None if _load(name) is not None else _errors.get(name)


def _check_name(name):
    if name not in _MODULES:
        raise ValueError(f"backend must be one of {list(_MODULES)}, got {name!r}")


def _require(name):
    _check_name(name)
    module = _load(name)
    if module is None:   # the reason says what to do (for cython: the build command)
        raise RuntimeError(f"tinyllm.kernels backend {name!r} is not available: {_errors.get(name)}")
    return module


def default():
    """The default backend: TINYLLM_BACKEND if set, else the first of cython, numba, numpy present."""
    env = os.environ.get("TINYLLM_BACKEND")
    if env:
        _require(env)
        return env
    return next(name for name in _CPU_PREFERENCE if _load(name) is not None)


def current():
    """The name of the backend that the module-level functions use right now."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else default()


@contextlib.contextmanager
def use(name):
    """Run the enclosed code on backend ``name`` (thread-local; nests)."""
    _require(name)
    if not hasattr(_state, "stack"):
        _state.stack = []
    _state.stack.append(name)
    try:
        yield _loaded[name]
    finally:
        _state.stack.pop()


def backend(name=None):
    """The module of backend ``name`` (default: the current one)."""
    return _require(current() if name is None else name)


def _forward(op, *args, **kwargs):
    name = current()
    out, cache = getattr(_require(name), op)(*args, **kwargs)
    cache["backend"] = name
    return out, cache


def _backward(op, dout, cache):
    return getattr(_require(cache.get("backend", "numpy")), op)(dout, cache)


def softmax_forward(x):
    """Row softmax over the last axis on the current backend (S1). x (..., N) -> y (..., N), cache."""
    return _forward("softmax_forward", x)


def softmax_backward(dy, cache):
    """Backward of S1 on the backend that made ``cache``. dy (..., N) -> dx (..., N)."""
    return _backward("softmax_backward", dy, cache)


def matmul_softmax_forward(q, k, causal=False, key_mask=None, scale=None):
    """A = softmax(scale q k^T + mask) fused (E3.2, S3). q (B,H,Tq,D), k (B,H,Tk,D) -> A (B,H,Tq,Tk)."""
    return _forward("matmul_softmax_forward", q, k, causal=causal, key_mask=key_mask, scale=scale)


def matmul_softmax_backward(dA, cache):
    """Backward of the fused E3.2 on the backend that made ``cache`` -> dq, dk."""
    return _backward("matmul_softmax_backward", dA, cache)


def attention_forward(q, k, v, causal=False, key_mask=None, scale=None):
    """Attention(Q, K, V) = softmax(scale q k^T + mask) v (E3.2, E3.3, S3) on the current backend.

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), key_mask (B, Tk) bool True = keep
    -> out (B, H, Tq, Dv), cache.
    """
    return _forward("attention_forward", q, k, v, causal=causal, key_mask=key_mask, scale=scale)


def attention_backward(dout, cache):
    """Backward of E3.3 and E3.2 on the backend that made ``cache`` -> dq, dk, dv."""
    return _backward("attention_backward", dout, cache)


def attention_forward_packed(qkv, n_head, causal=False, key_mask=None, scale=None):
    """All heads of E3.5 from one fused (B, T, 3C) projection [Q | K | V], heads merged -> out
    (B, T, C), cache, on the current backend (E3.2, E3.3, S3).

    The definition is tinyllm.ops.multihead.attention_forward_packed: split_qkv, attention_forward,
    merge_heads. A backend with its own ``attention_forward_packed`` (cython: strided kernels, no
    split or merge copy) runs that; the others run the definition around their attention_forward.
    """
    name = current()
    module = _require(name)
    if hasattr(module, "attention_forward_packed"):
        out, cache = module.attention_forward_packed(qkv, n_head, causal=causal, key_mask=key_mask,
                                                     scale=scale)
    else:
        from tinyllm.ops import multihead
        out, cache = multihead.attention_forward_packed(qkv, n_head, causal=causal, key_mask=key_mask,
                                                        scale=scale, kernel=module)
    cache["backend"] = name
    return out, cache


def attention_backward_packed(dout, cache):
    """Backward of attention_forward_packed on the backend that made ``cache``: dout (B, T, C) ->
    dqkv (B, T, 3C)."""
    module = _require(cache.get("backend", "numpy"))
    if hasattr(module, "attention_backward_packed"):
        return module.attention_backward_packed(dout, cache)
    from tinyllm.ops import multihead
    return multihead.attention_backward_packed(dout, cache)


__all__ = ["available", "backend", "current", "default", "unavailable_reason", "use",
           "softmax_forward", "softmax_backward", "matmul_softmax_forward",
           "matmul_softmax_backward", "attention_forward", "attention_backward",
           "attention_forward_packed", "attention_backward_packed"]
