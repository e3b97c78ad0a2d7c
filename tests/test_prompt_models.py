"""The model layer for prompting (S12): GPT's and BERT's public forward_with_cache / backward pair,
checked against central differences in float64 for inputs_embeds, past_kv (a KV cache or a trained
prefix), the ``at=`` head, and parameters; pos_offset (a prefix takes no positions from the text);
embed_tokens and fingerprint; the errors a caller gets for bad input.

Tolerance: norm-wise relative error <= 1e-6 (measured around 1e-9).
"""

import numpy as np
import pytest

import tinyllm.kernels as kernels
from tinyllm.gradcheck import numerical_grad, rel_error
from tinyllm.models import BERT, GPT, BERTConfig, GPTConfig

TOL = 1e-6
V, L, H, C, D = 13, 2, 2, 8, 4


@pytest.fixture(autouse=True)
def reference_kernel():
    with kernels.use("numpy"):
        yield


def _gpt(seed=0, **kw):
    cfg = dict(vocab_size=V, n_layer=L, n_head=H, d_model=C, max_len=12)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg), seed=seed, dtype=np.float64).eval()


def _bert(seed=0, **kw):
    cfg = dict(vocab_size=V, n_layer=L, n_head=H, d_model=C, max_len=12, type_vocab_size=2)
    cfg.update(kw)
    return BERT(BERTConfig(**cfg), seed=seed, dtype=np.float64).eval()


def _prefix(B, P, seed):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((B, H, P, D)), rng.standard_normal((B, H, P, D))) for _ in range(L)]


def _check_against_fd(model, kwargs, wrt, seed=0, n_param=5):
    """Project the logits on a fixed random dy; compare backward(dy) with central differences of
    f = sum(logits * dy) for every wanted input (all entries) and parameter (a few entries)."""
    logits, cache = model.forward_with_cache(**kwargs)
    dy = np.random.default_rng(seed).standard_normal(logits.shape)
    grads = model.backward(dy, cache, wrt=wrt)
    assert set(grads) == set(wrt)

    def f():
        return np.sum(model.forward_with_cache(**kwargs)[0] * dy)

    errors = {}
    rng = np.random.default_rng(seed + 1)
    for name in wrt:
        if name == "inputs_embeds":
            errors[name] = rel_error(grads[name], numerical_grad(f, kwargs["inputs_embeds"]))
        elif name == "past_kv":
            for i, (k, v) in enumerate(kwargs["past_kv"]):
                errors[f"past_kv[{i}].k"] = rel_error(grads[name][i][0], numerical_grad(f, k))
                errors[f"past_kv[{i}].v"] = rel_error(grads[name][i][1], numerical_grad(f, v))
        else:
            p = model.params[name]
            idx = rng.choice(p.size, size=min(n_param, p.size), replace=False)
            num = numerical_grad(f, p, indices=idx)
            errors[name] = rel_error(grads[name].reshape(-1)[idx], num.reshape(-1)[idx])
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e} ({errors})"
    return grads


# ---------------------------------------------------------------- gradients (S12)

@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_S12_inputs_embeds_and_prefix_gradients(make):
    m = make(seed=1)
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((2, 5, C))
    mask = np.ones((2, 5), int)
    mask[1, 4:] = 0
    kw = dict(inputs_embeds=emb, past_kv=_prefix(2, 3, seed=3), attention_mask=mask)
    if make is _gpt:
        kw["pos_offset"] = 0                              # a trained prefix: the text starts at 0
    _check_against_fd(m, kw, ["inputs_embeds", "past_kv"], seed=4)


@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_S12_at_head_gradients_and_values(make):
    m = make(seed=5)
    rng = np.random.default_rng(6)
    emb = rng.standard_normal((2, 6, C))
    at = np.array([[0, 5], [1, 2], [1, 2], [0, 0]])      # a repeated pair: its gradients add
    logits, _ = m.forward_with_cache(inputs_embeds=emb, at=at)
    full, _ = m.forward_with_cache(inputs_embeds=emb)
    assert logits.shape == (4, V)
    np.testing.assert_allclose(logits, full[at[:, 0], at[:, 1]], rtol=0, atol=1e-12)
    names = ["inputs_embeds", "tok_emb", "pos_emb", "h.0.attn.W_Q", "h.1.ffn.W_2"]
    names += ["ln_f.gamma"] if make is _gpt else ["mlm.dense.W", "mlm.out_bias"]
    _check_against_fd(m, dict(inputs_embeds=emb, at=at), names, seed=7)


def test_S12_gpt_kv_cache_and_ids_gradients():
    # idx instead of embeddings: "inputs_embeds" is then the gradient of the looked-up rows E[idx]
    m = _gpt(seed=8)
    rng = np.random.default_rng(9)
    idx = rng.integers(0, V, (2, 4))
    past = _prefix(2, 3, seed=10)                          # a KV cache: positions continue at P = 3
    logits, cache = m.forward_with_cache(idx=idx, past_kv=past)
    dy = rng.standard_normal(logits.shape)
    g = m.backward(dy, cache, wrt=["inputs_embeds", "past_kv", "tok_emb"])
    emb = m.embed_tokens(idx)
    logits2, cache2 = m.forward_with_cache(inputs_embeds=emb, past_kv=past)
    np.testing.assert_allclose(logits, logits2, rtol=0, atol=1e-12)
    assert rel_error(g["inputs_embeds"], m.backward(dy, cache2, ["inputs_embeds"])["inputs_embeds"]) < 1e-12
    _check_against_fd(m, dict(inputs_embeds=emb, past_kv=past), ["inputs_embeds", "past_kv"], seed=11)


def test_S12_bert_with_token_types_and_params():
    m = _bert(seed=12)
    rng = np.random.default_rng(13)
    emb = rng.standard_normal((2, 5, C))
    tt = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    _check_against_fd(m, dict(inputs_embeds=emb, token_type_ids=tt, past_kv=_prefix(2, 2, seed=14)),
                      ["inputs_embeds", "past_kv", "seg_emb", "emb_ln.gamma", "h.0.attn.W_K"], seed=15)


@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_backward_all_params_matches_loss_and_grads(make):
    m = make(seed=16)
    idx = np.random.default_rng(17).integers(0, V, (2, 5))
    labels = np.full((2, 5), -100)
    labels[0, 1], labels[1, 3], labels[1, 0] = 4, 2, 7
    loss, grads = m.loss_and_grads(idx, labels)
    at = np.argwhere(labels != -100)
    logits, cache = m.forward_with_cache(idx=idx, at=at)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = labels[at[:, 0], at[:, 1]]
    assert abs(loss - np.mean(-np.log(p[np.arange(3), y]))) < 1e-12
    dl = p.copy()
    dl[np.arange(3), y] -= 1
    g = m.backward(dl / 3, cache)
    assert set(g) == set(m.params)
    assert max(rel_error(g[k], grads[k]) for k in g) < 1e-10


@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_frozen_model_returns_only_the_wanted_keys_and_keeps_weights(make):
    m = make(seed=18)
    before = {k: v.copy() for k, v in m.params.items()}
    emb = np.random.default_rng(19).standard_normal((1, 4, C))
    logits, cache = m.forward_with_cache(inputs_embeds=emb)
    g = m.backward(np.ones_like(logits), cache, wrt=["inputs_embeds"])
    assert list(g) == ["inputs_embeds"] and g["inputs_embeds"].shape == (1, 4, C)
    assert all(np.array_equal(before[k], m.params[k]) for k in before)


# ---------------------------------------------------------------- positions (S12, item 8)

def test_S12_prefix_with_pos_offset_0_keeps_the_text_positions():
    """With the prefix's keys masked out, a prefix run with pos_offset=0 must give exactly the logits
    of the text alone: the text keeps positions 0..T-1. Without pos_offset it is shifted by P."""
    m = _gpt(seed=20)
    idx = np.random.default_rng(21).integers(0, V, (2, 5))
    prefix = _prefix(2, 3, seed=22)
    hide = np.concatenate([np.zeros((2, 3), int), np.ones((2, 5), int)], axis=1)   # (B, P + T)
    alone = m.forward(idx)
    with_prefix = m.forward(idx, attention_mask=hide, past_kv=prefix, pos_offset=0)
    np.testing.assert_allclose(with_prefix, alone, rtol=0, atol=1e-12)
    shifted = m.forward(idx, attention_mask=hide, past_kv=prefix)                   # positions 3..7
    assert np.abs(shifted - alone).max() > 1e-3


def test_S12_decoding_after_a_prefix_equals_one_pass():
    """A prefix in the cache, then the text token by token with pos_offset = P - m: the same logits
    as one pass over the text with the prefix. Without a prefix the cache decodes as before."""
    m = _gpt(seed=23)
    idx = np.random.default_rng(24).integers(0, V, (1, 6))
    prefix = _prefix(1, 4, seed=25)
    full = m.forward(idx, past_kv=prefix, pos_offset=0)
    logits, past = m.forward_cached(idx[:, :3], past_kv=prefix, pos_offset=0)
    steps = [logits]
    for t in range(3, 6):
        logits, past = m.forward_cached(idx[:, t:t + 1], past_kv=past, pos_offset=t)
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=0, atol=1e-12)
    assert past[0][0].shape == (1, H, 4 + 6, D)
    plain = m.forward(idx)
    logits, past = m.forward_cached(idx[:, :2])
    steps = [logits]
    for t in range(2, 6):
        logits, past = m.forward_cached(idx[:, t:t + 1], past_kv=past)
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), plain, rtol=0, atol=1e-12)


def test_soft_prompt_through_forward_cached_inputs_embeds():
    m = _gpt(seed=26)
    rng = np.random.default_rng(27)
    soft = rng.standard_normal((1, 3, C))
    idx = rng.integers(0, V, (1, 4))
    emb = np.concatenate([soft, m.embed_tokens(idx)], axis=1)
    full = m.forward(inputs_embeds=emb)
    logits, past = m.forward_cached(inputs_embeds=emb[:, :5])
    step, _ = m.forward_cached(idx[:, 2:], past_kv=past)                  # positions 5, 6
    np.testing.assert_allclose(np.concatenate([logits, step], axis=1), full, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make, offset, rows", [
    (_gpt, 0, range(0, 5)), (_gpt, None, range(3, 8)), (_bert, None, range(0, 5))],
    ids=["gpt-prefix", "gpt-cache", "bert-prefix"])
def test_which_positions_the_text_takes(make, offset, rows):
    """The rows of the position table that receive a gradient are the positions the text used: a
    GPT prefix with pos_offset=0 and any BERT prefix leave the text at 0..T-1; a KV cache continues."""
    m = make(seed=28)
    idx = np.random.default_rng(29).integers(0, V, (1, 5))
    logits, cache = m.forward_with_cache(idx=idx, past_kv=_prefix(1, 3, seed=30), pos_offset=offset)
    g = m.backward(np.ones_like(logits), cache, wrt=["pos_emb"])["pos_emb"]
    assert sorted(np.flatnonzero(np.abs(g).sum(axis=1))) == list(rows)


# ---------------------------------------------------------------- embed_tokens, fingerprint

@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_embed_tokens_is_a_copy_of_the_lookup(make):
    m = make(seed=31)
    idx = np.array([[1, 2, 3]])
    e = m.embed_tokens(idx)
    np.testing.assert_array_equal(e, m.params["tok_emb"][idx])
    e[:] = 0
    assert np.abs(m.params["tok_emb"][1]).sum() > 0
    np.testing.assert_allclose(m.forward(inputs_embeds=m.embed_tokens(idx)), m.forward(idx), rtol=0, atol=1e-12)


def test_fingerprint_names_the_architecture_not_the_weights():
    a, b = _gpt(seed=0), _gpt(seed=1)
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 64
    assert _gpt(d_model=12).fingerprint() != a.fingerprint()
    assert _bert().fingerprint() != a.fingerprint()


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_bad_input_is_a_clear_error(make):
    m = make()
    idx = np.array([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"at must be an int array of \(row, time\) pairs"):
        m.forward_with_cache(idx=idx, at=np.array([1, 2]))
    with pytest.raises(ValueError, match="at: pairs must lie within"):
        m.forward_with_cache(idx=idx, at=np.array([[0, 3]]))
    with pytest.raises(TypeError, match="at must hold integer"):
        m.forward_with_cache(idx=idx, at=np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="pos_offset must be an int >= 0"):
        m.forward_with_cache(idx=idx, pos_offset=-1)
    with pytest.raises(ValueError, match="max_len=12"):
        m.forward_with_cache(idx=idx, pos_offset=10)
    with pytest.raises(ValueError, match="exactly one of idx"):
        m.forward_with_cache()
    logits, cache = m.forward_with_cache(idx=idx)
    with pytest.raises(ValueError, match="dlogits must be an array shaped like the logits"):
        m.backward(logits[:, :2], cache)
    with pytest.raises(ValueError, match='"past_kv" was asked for'):
        m.backward(logits, cache, wrt=["past_kv"])
    with pytest.raises(ValueError, match="wrt: unknown names"):
        m.backward(logits, cache, wrt=["nope"])
    with pytest.raises(TypeError, match="cache must be the second value"):
        m.backward(logits, {"x": 1})
    with pytest.raises(ValueError, match="past_kv must be a list of n_layer=2"):
        m.forward_with_cache(idx=idx, past_kv=_prefix(1, 2, 0)[:1])
