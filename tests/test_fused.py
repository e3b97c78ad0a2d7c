"""The fused C kernels (tinyllm.kernels.fused, csrc/fused.c) equal the NumPy reference (tinyllm.ops).

Equations: S4 (LayerNorm), S5 (GELU, tanh and exact), S2 with S1 (cross-entropy over a
log-softmax), S9 (Adam/AdamW), the bias of E3.1 and the embedding's backward (S8). Tolerance, stated once: the largest difference
relative to the largest reference entry is at most 1e-12 in float64 and 1e-5 in float32 (the kernels
sum rows in double and in another order, and use their own float32 exp). Sizes are odd on purpose
(vector tails, rows that do not split evenly over threads).
"""

import numpy as np
import pytest

import tinyllm.kernels as K
from tinyllm import ops
from tinyllm.kernels import fused
from tinyllm.train import optim

pytestmark = pytest.mark.skipif(not fused.enabled(), reason="the C extension tinyllm._C is not built")
RTOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
SHAPES = [(1, 1, 3), (3, 7, 5), (2, 33, 129), (5, 11, 67)]


def _close(got, ref, dtype, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype == dtype, f"{what}: dtype {got.dtype} vs {ref.dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    scale = max(float(np.max(np.abs(ref))), np.finfo(dtype).tiny) if ref.size else 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - ref))) / scale if ref.size else 0.0
    assert err <= RTOL[dtype], f"{what}: relative error {err:.3g} > {RTOL[dtype]:g}"


def _both(fn):
    """fn() on the reference and on the fused path -> (reference result, fused result)."""
    with K.use("numpy"):
        ref = fn()
    return ref, fn()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm_equals_reference(dtype, shape):
    rng = np.random.default_rng(1)
    C = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)

    def run():
        y, cache = fused.layernorm_forward(x, gamma, beta, 1e-5)
        return (y, *fused.layernorm_backward(dy, cache), cache["fused"])
    ref, got = _both(run)
    assert ref[-1] is False and got[-1] is True
    for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), got, ref):
        _close(a, b, dtype, f"layernorm {name} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_equals_reference(dtype, approximate):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((7, 131)) * 3).astype(dtype)
    x[0, :5] = [-30, -8, 0, 8, 30]                              # saturated tails, exact zero
    dy = rng.standard_normal(x.shape).astype(dtype)

    def run():
        y, cache = fused.gelu_forward(x, approximate)
        return y, fused.gelu_backward(dy.copy(), cache, overwrite_dy=True)
    ref, got = _both(run)
    _close(got[0], ref[0], dtype, f"gelu {approximate} y")
    _close(got[1], ref[1], dtype, f"gelu {approximate} dx")


def test_gelu_overwrite_writes_into_dy():
    x = np.linspace(-3, 3, 101)
    dy = np.ones_like(x)
    _, cache = fused.gelu_forward(x, "tanh")
    dx = fused.gelu_backward(dy, cache, overwrite_dy=True)
    assert dx is dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_equals_reference(dtype, with_bias):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 13, 17)).astype(dtype)
    W = rng.standard_normal((17, 29)).astype(dtype)
    b = rng.standard_normal(29).astype(dtype) if with_bias else None
    dy = rng.standard_normal((3, 13, 29)).astype(dtype)

    def run():
        y, cache = fused.linear_forward(x, W, b)
        return (y, *fused.linear_backward(dy, cache))
    ref, got = _both(run)
    for name, a, c in zip(("y", "dx", "dW", "db"), got, ref):
        if c is None:
            assert a is None, f"linear {name}: expected None without a bias"
        else:
            _close(a, c, dtype, f"linear {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C_out", [29, 7])
def test_linear_with_transposed_weight_equals_reference(dtype, C_out):
    """W = E^T, a transposed view (the tied head): dW comes back in W's layout, equal values."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 13, 17)).astype(dtype)
    E = rng.standard_normal((C_out, 17)).astype(dtype)
    dy = rng.standard_normal((3, 13, C_out)).astype(dtype)

    def run():
        y, cache = fused.linear_forward(x, E.T)
        return (y, *fused.linear_backward(dy, cache)[:2])
    ref, got = _both(run)
    for name, a, c in zip(("y", "dx", "dW"), got, ref):
        _close(a, c, dtype, f"linear {name}")
    assert got[2].T.flags.c_contiguous, "dW of a transposed W: expected W's layout"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignored", ["none", "some", "all"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_cross_entropy_equals_reference(dtype, ignored, overwrite):
    rng = np.random.default_rng(4)
    B, T, V = 3, 7, 257
    logits = (rng.standard_normal((B, T, V)) * 4).astype(dtype)
    targets = rng.integers(0, V, (B, T))
    if ignored == "some":
        targets[rng.random((B, T)) < 0.4] = ops.IGNORE_INDEX
    elif ignored == "all":
        targets[:] = ops.IGNORE_INDEX

    def run():
        z = logits.copy()
        loss, cache = fused.cross_entropy_forward(z, targets, overwrite_logits=overwrite)
        dz = fused.cross_entropy_backward(0.5, cache)
        return loss, dz, (dz.base is z or dz is z) if cache["fused"] else None
    ref, got = _both(run)
    _close(np.asarray(got[0]), np.asarray(ref[0]), dtype, "cross-entropy loss")
    _close(got[1], ref[1], dtype, "cross-entropy dlogits")
    assert got[2] == overwrite, "the backward must write over the logits exactly when allowed"


def test_cross_entropy_checks_targets_like_the_reference():
    logits = np.zeros((2, 3, 5))
    with pytest.raises(ValueError, match="targets must lie in"):
        fused.cross_entropy_forward(logits, np.full((2, 3), 5))
    with pytest.raises(ValueError, match="targets must have shape"):
        fused.cross_entropy_forward(logits, np.zeros((2, 4), int))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled, weight_decay", [(True, 0.1), (True, 0.0), (False, 0.05)])
def test_adam_rule_fused_equals_reference(dtype, decoupled, weight_decay):
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal((17, 9)).astype(dtype)
    grads = [rng.standard_normal(p0.shape).astype(dtype) for _ in range(3)]
    results = []
    for rule in (optim.adam_rule, optim.adam_rule_fused):
        p, state = p0.copy(), {}
        for t, g in enumerate(grads, start=1):
            rule(p, g, state, 1e-2, t, weight_decay=weight_decay, decoupled=decoupled)
        results.append((p, state["m"], state["v"]))
    for name, ref, got in zip(("p", "m", "v"), *results):
        _close(got, ref, dtype, f"adam {name} decoupled={decoupled}")


def test_adamw_optimizer_uses_the_fused_rule_and_matches_reference():
    rng = np.random.default_rng(6)
    params = {"h.0.attn.W_Q": rng.standard_normal((5, 5)), "h.0.attn.b_Q": rng.standard_normal(5)}
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    a = optim.AdamW({k: v.copy() for k, v in params.items()}, lr=0.1, weight_decay=0.1)
    with K.use("numpy"):
        b = optim.AdamW({k: v.copy() for k, v in params.items()}, lr=0.1, weight_decay=0.1)
        b.step(grads)
    a.step(grads)
    for k in params:
        _close(a.params[k], b.params[k], np.float64, f"AdamW {k}")


@pytest.mark.parametrize("kind", ["gpt", "bert"])
def test_model_gradients_through_the_fast_path(kind):
    """Whole-model gradient check (float64, central differences) with the fused kernels and the
    default attention backend: the fast path is differentiated correctly, not only close to the
    reference. Tolerance 1e-6 norm-wise over sampled entries, as in test_models_gradcheck."""
    from tinyllm import BERT, BERTConfig, GPT, GPTConfig
    from tinyllm.gradcheck import check_model
    from tinyllm.ops.losses import causal_lm_targets

    rng = np.random.default_rng(7)
    idx = rng.integers(0, 13, (2, 7))
    cfg = dict(vocab_size=13, n_layer=2, n_head=2, d_model=8, max_len=10)
    if kind == "gpt":
        m = GPT(GPTConfig(**cfg), seed=1, dtype=np.float64)
        targets = causal_lm_targets(idx)
    else:
        m = BERT(BERTConfig(**cfg, type_vocab_size=2), seed=1, dtype=np.float64)
        targets = np.where(rng.random(idx.shape) < 0.4, idx, ops.IGNORE_INDEX)
        targets[0, 0] = idx[0, 0]
    assert K.current() != "numpy"
    errors = check_model(lambda: m.loss_and_grads(idx, targets), m.params, n_samples=4, seed=3)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 7), (64, 300), (0,)])
def test_embedding_backward_equals_reference(dtype, shape):
    """S8's scatter-add in C: ids repeat (V = 11), rows split over threads at (64, 300) x 67."""
    rng = np.random.default_rng(5)
    W = rng.standard_normal((11, 67)).astype(dtype)
    ids = rng.integers(0, 11, shape)
    dy = rng.standard_normal(shape + (67,)).astype(dtype)

    def run():
        _, cache = ops.embedding_forward(ids, W)
        return fused.embedding_backward(dy, cache)
    ref, got = _both(run)
    _close(got, ref, dtype, "embedding dW")


def test_empty_rows_give_zero_parameter_gradients():
    """No rows (e.g. a BERT batch without a masked token): dgamma, dbeta, db are 0, never garbage."""
    x = np.zeros((0, 5))
    _, cache = fused.layernorm_forward(x, np.ones(5), np.zeros(5))
    dx, dgamma, dbeta = fused.layernorm_backward(x, cache)
    assert dx.shape == (0, 5) and not dgamma.any() and not dbeta.any()
    _, cache = fused.linear_forward(x, np.ones((5, 3)), np.ones(3))
    _, dW, db = fused.linear_backward(np.zeros((0, 3)), cache)
    assert not dW.any() and not db.any()
