"""Every kernel backend computes the same functions as the NumPy reference (tinyllm.ops).

Equations: S1 (softmax), E3.2 (attention weights, the fused matmul-softmax), E3.3 (attention
output), S3 (causal and padding masks). Tolerances, stated once: float64 agrees to 1e-10 relative
(plus 1e-12 absolute); float32 to 1e-4 relative (plus 2e-5 absolute), since the compiled float32
kernels use their own exp and sum in a different order. Gradient checks run in float64 by central
differences and must reach a relative error below 1e-7.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinyllm.kernels as K
from tinyllm.gradcheck import check_op

CPU_BACKENDS = [b for b in ("cython", "numba") if b in K.available()]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=2e-5)}


def _close(a, b, dtype, what):
    assert a.dtype == b.dtype == dtype, f"{what}: dtype {a.dtype} vs {b.dtype}, expected {dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    assert np.all(np.isfinite(a)), f"{what}: NaN or inf"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def _inputs(rng, dtype, B, H, Tq, Tk, D, Dv, masked, strided):
    """q, k, v, dout, key_mask; masked adds padding keys and makes batch row 0 fully masked."""
    def make(T, d):
        if strided:   # a (B, T, H, d) array seen as (B, H, T, d): not C-contiguous
            return rng.standard_normal((B, T, H, d)).astype(dtype).swapaxes(1, 2)
        return rng.standard_normal((B, H, T, d)).astype(dtype)
    q, k, v, dout = make(Tq, D), make(Tk, D), make(Tk, Dv), make(Tq, Dv)
    key_mask = None
    if masked:
        key_mask = rng.random((B, Tk)) > 0.3
        key_mask[0] = False
    return q, k, v, dout, key_mask


def _compare_attention(backend, dtype, shape, causal, masked, strided, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v, dout, key_mask = _inputs(rng, dtype, *shape, masked, strided)
    results = {}
    for name in ("numpy", backend):
        with K.use(name):
            out, cache = K.attention_forward(q, k, v, causal=causal, key_mask=key_mask)
            grads = K.attention_backward(dout, cache)
            A, cache2 = K.matmul_softmax_forward(q, k, causal=causal, key_mask=key_mask)
            dA = rng.standard_normal(A.shape).astype(dtype) if name == "numpy" else results["dA"]
            ms_grads = K.matmul_softmax_backward(dA, cache2)
            results[name] = (out, *grads, A, *ms_grads)
            results["dA"] = dA
    labels = ("out E3.3", "dq", "dk", "dv", "A E3.2", "dq (matmul-softmax)", "dk (matmul-softmax)")
    for label, ref, got in zip(labels, results["numpy"], results[backend]):
        _close(got, ref, dtype, f"{backend} {label} causal={causal} masked={masked}")
    if masked:   # fully masked rows (S3): zeros, not NaN
        assert not np.any(results[backend][0][0]) and not np.any(results[backend][4][0])


shapes = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 19), st.integers(1, 19),
                   st.integers(1, 9), st.integers(1, 9))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, causal=st.booleans(), masked=st.booleans(), strided=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_attention_matches_numpy_random_shapes(backend, shape, causal, masked, strided, dtype, seed):
    """E3.2, E3.3, S3 on odd sizes, T=1, Tq != Tk, masks, strided inputs, both dtypes."""
    _compare_attention(backend, dtype, shape, causal, masked, strided, seed)


# Big enough for the parallel code paths. Numba compiles its parallel kernels once per dtype, which
# takes many seconds, so it gets float32 only (its float64 path is the same source, run serially above).
ACROSS_TILES = [(b, dt, Tq, Tk) for b in CPU_BACKENDS
                for dt in ([np.float32, np.float64] if b == "cython" else [np.float32])
                for Tq, Tk in [(130, 130), (70, 200), (200, 65)]]


@pytest.mark.parametrize("backend, dtype, Tq, Tk", ACROSS_TILES)
def test_attention_matches_numpy_across_tiles(backend, dtype, Tq, Tk):
    """Shapes that cross the 64-key tiles and the query blocks, with partial last tiles."""
    _compare_attention(backend, dtype, (2, 2, Tq, Tk, 64, 64), causal=True, masked=True,
                       strided=False)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 7), n=st.integers(1, 70), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_softmax_matches_numpy(backend, rows, n, dtype, seed):
    """S1 forward and backward, including a row that is all -inf."""
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((2, rows, n))).astype(dtype)
    x[0, 0] = -np.inf
    dy = rng.standard_normal(x.shape).astype(dtype)
    results = {}
    for name in ("numpy", backend):
        with K.use(name):
            y, cache = K.softmax_forward(x)
            results[name] = (y, K.softmax_backward(dy, cache))
    for label, ref, got in zip(("y", "dx"), results["numpy"], results[backend]):
        _close(got, ref, dtype, f"{backend} softmax {label}")
    assert not np.any(results[backend][0][0, 0])


@pytest.fixture(scope="module")
def cuda_backend():
    if "cuda" not in K.available():
        pytest.skip(f"cuda backend unavailable: {K.unavailable_reason('cuda')}")
    return "cuda"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matches_numpy_tiny(cuda_backend, dtype):
    """The CUDA kernels (on the simulator without a GPU) at shapes of a handful of blocks."""
    _compare_attention(cuda_backend, dtype, (2, 1, 3, 5, 3, 2), causal=True, masked=True,
                       strided=True)
    _compare_attention(cuda_backend, dtype, (1, 2, 4, 4, 2, 3), causal=False, masked=False,
                       strided=False)


def test_cuda_softmax_tiny(cuda_backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5))
    x[1] = -np.inf
    dy = rng.standard_normal(x.shape)
    with K.use("numpy"):
        y0, c0 = K.softmax_forward(x)
        dx0 = K.softmax_backward(dy, c0)
    with K.use(cuda_backend):
        y1, c1 = K.softmax_forward(x)
        dx1 = K.softmax_backward(dy, c1)
    _close(y1, y0, np.float64, "cuda softmax y")
    _close(dx1, dx0, np.float64, "cuda softmax dx")


def _gradcheck_backend(backend, B, H, Tq, Tk, D, everything=True):
    rng = np.random.default_rng(3)
    q, k, v, _, key_mask = _inputs(rng, np.float64, B, H, Tq, Tk, D, D, masked=True, strided=False)
    key_mask[-1, 0] = True   # keep at least one visible key in the last batch row
    with K.use(backend):
        errs = check_op(K.attention_forward, K.attention_backward, dict(q=q, k=k, v=v),
                        wrt=["q", "k", "v"], causal=True, key_mask=key_mask)
        if everything:
            errs.update({f"ms_{n}": e for n, e in check_op(
                K.matmul_softmax_forward, K.matmul_softmax_backward, dict(q=q, k=k),
                wrt=["q", "k"], causal=True, key_mask=key_mask).items()})
            errs["softmax_x"] = check_op(K.softmax_forward, K.softmax_backward, dict(x=q),
                                         wrt=["x"])["x"]
    assert max(errs.values()) < 1e-7, errs


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_backward_gradcheck_float64(backend):
    """Each backend's own backward against central differences (E3.2, E3.3, S1)."""
    _gradcheck_backend(backend, B=2, H=2, Tq=4, Tk=6, D=3)


def test_cuda_backward_gradcheck_float64(cuda_backend):
    """Attention only (each central difference is a kernel launch on the slow simulator); the
    matmul-softmax and softmax backward kernels are compared with numpy's above."""
    _gradcheck_backend(cuda_backend, B=2, H=1, Tq=2, Tk=2, D=1, everything=False)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_compiled_attention_keeps_no_score_matrix(backend):
    """The FlashAttention property: the forward cache holds nothing of size Tq x Tk."""
    rng = np.random.default_rng(0)
    q, k, v, _, _ = _inputs(rng, np.float32, 1, 2, 40, 50, 8, 8, masked=False, strided=False)
    with K.use(backend):
        _, cache = K.attention_forward(q, k, v)
    for key, value in cache.items():
        if isinstance(value, np.ndarray):
            assert value.size < 40 * 50, f"cache[{key!r}] has shape {value.shape}"


def test_available_default_and_use(monkeypatch):
    monkeypatch.delenv("TINYLLM_BACKEND", raising=False)
    names = K.available()
    assert names[0] == "numpy" and "cython" in names and "numba" in names
    assert K.default() == "cython"
    with K.use("numba"):
        assert K.current() == "numba"
        with K.use("numpy"):
            assert K.current() == "numpy"
        assert K.current() == "numba"
    assert K.current() == "cython"
    with pytest.raises(ValueError, match="backend must be one of"):
        with K.use("fortran"):
            pass


def test_env_selects_backend(monkeypatch):
    monkeypatch.setenv("TINYLLM_BACKEND", "numba")
    assert K.current() == "numba"
    monkeypatch.setenv("TINYLLM_BACKEND", "nope")
    with pytest.raises(ValueError):
        K.current()


def test_backward_goes_to_the_backend_of_the_forward():
    rng = np.random.default_rng(0)
    q, k, v, dout, _ = _inputs(rng, np.float64, 1, 2, 5, 5, 4, 4, masked=False, strided=False)
    with K.use("cython"):
        out, cache = K.attention_forward(q, k, v, causal=True)
        expected = K.attention_backward(dout, cache)
    assert cache["backend"] == "cython" and "A" not in cache
    with K.use("numpy"):   # the numpy backward could not read this cache; dispatch must not try
        got = K.attention_backward(dout, cache)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numpy"] + CPU_BACKENDS)
def test_bad_inputs_raise_clear_errors(backend):
    q = np.zeros((1, 2, 3, 4), np.float32)
    with K.use(backend):
        with pytest.raises(TypeError, match="float32 or float64"):
            K.attention_forward(q.astype(np.int64), q, q)
        with pytest.raises(TypeError, match="dtype"):
            K.attention_forward(q, q.astype(np.float64), q)
        with pytest.raises(ValueError, match="must agree"):
            K.attention_forward(q, np.zeros((1, 2, 3, 5), np.float32), q)
        with pytest.raises(ValueError, match="key_mask must have shape"):
            K.attention_forward(q, q, q, key_mask=np.ones((1, 4), bool))
        with pytest.raises(TypeError, match="key_mask must be bool"):
            K.attention_forward(q, q, q, key_mask=np.ones((1, 3), np.int32))
        with pytest.raises(TypeError, match="float32 or float64"):
            K.softmax_forward(np.arange(3))


def test_missing_extension_says_how_to_build(monkeypatch):
    import tinyllm.kernels.cython_backend as cb
    monkeypatch.setattr(cb, "_C", None)
    monkeypatch.setattr(cb, "_IMPORT_ERROR", ImportError("simulated"), raising=False)
    with pytest.raises(ImportError, match="pip install -e"):
        cb.check_available()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpt_and_bert_agree_across_backends(dtype):
    """GPT (causal, E3.6) and BERT (padding mask, E3.7) give the same loss and gradients on every
    backend; cuda joins on a smaller model because the simulator is slow."""
    from tinyllm import BERT, GPT, BERTConfig, GPTConfig
    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-5)

    def run(T, n_layer, backends):
        gpt = GPT(GPTConfig(vocab_size=23, n_layer=n_layer, n_head=2, d_model=8, max_len=T,
                            dropout=0.0), seed=0, dtype=dtype)
        bert = BERT(BERTConfig(vocab_size=23, n_layer=n_layer, n_head=2, d_model=8, max_len=T,
                               type_vocab_size=2, dropout=0.0), seed=0, dtype=dtype)
        idx = rng.integers(0, 23, size=(2, T))
        labels = np.where(rng.random((2, T)) < 0.5, idx, -100)
        attention_mask = np.ones((2, T), np.int64)
        attention_mask[1, T - 2:] = 0
        results = {}
        for name in backends:
            with K.use(name):
                results[name] = (gpt.loss_and_grads(idx[:, :-1], idx[:, 1:]),
                                 bert.loss_and_grads(idx, labels, attention_mask=attention_mask))
        for name in backends[1:]:
            for (loss_ref, g_ref), (loss, g) in zip(results["numpy"], results[name]):
                np.testing.assert_allclose(loss, loss_ref, **tol)
                for key in g_ref:
                    np.testing.assert_allclose(g[key], g_ref[key], err_msg=f"{name} {key}", **tol)

    run(T=9, n_layer=2, backends=["numpy"] + CPU_BACKENDS)
    if "cuda" in K.available():
        run(T=4, n_layer=1, backends=["numpy", "cuda"])


# ---------------------------------------------------------------- attention from a fused QKV (E3.5)

def _max_rel(got, ref):
    """The largest difference relative to the largest reference entry (the project's fast-kernel rule)."""
    return float(np.max(np.abs(got - ref))) / max(float(np.max(np.abs(ref))), 1e-300)


PACKED_SHAPES = [(2, 7, 3, 24), (1, 1, 1, 1), (2, 130, 3, 24), (3, 65, 2, 5), (1, 67, 4, 9)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B, T, H, D", PACKED_SHAPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_packed_attention_matches_numpy(dtype, B, T, H, D, causal, masked):
    """E3.5 from one (B, T, 3C) projection, heads merged: the cython kernel (reading q, k, v and
    writing out, dq, dk, dv through their strides) against split_qkv + reference + merge_heads, on
    odd sizes (T across the 64-row tiles, H = 3, D = 24), causal or not, with padding (batch row
    0 fully hidden). float64 to 1e-12 and float32 to 1e-5 relative to the largest entry."""
    rng = np.random.default_rng(B * 1000 + T * 10 + H)
    C = H * D
    qkv = rng.standard_normal((B, T, 3 * C)).astype(dtype)
    dout = rng.standard_normal((B, T, C)).astype(dtype)
    key_mask = None
    if masked:
        key_mask = rng.random((B, T)) > 0.3
        key_mask[0] = False
    results = {}
    for name in ["numpy"] + CPU_BACKENDS:   # numba runs the reference composition around its kernel
        with K.use(name):
            out, cache = K.attention_forward_packed(qkv, H, causal=causal, key_mask=key_mask)
            results[name] = (out, K.attention_backward_packed(dout, cache))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for name in CPU_BACKENDS:
        for label, ref, got in zip(("out", "dqkv"), results["numpy"], results[name]):
            assert got.dtype == ref.dtype == dtype and got.shape == ref.shape
            assert np.all(np.isfinite(got)), f"{name} {label}: NaN or inf"
            assert _max_rel(got, ref) <= tol, (name, label, _max_rel(got, ref))
    if masked:   # a row that sees no key: output 0 and no gradient (S3)
        assert not np.any(results["cython"][0][0]) and not np.any(results["cython"][1][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_kernel_is_bit_identical_to_the_contiguous_one(dtype):
    """Same arithmetic in the same order: reading a fused QKV in place changes no bit."""
    from tinyllm import _C
    from tinyllm.ops.multihead import merge_heads, split_heads, split_qkv
    rng = np.random.default_rng(3)
    B, T, H, D = 2, 70, 3, 24
    qkv = rng.standard_normal((B, T, 3 * H * D)).astype(dtype)
    dout = rng.standard_normal((B, T, H * D)).astype(dtype)
    key_mask = rng.random((B, T)) > 0.2
    with K.use("cython"):
        out, cache = K.attention_forward_packed(qkv, H, causal=True, key_mask=key_mask)
        dqkv = K.attention_backward_packed(dout, cache)
    assert np.shares_memory(cache["q"], qkv) and np.shares_memory(cache["out"], out)   # no copies
    q, k, v = (np.ascontiguousarray(a) for a in split_qkv(qkv, H))
    o = np.empty_like(q)
    lse = np.empty(q.shape[:3], dtype)
    mask, scale = key_mask.view(np.uint8), 1 / np.sqrt(D)
    _C.attention_forward(q, k, v, mask, o, lse, scale, True)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    _C.attention_backward(q, k, v, mask, o, lse, np.ascontiguousarray(split_heads(dout, H)),
                          dq, dk, dv, scale, True)
    np.testing.assert_array_equal(out, merge_heads(o))
    np.testing.assert_array_equal(dqkv, np.concatenate([merge_heads(a) for a in (dq, dk, dv)], axis=2))


@pytest.mark.parametrize("backend", ["numpy"] + CPU_BACKENDS)
def test_packed_attention_bad_inputs(backend):
    qkv = np.zeros((2, 5, 18), np.float32)
    with K.use(backend):
        with pytest.raises(ValueError, match="3C with C divisible by n_head"):
            K.attention_forward_packed(qkv, 4)
        with pytest.raises(ValueError, match=r"\(B, T, 3C\)"):
            K.attention_forward_packed(qkv[0], 3)
        with pytest.raises(ValueError, match="key_mask must have shape"):
            K.attention_forward_packed(qkv, 3, key_mask=np.ones((2, 4), bool))
        with pytest.raises(ValueError, match="empty inputs"):
            K.attention_forward_packed(np.zeros((2, 0, 18), np.float32), 3)
        with pytest.raises(TypeError, match="float32 or float64"):
            K.attention_forward_packed(qkv.astype(np.int32), 3)
        out, cache = K.attention_forward_packed(qkv, 3)
        if backend == "cython":   # the reference composition's own error comes from split_heads
            with pytest.raises(ValueError, match="dout must have shape"):
                K.attention_backward_packed(np.zeros((2, 5, 5), np.float32), cache)
