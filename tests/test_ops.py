"""Gradient checks and reference checks for every op in tinyllm.ops.

Gradient checks use central differences in float64 (tinyllm.gradcheck, eps = 1e-6). For these
well-scaled inputs the relative error of a correct backward is around 1e-9; a wrong one is O(1).
TOL is the bar every check must clear.
"""

import math
import zlib

import numpy as np
import pytest

from tinyllm import ops
from tinyllm.gradcheck import check_op, numerical_grad, rel_error

TOL = 1e-7
SHAPES = [(1, 1, 3), (2, 5, 7), (3, 1, 4), (1, 9, 6)]   # (B, T, C): T=1 and odd sizes


def rng_for(*key):
    """A generator seeded from the test's parameters: stable across processes (str hash is not)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def assert_grads_ok(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"relative error of d{worst} is {errors[worst]:.2e} (> {TOL})"


# ---------------------------------------------------------------- S1 softmax / log-softmax
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_S1_gradcheck(shape):
    x = rng_for("sm", shape).standard_normal(shape)
    assert_grads_ok(check_op(ops.softmax_forward, ops.softmax_backward, {"x": x}, ["x"]))
    assert_grads_ok(check_op(ops.log_softmax_forward, ops.log_softmax_backward, {"x": x}, ["x"]))


def test_softmax_S1_is_stable_and_handles_masked_rows():
    x = np.array([[1000.0, 1001.0, 999.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 0.0]])
    y, _ = ops.softmax_forward(x)
    e = np.exp(np.array([-1.0, 0.0, -2.0]))
    np.testing.assert_allclose(y[0], e / e.sum(), rtol=1e-12)
    np.testing.assert_array_equal(y[1], 0.0)             # fully masked row: zeros, not NaN
    np.testing.assert_allclose(y[2], [0.5, 0.0, 0.5])
    logp, _ = ops.log_softmax_forward(x[:1])
    np.testing.assert_allclose(logp[0], np.log(e / e.sum()), rtol=1e-12)


# ---------------------------------------------------------------- linear (E3.1), S8, S4, S5, S6
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_E3_1_gradcheck(shape, bias):
    r = rng_for("lin", shape, bias)
    inputs = {"x": r.standard_normal(shape), "W": r.standard_normal((shape[-1], 5)),
              "b": r.standard_normal(5) if bias else None}
    wrt = ["x", "W", "b"] if bias else ["x", "W"]
    errors = check_op(ops.linear_forward, ops.linear_backward, inputs, wrt, grad_names=["x", "W", "b"])
    assert_grads_ok(errors)


def test_embedding_S8_gradcheck_with_repeated_ids():
    r = rng_for("emb")
    ids = np.array([[0, 3, 3], [1, 0, 3]])
    W = r.standard_normal((4, 5))
    y, _ = ops.embedding_forward(ids, W)
    np.testing.assert_array_equal(y[0, 1], W[3])
    dy = r.standard_normal(y.shape)
    dW = ops.embedding_backward(dy, ops.embedding_forward(ids, W)[1])
    num = numerical_grad(lambda: np.sum(ops.embedding_forward(ids, W)[0] * dy), W)
    assert rel_error(dW, num) < TOL
    np.testing.assert_allclose(dW[3], dy[0, 1] + dy[0, 2] + dy[1, 2])   # repeated ids add up


@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm_S4_gradcheck_and_definition(shape):
    r = rng_for("ln", shape)
    x, g, b = r.standard_normal(shape) * 3 + 1, r.standard_normal(shape[-1]), r.standard_normal(shape[-1])
    if shape[-1] > 1:
        assert_grads_ok(check_op(ops.layernorm_forward, ops.layernorm_backward,
                                 {"x": x, "gamma": g, "beta": b}, ["x", "gamma", "beta"]))
    y, _ = ops.layernorm_forward(x, g, b, eps=1e-5)
    ref = g * (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) + b
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_S5_gradcheck_and_definition(approximate):
    x = rng_for("gelu", approximate).standard_normal((3, 7)) * 2
    assert_grads_ok(check_op(ops.gelu_forward, ops.gelu_backward, {"x": x}, ["x"], approximate=approximate))
    y, _ = ops.gelu_forward(x, approximate)
    if approximate == "none":
        ref = np.vectorize(lambda z: 0.5 * z * (1 + math.erf(z / math.sqrt(2))))(x)
    else:
        ref = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(y, ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_ffn_S6_gradcheck(shape):
    r = rng_for("ffn", shape)
    C, F = shape[-1], 2 * shape[-1] + 1
    inputs = {"x": r.standard_normal(shape), "W_1": r.standard_normal((C, F)), "b_1": r.standard_normal(F),
              "W_2": r.standard_normal((F, C)), "b_2": r.standard_normal(C)}
    assert_grads_ok(check_op(ops.ffn_forward, ops.ffn_backward, inputs, list(inputs)))


def test_dropout_gradient_mask_and_determinism():
    x = np.ones((200, 50))
    y1, c1 = ops.dropout_forward(x, 0.25, np.random.default_rng(1))
    y2, _ = ops.dropout_forward(x, 0.25, np.random.default_rng(1))
    np.testing.assert_array_equal(y1, y2)                          # same seed, same mask
    assert abs((y1 == 0).mean() - 0.25) < 0.02                     # about p of the entries dropped
    assert abs(y1.mean() - 1.0) < 0.03                             # inverted dropout keeps the mean
    np.testing.assert_array_equal(ops.dropout_backward(np.ones_like(x), c1), y1)
    y3, _ = ops.dropout_forward(x, 0.25, None, training=False)
    assert y3 is x


# ---------------------------------------------------------------- E3.2, E3.3, S3 attention
def naive_attention(q, k, v, causal, key_mask, scale):
    """E3.2-E3.3 by loops over rows, independent of the vectorised code."""
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    out = np.zeros(q.shape[:3] + (v.shape[3],))
    for b in range(B):
        for h in range(H):
            for i in range(Tq):
                seen = [j for j in range(Tk) if (not causal or j <= i + Tk - Tq)
                        and (key_mask is None or key_mask[b, j])]
                if not seen:
                    continue
                s = np.array([scale * q[b, h, i] @ k[b, h, j] for j in seen])
                w = np.exp(s - s.max())
                w /= w.sum()
                out[b, h, i] = sum(wj * v[b, h, j] for wj, j in zip(w, seen))
    return out


ATT_CASES = [  # (B, H, Tq, Tk, D, causal, masked)
    (1, 1, 1, 1, 1, False, False), (2, 3, 5, 5, 4, True, False), (2, 2, 3, 7, 5, True, True),
    (1, 2, 6, 4, 3, True, False), (3, 1, 4, 6, 2, False, True), (2, 2, 1, 9, 3, True, True)]


@pytest.mark.parametrize("case", ATT_CASES)
def test_attention_E3_2_E3_3_S3_against_loops_and_gradcheck(case):
    B, H, Tq, Tk, D, causal, masked = case
    r = rng_for("att", case)
    q, k, v = (r.standard_normal((B, H, T, D)) for T in (Tq, Tk, Tk))
    key_mask = None
    if masked:
        key_mask = r.random((B, Tk)) > 0.4
        key_mask[0] = False                                       # a fully masked batch row
    out, cache = ops.attention_forward(q, k, v, causal=causal, key_mask=key_mask)
    np.testing.assert_allclose(out, naive_attention(q, k, v, causal, key_mask, 1 / math.sqrt(D)),
                               rtol=1e-12, atol=1e-12)
    assert not np.isnan(out).any() and not np.isnan(cache["A"]).any()
    errors = check_op(ops.attention_forward, ops.attention_backward, {"q": q, "k": k, "v": v},
                      ["q", "k", "v"], causal=causal, key_mask=key_mask)
    assert_grads_ok(errors)
    if masked:
        dq, dk, dv = ops.attention_backward(np.ones_like(out), cache)
        assert np.all(dq[0] == 0) and np.all(dk[0] == 0) and np.all(dv[0] == 0)


def test_matmul_softmax_E3_2_rows_sum_to_one_and_gradcheck():
    r = rng_for("ms")
    q, k = r.standard_normal((2, 2, 4, 3)), r.standard_normal((2, 2, 6, 3))
    A, _ = ops.matmul_softmax_forward(q, k, causal=True, scale=0.7)
    np.testing.assert_allclose(A.sum(-1), 1.0)
    assert np.all(A[..., 0, 3:] == 0)                              # query 0 sees keys 0..2 (Tk-Tq = 2)
    assert_grads_ok(check_op(ops.matmul_softmax_forward, ops.matmul_softmax_backward,
                             {"q": q, "k": k}, ["q", "k"], causal=True, scale=0.7))


def test_attention_keeps_float32():
    r = rng_for("f32")
    q = r.standard_normal((1, 2, 3, 4)).astype(np.float32)
    out, cache = ops.attention_forward(q, q, q, causal=True)
    assert out.dtype == np.float32 and cache["A"].dtype == np.float32
    assert all(g.dtype == np.float32 for g in ops.attention_backward(out, cache))


# ---------------------------------------------------------------- E3.1, E3.4, E3.5 multi-head
def mha_inputs(r, C=6):
    W = lambda: r.standard_normal((C, C)) / math.sqrt(C)
    b = lambda: r.standard_normal(C) * 0.1
    return {"W_Q": W(), "b_Q": b(), "W_K": W(), "b_K": b(), "W_V": W(), "b_V": b(), "W_O": W(), "b_O": b()}


@pytest.mark.parametrize("causal", [True, False])
def test_multihead_E3_4_E3_5_gradcheck(causal):
    r = rng_for("mha", causal)
    inputs = {"x": r.standard_normal((2, 5, 6)), **mha_inputs(r)}
    key_mask = np.array([[True] * 5, [True, True, False, True, False]])
    errors = check_op(ops.multihead_attention_forward, ops.multihead_attention_backward, inputs,
                      list(inputs), n_head=3, causal=causal, key_mask=key_mask)
    assert_grads_ok(errors)
    # the key bias has exactly zero gradient: adding q.b_K to every score of a row leaves its softmax
    # unchanged. The analytic value is zero up to round-off, far below the other gradients.
    y, cache = ops.multihead_attention_forward(**inputs, n_head=3, causal=causal, key_mask=key_mask)
    grads = ops.multihead_attention_backward(np.ones_like(y), cache)
    assert np.abs(grads["db_K"]).max() < 1e-12 * np.abs(grads["dW_K"]).max()


def test_multihead_E3_5_equals_separate_heads():
    """head_i = Attention(X W_i^Q, X W_i^K, X W_i^V) with per-head (C, D) slices of W (E3.5)."""
    r = rng_for("heads")
    x, p, H = r.standard_normal((1, 4, 6)), mha_inputs(r), 3
    y, _ = ops.multihead_attention_forward(x, **p, n_head=H)
    D = 6 // H
    heads = []
    for i in range(H):
        cols = slice(i * D, (i + 1) * D)
        Q, K, V = (x[0] @ p[f"W_{n}"][:, cols] + p[f"b_{n}"][cols] for n in "QKV")
        A = np.exp(Q @ K.T / math.sqrt(D))
        heads.append((A / A.sum(-1, keepdims=True)) @ V)
    np.testing.assert_allclose(y[0], np.concatenate(heads, -1) @ p["W_O"] + p["b_O"], rtol=1e-12)


def test_multihead_past_kv_matches_full_sequence_and_has_gradients():
    """A KV cache (past_kv) reproduces the full causal run; its gradients are checked too (S12)."""
    r = rng_for("past")
    x, p = r.standard_normal((2, 7, 6)), mha_inputs(r)
    y_full, c_full = ops.multihead_attention_forward(x, **p, n_head=2, causal=True)
    k, v = c_full["present"]
    y_tail, _ = ops.multihead_attention_forward(x[:, 4:], **p, n_head=2, causal=True,
                                                past_kv=(k[:, :, :4], v[:, :, :4]))
    np.testing.assert_allclose(y_tail, y_full[:, 4:], rtol=1e-12, atol=1e-13)

    k_past, v_past = r.standard_normal((2, 2, 3, 3)), r.standard_normal((2, 2, 3, 3))

    def fwd(x, k_past, v_past, **kw):
        return ops.multihead_attention_forward(x, **p, n_head=2, causal=True, past_kv=(k_past, v_past))

    def bwd(dy, cache):
        g = ops.multihead_attention_backward(dy, cache)
        return g["dx"], g["dpast_k"], g["dpast_v"]

    assert_grads_ok(check_op(fwd, bwd, {"x": x[:, :3].copy(), "k_past": k_past, "v_past": v_past},
                             ["x", "k_past", "v_past"]))


# ---------------------------------------------------------------- S2, E3.6, E3.7, E4.1
def test_cross_entropy_S2_gradcheck_and_ignore_index():
    r = rng_for("ce")
    logits = r.standard_normal((2, 5, 7))
    targets = r.integers(0, 7, (2, 5))
    targets[0, :2] = -100
    assert_grads_ok(check_op(ops.cross_entropy_forward, ops.cross_entropy_backward,
                             {"logits": logits, "targets": targets}, ["logits"]))
    loss, cache = ops.cross_entropy_forward(logits, targets)
    keep = targets != -100
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ref = -np.mean([lp[b, t, targets[b, t]] for b, t in zip(*np.nonzero(keep))])
    assert abs(loss - ref) < 1e-12
    assert np.all(ops.cross_entropy_backward(1.0, cache)[~keep] == 0)


def test_cross_entropy_all_ignored_is_zero():
    logits = np.zeros((1, 3, 4))
    loss, cache = ops.cross_entropy_forward(logits, np.full((1, 3), -100))
    assert loss == 0.0 and np.all(ops.cross_entropy_backward(1.0, cache) == 0)


def test_causal_lm_loss_E3_6_is_shifted_cross_entropy():
    r = rng_for("e36")
    idx = r.integers(1, 6, (2, 5))
    idx[1, 3:] = 0                                                  # padding id 0
    logits = r.standard_normal((2, 5, 6))
    loss, cache = ops.causal_lm_loss_forward(logits, idx, pad_id=0)
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    terms = [-lp[b, i - 1, idx[b, i]] for b in range(2) for i in range(1, 5) if idx[b, i] != 0]
    assert cache["rows"].size == len(terms)
    assert abs(loss - np.mean(terms)) < 1e-12                       # E3.6 sum / number of tokens


def test_masked_lm_loss_E3_7_counts_only_masked_positions():
    r = rng_for("e37")
    logits = r.standard_normal((1, 6, 5))
    labels = np.full((1, 6), -100)
    labels[0, [1, 4]] = [3, 0]
    loss, _ = ops.masked_lm_loss_forward(logits, labels)
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert abs(loss - -(lp[0, 1, 3] + lp[0, 4, 0]) / 2) < 1e-12


def test_sequence_log_likelihood_and_perplexity_E4_1():
    """E4.1: log of a product of conditional probabilities is the sum of their logs."""
    r = rng_for("e41")
    logits = r.standard_normal((2, 4, 3))
    targets = r.integers(0, 3, (2, 4))
    targets[1, 3] = -100
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ll = ops.sequence_log_likelihood(logits, targets)
    prod0 = np.prod([p[0, t, targets[0, t]] for t in range(4)])
    assert abs(ll[0] - math.log(prod0)) < 1e-12
    mean_nll, _ = ops.cross_entropy_forward(logits, targets)
    assert abs(mean_nll - (-ll.sum() / 7)) < 1e-12
    assert abs(ops.perplexity(mean_nll) - math.exp(mean_nll)) < 1e-12
    assert ops.perplexity(0.0) == 1.0
    assert abs(ops.perplexity(math.log(3)) - 3) < 1e-12             # uniform over 3 -> perplexity 3


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("call, exc, words", [
    (lambda: ops.softmax_forward([1.0, 2.0]), TypeError, "numpy.ndarray"),
    (lambda: ops.softmax_forward(np.arange(3)), TypeError, "float32 or float64"),
    (lambda: ops.linear_forward(np.ones((2, 3)), np.ones((4, 5))), ValueError, "W of shape (3, C_out)"),
    (lambda: ops.linear_forward(np.ones((2, 3)), np.ones((3, 5), np.float32)), TypeError, "share one float dtype"),
    (lambda: ops.embedding_forward(np.array([0, 5]), np.ones((5, 2))), ValueError, "[0, 5)"),
    (lambda: ops.embedding_forward(np.array([0.0]), np.ones((5, 2))), TypeError, "integers"),
    (lambda: ops.layernorm_forward(np.ones((2, 3)), np.ones(4), np.ones(4)), ValueError, "(3,)"),
    (lambda: ops.gelu_forward(np.ones(2), "fast"), ValueError, "'tanh' or 'none'"),
    (lambda: ops.dropout_forward(np.ones(2), 1.0, np.random.default_rng()), ValueError, "[0, 1)"),
    (lambda: ops.dropout_forward(np.ones(2), 0.5), TypeError, "rng"),
    (lambda: ops.attention_forward(np.ones((2, 3, 4)), np.ones((2, 3, 4)), np.ones((2, 3, 4))), ValueError, "(B, H, T, D)"),
    (lambda: ops.attention_forward(*[np.ones((1, 1, 2, 2))] * 3, key_mask=np.ones((1, 3), bool)), ValueError, "key_mask"),
    (lambda: ops.attention_forward(*[np.ones((1, 1, 2, 2))] * 3, key_mask=np.ones((1, 2))), TypeError, "bool"),
    (lambda: ops.cross_entropy_forward(np.ones((2, 3)), np.array([0, 3])), ValueError, "[0, 3)"),
    (lambda: ops.cross_entropy_forward(np.ones((2, 3)), np.array([0, 1, 2])), ValueError, "shape (2,)"),
    (lambda: ops.multihead_attention_forward(np.ones((1, 2, 6)), *[np.ones((6, 6)), np.ones(6)] * 4, n_head=4),
     ValueError, "divisible"),
])
def test_errors_name_the_problem(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)
