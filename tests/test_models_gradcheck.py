"""Whole-model gradient checks: the hand-written backward of GPT (E3.6) and BERT (E3.7) against central
differences, in float64, for EVERY parameter tensor (a few sampled entries each).

Tolerance: norm-wise relative error <= 1e-6 over the sampled entries (measured ~1e-8). The key bias
b_K has a gradient that is exactly zero in theory (it shifts every score of a row by the same amount,
which the softmax ignores, E3.2); ``rel_error`` then compares absolute values.
"""

import numpy as np
import pytest

import tinyllm.kernels as kernels
from tinyllm import BERT, BERTConfig, GPT, GPTConfig
from tinyllm.gradcheck import check_model, numerical_grad, rel_error
from tinyllm.ops.losses import causal_lm_targets

TOL = 1e-6


@pytest.fixture(autouse=True)
def reference_kernel():
    """Finite differences run the model hundreds of times on tiny shapes: use the NumPy reference
    attention (no thread start-up per call). The last test compares it with the default kernel."""
    with kernels.use("numpy"):
        yield


def _assert_small(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"


def _gpt(seed=0, **kw):
    cfg = dict(vocab_size=13, n_layer=2, n_head=2, d_model=8, max_len=10)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg), seed=seed, dtype=np.float64)


def _bert(seed=0, **kw):
    cfg = dict(vocab_size=13, n_layer=2, n_head=2, d_model=8, max_len=10, type_vocab_size=2)
    cfg.update(kw)
    return BERT(BERTConfig(**cfg), seed=seed, dtype=np.float64)


@pytest.mark.parametrize("shape, kw", [
    ((2, 7), {}),                                                    # the E3.6 setting
    ((3, 5), dict(n_layer=1, n_head=3, d_model=6, d_ff=10)),         # odd widths
    ((2, 1), dict(n_head=1)),                                        # T = 1, one head
])
def test_gpt_every_parameter_E3_6(shape, kw):
    m = _gpt(**kw)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 13, shape)
    targets = causal_lm_targets(idx)                      # E3.6: shift left, last position ignored
    if shape[1] == 1:
        targets = rng.integers(0, 13, shape)
    _, grads = m.loss_and_grads(idx, targets)
    assert set(grads) == set(m.params)
    assert all(grads[k].shape == m.params[k].shape and grads[k].dtype == np.float64 for k in grads)
    _assert_small(check_model(lambda: m.loss_and_grads(idx, targets), m.params, n_samples=5, seed=2))


def test_gpt_padding_mask_with_fully_padded_row_S3():
    m = _gpt(seed=3)
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 13, (3, 6))
    mask = np.ones((3, 6), int)
    mask[1, 4:] = 0                                       # right padding
    mask[2, :] = 0                                        # a fully padded row: zeros, never NaN
    targets = causal_lm_targets(idx)
    loss, grads = m.loss_and_grads(idx, targets, attention_mask=mask)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    _assert_small(check_model(lambda: m.loss_and_grads(idx, targets, attention_mask=mask), m.params,
                              n_samples=4, seed=5))


def test_gpt_dropout_with_fixed_masks():
    m = _gpt(seed=6, dropout=0.3).train()
    idx = np.random.default_rng(7).integers(0, 13, (2, 6))
    targets = causal_lm_targets(idx)

    def f():                                              # the same rng seed -> the same dropout masks
        return m.loss_and_grads(idx, targets, rng=np.random.default_rng(8))

    assert f()[0] != m.eval().loss_and_grads(idx, targets)[0]
    m.train()
    _assert_small(check_model(f, m.params, n_samples=4, seed=9))


def test_gpt_gradients_of_inputs_embeds_and_prefix_S12():
    """Soft prompts (inputs_embeds) and per-layer key/value prefixes (past_kv) get gradients too."""
    m = _gpt(seed=10)
    rng = np.random.default_rng(11)
    B, T, P = 2, 5, 3
    embeds = rng.standard_normal((B, T, 8)) * 0.5
    prefix = [(rng.standard_normal((B, 2, P, 4)), rng.standard_normal((B, 2, P, 4))) for _ in range(2)]
    targets = rng.integers(0, 13, (B, T))
    wrt = ["inputs_embeds", "past_kv", "h.0.attn.W_Q"]
    loss, grads = m.loss_and_grads(None, targets, inputs_embeds=embeds, past_kv=prefix, wrt=wrt)
    assert set(grads) == set(wrt)

    def f():
        return m.loss_and_grads(None, targets, inputs_embeds=embeds, past_kv=prefix, wrt=[])[0]

    assert rel_error(grads["inputs_embeds"], numerical_grad(f, embeds)) < TOL
    for layer in range(2):
        for j in range(2):
            num = numerical_grad(f, prefix[layer][j])
            assert rel_error(grads["past_kv"][layer][j], num) < TOL, (layer, j)


@pytest.mark.parametrize("kw", [{}, dict(n_layer=1, n_head=3, d_model=6, d_ff=10, activation="tanh")])
def test_bert_every_parameter_E3_7_with_padding_S3(kw):
    m = _bert(seed=12, **kw)
    rng = np.random.default_rng(13)
    idx = rng.integers(0, 13, (3, 7))
    mask = np.ones((3, 7), int)
    mask[1, 4:] = 0
    mask[2, :] = 0                                        # fully padded: its attention rows are all 0
    segments = (np.arange(7) >= 3).astype(int)[None].repeat(3, 0)
    labels = np.full((3, 7), -100)                        # E3.7: only masked positions count
    labels[0, [1, 5]] = [3, 4]
    labels[1, 2] = 7
    labels[2, 0] = 1

    def f():
        return m.loss_and_grads(idx, labels, attention_mask=mask, token_type_ids=segments)

    loss, grads = f()
    assert np.isfinite(loss) and set(grads) == set(m.params)
    _assert_small(check_model(f, m.params, n_samples=5, seed=14))


def test_bert_gradient_of_inputs_embeds():
    m = _bert(seed=15)
    rng = np.random.default_rng(16)
    embeds = rng.standard_normal((2, 4, 8))
    labels = np.array([[1, -100, 2, -100], [-100, 5, -100, -100]])
    _, grads = m.loss_and_grads(None, labels, inputs_embeds=embeds, wrt=["inputs_embeds"])
    num = numerical_grad(lambda: m.loss_and_grads(None, labels, inputs_embeds=embeds, wrt=[])[0], embeds)
    assert rel_error(grads["inputs_embeds"], num) < TOL


def test_reference_kernel_gives_the_same_gradients():
    """The default attention kernel and the NumPy reference agree on whole-model gradients."""
    m = _gpt(seed=17)
    idx = np.random.default_rng(18).integers(0, 13, (2, 6))
    targets = causal_lm_targets(idx)
    _, ref = m.loss_and_grads(idx, targets)
    with kernels.use(kernels.default()):
        _, fast = m.loss_and_grads(idx, targets)
    for k in ref:
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
