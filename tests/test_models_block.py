"""The Transformer block (S7): pre-LN (GPT-2) and post-LN (BERT) residual blocks, gradient-checked as
one op in float64 (every parameter, the input, and the key/value prefix), and written out by hand."""

import numpy as np
import pytest

import tinyllm.kernels as kernels
from tinyllm.gradcheck import numerical_grad, rel_error
from tinyllm.models.block import block_backward, block_forward, block_param_shapes
from tinyllm.ops import ffn_forward, layernorm_forward, multihead_attention_forward

B, T, C, F, H, P = 2, 5, 6, 10, 3, 2


def _params(rng):
    p = {}
    for name, shape in block_param_shapes(C, F).items():
        p[name] = rng.standard_normal(shape) * (0.5 if len(shape) == 2 else 0.3)
        if name.endswith("gamma"):
            p[name] += 1.0
    return p


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("with_past", [False, True])
def test_block_gradients_S7(norm, with_past):
    rng = np.random.default_rng(0)
    p = _params(rng)
    x = rng.standard_normal((B, T, C))
    past = (rng.standard_normal((B, H, P, C // H)), rng.standard_normal((B, H, P, C // H))) if with_past else None
    key_mask = np.ones((B, T + (P if with_past else 0)), bool)
    key_mask[1, -2:] = False
    kw = dict(n_head=H, norm=norm, causal=norm == "pre", key_mask=key_mask, past_kv=past,
              activation="tanh" if norm == "pre" else "none")
    with kernels.use("numpy"):
        y, cache = block_forward(x, p, **kw)
        dy = rng.standard_normal(y.shape)
        dx, grads, dpast = block_backward(dy, cache)

        def f():
            return np.sum(block_forward(x, p, **kw)[0] * dy)

        assert set(grads) == set(p)
        errors = {name: rel_error(grads[name], numerical_grad(f, p[name])) for name in p}
        errors["x"] = rel_error(dx, numerical_grad(f, x))
        if with_past:
            errors["past_k"] = rel_error(dpast[0], numerical_grad(f, past[0]))
            errors["past_v"] = rel_error(dpast[1], numerical_grad(f, past[1]))
        else:
            assert dpast is None
    assert max(errors.values()) < 1e-7, errors
    assert cache["present"][0].shape == (B, H, T + (P if with_past else 0), C // H)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_block_is_the_S7_formula(norm):
    """pre-LN: x1 = x + MHA(LN_1(x)), y = x1 + FFN(LN_2(x1)); post-LN: x1 = LN_1(x + MHA(x)),
    y = LN_2(x1 + FFN(x1)) -- composed here directly from tinyllm.ops (S4, S6, E3.4)."""
    rng = np.random.default_rng(1)
    p = _params(rng)
    x = rng.standard_normal((B, T, C))
    attn = [p["attn." + n] for n in ("W_Q", "b_Q", "W_K", "b_K", "W_V", "b_V", "W_O", "b_O")]
    ffn = [p["ffn." + n] for n in ("W_1", "b_1", "W_2", "b_2")]

    def ln(z, i):
        return layernorm_forward(z, p[f"ln_{i}.gamma"], p[f"ln_{i}.beta"], 1e-5)[0]

    def mha(z):
        return multihead_attention_forward(z, *attn, H, causal=True)[0]

    if norm == "pre":
        x1 = x + mha(ln(x, 1))
        expected = x1 + ffn_forward(ln(x1, 2), *ffn)[0]
    else:
        x1 = ln(x + mha(x), 1)
        expected = ln(x1 + ffn_forward(x1, *ffn)[0], 2)
    y, _ = block_forward(x, p, H, norm=norm, causal=True)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_unknown_norm():
    with pytest.raises(ValueError, match="norm must be 'pre' or 'post'"):
        block_forward(np.zeros((1, 2, C)), _params(np.random.default_rng(2)), H, norm="sandwich")


def test_frozen_block_passes_the_same_gradient_on():
    rng = np.random.default_rng(3)
    p = _params(rng)
    x = rng.standard_normal((B, T, C))
    past = (rng.standard_normal((B, H, P, C // H)), rng.standard_normal((B, H, P, C // H)))
    for norm in ("pre", "post"):
        y, cache = block_forward(x, p, H, norm=norm, past_kv=past)
        dy = rng.standard_normal(y.shape)
        dx, grads, dpast = block_backward(dy, cache)
        dx_frozen, none, dpast_frozen = block_backward(dy, cache, need_params=False)
        assert none == {} and len(grads) == len(p)
        np.testing.assert_array_equal(dx, dx_frozen)
        np.testing.assert_array_equal(dpast[0], dpast_frozen[0])
        np.testing.assert_array_equal(dpast[1], dpast_frozen[1])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_block_packed_attention_equals_the_per_head_path(norm):
    """Without a past_kv the block runs attention_forward_packed (the cython kernel reads q, k, v
    from the fused QKV product in place); an empty past_kv takes the per-head path (split, concat,
    merge). Same y, dx and gradients: float64 to 1e-12, on the C kernels."""
    rng = np.random.default_rng(4)
    p = _params(rng)
    x = rng.standard_normal((B, T, C))
    key_mask = np.ones((B, T), bool)
    key_mask[1, -2:] = False
    empty = np.zeros((B, H, 0, C // H))
    kw = dict(n_head=H, norm=norm, causal=norm == "pre", key_mask=key_mask)
    dy = rng.standard_normal((B, T, C))
    runs = []
    for past in (None, (empty, empty)):
        y, cache = block_forward(x, p, past_kv=past, **kw)
        assert cache["attn"]["packed"] == (past is None)
        dx, grads, _ = block_backward(dy, cache)
        runs.append((y, dx, grads))
    (y0, dx0, g0), (y1, dx1, g1) = runs
    for a, b in [(y0, y1), (dx0, dx1)] + [(g0[n], g1[n]) for n in g0]:
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))
    np.testing.assert_array_equal(cache["present"][0].shape, (B, H, T, C // H))
