"""GPT and BERT behaviour beyond gradients: the KV cache, prefixes and input embeddings (S12), padding
invariance (S3), train/eval and dropout, dtypes, parameter counts, save/load round trips."""

import numpy as np
import pytest

from tinyllm import BERT, BERTConfig, GPT, GPTConfig
from tinyllm.models.gpt import gpt_param_shapes
from tinyllm.ops.losses import causal_lm_targets, cross_entropy_forward

V = 17


def _gpt(dtype=np.float64, **kw):
    cfg = dict(vocab_size=V, n_layer=2, n_head=2, d_model=12, max_len=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg), seed=0, dtype=dtype)


def _bert(dtype=np.float64, mlm_head=True, **kw):
    cfg = dict(vocab_size=V, n_layer=2, n_head=3, d_model=12, max_len=16)
    cfg.update(kw)
    return BERT(BERTConfig(**cfg), seed=0, dtype=dtype, mlm_head=mlm_head)


def _ids(shape, seed=0):
    return np.random.default_rng(seed).integers(0, V, shape)


def test_kv_cache_equals_full_forward():
    """Decoding token by token with forward_cached gives the logits of one full causal pass (S3)."""
    m = _gpt()
    idx = _ids((3, 10))
    full = m.forward(idx)
    logits, past = m.forward_cached(idx[:, :4])
    steps = [logits]
    for t in range(4, 10):
        logits, past = m.forward_cached(idx[:, t:t + 1], past_kv=past)
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-12)
    assert len(past) == 2 and past[0][0].shape == (3, 2, 10, 6)


def test_forward_cached_is_always_eval_and_restores_the_mode():
    m = _gpt(dropout=0.5).train()
    idx = _ids((1, 5))
    a, _ = m.forward_cached(idx)
    b, _ = m.forward_cached(idx)
    np.testing.assert_array_equal(a, b)
    assert m.training
    np.testing.assert_array_equal(a, m.eval().forward(idx))


def test_inputs_embeds_equal_token_lookup():
    for m in (_gpt(), _bert()):
        idx = _ids((2, 6), 1)
        np.testing.assert_allclose(m.forward(inputs_embeds=m.params["tok_emb"][idx]), m.forward(idx), rtol=1e-13)


def test_prefix_past_kv_equals_the_prefix_tokens():
    """Keys/values of a prefix given as past_kv act like the prefix tokens themselves (S12 prefixes)."""
    m = _gpt()
    idx = _ids((2, 9), 2)
    _, past = m.forward_cached(idx[:, :4])
    np.testing.assert_allclose(m.forward(idx[:, 4:], past_kv=past), m.forward(idx)[:, 4:], rtol=1e-12, atol=1e-13)
    loss_a, _ = m.loss_and_grads(idx[:, 4:], causal_lm_targets(idx)[:, 4:], past_kv=past, wrt=[])
    loss_b, _ = m.loss_and_grads(idx, np.where(np.arange(9) >= 4, causal_lm_targets(idx), -100), wrt=[])
    assert abs(loss_a - loss_b) < 1e-12


def test_bert_padding_does_not_change_real_tokens_S3():
    m = _bert()
    short = _ids((1, 5), 3)
    padded = np.concatenate([short, np.zeros((1, 4), int)], axis=1)
    mask = np.array([[1] * 5 + [0] * 4])
    np.testing.assert_allclose(m.encode(padded, attention_mask=mask)[:, :5], m.encode(short), rtol=1e-12, atol=1e-13)


def test_bert_fully_padded_row_is_finite():
    m = _bert()
    idx = _ids((2, 4), 4)
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    h = m.encode(idx, attention_mask=mask)
    assert np.isfinite(h).all()
    labels = np.array([[2, -100, -100, -100], [-100, 3, -100, -100]])
    loss, grads = m.loss_and_grads(idx, labels, attention_mask=mask)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


def test_bert_loss_on_labelled_rows_equals_full_logits_E3_7():
    m = _bert()
    idx = _ids((2, 7), 5)
    labels = np.full((2, 7), -100)
    labels[0, 3], labels[1, [0, 6]] = 4, [1, 2]
    full, _ = cross_entropy_forward(m.forward(idx), labels)
    assert abs(m.loss(idx, labels) - float(full)) < 1e-12
    no_labels = np.full((2, 7), -100)
    loss, grads = m.loss_and_grads(idx, no_labels)
    assert loss == 0.0 and all(not g.any() for g in grads.values())


@pytest.mark.parametrize("make", [_gpt, _bert])
def test_wrt_selects_gradients(make):
    m = make()
    idx = _ids((2, 5), 6)
    labels = causal_lm_targets(idx)
    _, full = m.loss_and_grads(idx, labels)
    assert set(full) == set(m.params)
    names = ["tok_emb", "h.1.attn.W_V"]
    _, some = m.loss_and_grads(idx, labels, wrt=names)
    assert set(some) == set(names)
    for k in names:
        np.testing.assert_array_equal(some[k], full[k])
    assert m.loss_and_grads(idx, labels, wrt=[])[1] == {}


@pytest.mark.parametrize("make", [_gpt, _bert])
def test_dropout_train_eval_and_reproducibility(make):
    m = make(dropout=0.2)
    idx = _ids((2, 6), 7)
    labels = causal_lm_targets(idx)
    assert m.training                                   # like PyTorch: a new model trains
    a = m.loss_and_grads(idx, labels, rng=np.random.default_rng(1))[0]
    b = m.loss_and_grads(idx, labels, rng=np.random.default_rng(1))[0]
    c = m.loss_and_grads(idx, labels, rng=np.random.default_rng(2))[0]
    assert a == b and a != c
    m.eval()
    np.testing.assert_array_equal(m.forward(idx), m.forward(idx, rng=np.random.default_rng(3)))


@pytest.mark.parametrize("make", [_gpt, _bert])
def test_dtypes_and_astype(make):
    m = make(dtype=np.float32)
    idx = _ids((1, 4), 8)
    out32 = m.forward(idx)
    assert out32.dtype == np.float32 and all(p.dtype == np.float32 for p in m.params.values())
    assert m.astype(np.float64) is m
    out64 = m.forward(idx)
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    loss, grads = m.loss_and_grads(idx, causal_lm_targets(idx))
    assert isinstance(loss, float) and all(g.dtype == np.float64 for g in grads.values())


def test_same_seed_same_model():
    a, b, c = _gpt(), _gpt(), GPT(GPTConfig(vocab_size=V, n_layer=2, n_head=2, d_model=12, max_len=16), seed=1)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["tok_emb"], c.params["tok_emb"])


def test_parameter_counts():
    """GPT-2 small has 124,439,808 parameters (tied head counted once), BERT-base as a masked LM
    (BertForMaskedLM) 109,514,298; counted from the shapes without building the models."""
    shapes = gpt_param_shapes(GPTConfig.preset("gpt2"))
    assert sum(int(np.prod(s)) for s in shapes.values()) == 124_439_808
    from tinyllm.models.bert import bert_param_shapes
    shapes = bert_param_shapes(BERTConfig.preset("bert-base"))
    assert sum(int(np.prod(s)) for s in shapes.values()) == 109_514_298
    m = _gpt()
    assert m.num_params() == sum(p.size for p in m.params.values())


def test_init_std_option():
    m = _gpt(init_std=0.02, d_model=64, n_head=4)
    assert abs(m.params["tok_emb"].std() - 0.02) < 0.003
    assert abs(m.params["h.0.attn.W_O"].std() - 0.02 / 2) < 0.002       # GPT-2: / sqrt(2 n_layer)
    w = _gpt(d_model=64, n_head=4)                                         # default: 1/sqrt(C_in)
    assert abs(w.params["h.0.ffn.W_1"].std() - 1 / 8) < 0.01
    assert abs(w.params["h.0.ffn.W_2"].std() - 1 / 16 / 2) < 0.005
    assert np.all(w.params["h.0.ln_1.gamma"] == 1) and not w.params["h.0.attn.b_Q"].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_and_load_round_trip(tmp_path, dtype):
    g = _gpt(dtype=dtype, d_ff=20)
    g.save_pretrained(tmp_path / "g")
    g2 = GPT.from_pretrained(tmp_path / "g", dtype=dtype)
    assert g2.config == g.config and not g2.training and g2.skipped_keys == []
    assert all(np.array_equal(g.params[k], g2.params[k]) for k in g.params)
    b = _bert(dtype=dtype, type_vocab_size=3)
    b.save_pretrained(tmp_path / "b")
    b2 = BERT.from_pretrained(tmp_path / "b", dtype=dtype)
    assert b2.config == b.config and b2.has_mlm_head
    assert all(np.array_equal(b.params[k], b2.params[k]) for k in b.params)


def test_encoder_only_bert_round_trip(tmp_path):
    b = _bert(mlm_head=False)
    assert "mlm.out_bias" not in b.params
    with pytest.raises(RuntimeError, match="no MLM head"):
        b.loss_and_grads(_ids((1, 3)), np.zeros((1, 3), int))
    b.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="loaded as an encoder only"):
        b2 = BERT.from_pretrained(tmp_path, dtype=np.float64)
    np.testing.assert_array_equal(b2.encode(_ids((1, 3))), b.encode(_ids((1, 3))))


def test_from_pretrained_casts_to_the_requested_dtype(tmp_path):
    _gpt(dtype=np.float64).save_pretrained(tmp_path)
    m = GPT.from_pretrained(tmp_path)                                     # float32 by default
    assert all(p.dtype == np.float32 for p in m.params.values())


def test_gpt_attention_mask_shapes_with_a_cache():
    """GPT takes attention_mask (B, T), or (B, P + T) when a cache is given; an all-ones mask is a no-op,
    and right padding never changes the real tokens' logits (causal attention, S3)."""
    m = _gpt()
    idx = _ids((2, 7), 9)
    _, past = m.forward_cached(idx[:, :3])
    ref = m.forward(idx[:, 3:], past_kv=past)
    for mask in (np.ones((2, 4), int), np.ones((2, 7), int)):
        np.testing.assert_allclose(m.forward(idx[:, 3:], past_kv=past, attention_mask=mask), ref, rtol=1e-13)
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3])
    np.testing.assert_allclose(m.forward(idx, attention_mask=mask)[1, :4], m.forward(idx[1:, :4])[0], rtol=1e-12)
    hidden = np.ones((2, 7), int)
    hidden[0, 1] = 0                                       # hide one cached key from sequence 0 only
    out = m.forward(idx[:, 3:], past_kv=past, attention_mask=hidden)
    assert not np.allclose(out[0], ref[0]) and np.allclose(out[1], ref[1], rtol=1e-13)


@pytest.mark.parametrize("make", [_gpt, _bert])
def test_frozen_backward_gives_the_same_input_gradients_S12(make):
    """With wrt naming only inputs (soft prompt / prefix, S12) or a few parameters, the weight
    gradients of frozen blocks are skipped, and what is returned equals the full backward."""
    m = make()
    rng = np.random.default_rng(10)
    embeds = rng.standard_normal((2, 5, 12))
    labels = causal_lm_targets(_ids((2, 5), 11))
    prefix = [tuple(rng.standard_normal((2, m.config.n_head, 3, 12 // m.config.n_head)) for _ in "kv")
              for _ in range(2)]
    everything = list(m.params) + ["inputs_embeds", "past_kv"]
    _, full = m.loss_and_grads(None, labels, inputs_embeds=embeds, past_kv=prefix, wrt=everything)
    for wrt in (["inputs_embeds"], ["past_kv"], ["inputs_embeds", "h.1.ffn.W_2"], ["h.0.attn.W_Q", "pos_emb"]):
        _, some = m.loss_and_grads(None, labels, inputs_embeds=embeds, past_kv=prefix, wrt=wrt)
        assert set(some) == set(wrt)
        for k in wrt:
            if k == "past_kv":
                for a, b in zip(some[k], full[k]):
                    np.testing.assert_array_equal(a[0], b[0])
                    np.testing.assert_array_equal(a[1], b[1])
            else:
                np.testing.assert_array_equal(some[k], full[k])
