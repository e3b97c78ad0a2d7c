"""Parity with PyTorch / transformers: checkpoints written by transformers load into tinyllm and give the
same logits, loss and gradient of every parameter (torch autograd); folders written by tinyllm load in
transformers with the same logits; attention matches torch's scaled_dot_product_attention.

Tolerances (relative, max-abs over max-abs): logits <= 1e-5 in float32 and <= 1e-10 in float64;
gradients (norm-wise) <= 1e-4 in float32 and <= 1e-9 in float64.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tinyllm import BERT, BERTConfig, GPT, GPTConfig  # noqa: E402
from tinyllm.gradcheck import rel_error  # noqa: E402
from tinyllm.models import hf  # noqa: E402
from tinyllm.ops.attention import attention_backward, attention_forward  # noqa: E402
from tinyllm.ops.losses import causal_lm_targets  # noqa: E402

DTYPES = {"float32": (np.float32, torch.float32, 1e-5, 1e-4), "float64": (np.float64, torch.float64, 1e-10, 1e-9)}
V, T = 37, 9


def rel_max(a, b):
    """max |a - b| / max |b|: the relative error the issue's tolerances refer to."""
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max() / np.abs(b).max())


def _quiet_save(model, folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(folder)


def _hf_gpt(tdtype, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=16, n_embd=12, n_layer=2, n_head=3,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                  bos_token_id=0, eos_token_id=0)
    m = transformers.GPT2LMHeadModel(cfg).to(tdtype).eval()
    with torch.no_grad():                     # non-trivial LayerNorms and biases (HF initialises 1 and 0)
        for name, p in m.named_parameters():
            if name.endswith("bias") or "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    return m


def _hf_bert(tdtype, seed=0, masked_lm=True, act="gelu"):
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=V, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                                  intermediate_size=20, max_position_embeddings=16, type_vocab_size=2,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, hidden_act=act)
    cls = transformers.BertForMaskedLM if masked_lm else transformers.BertModel
    m = cls(cfg).to(tdtype).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return m


def _hf_grads(model):
    return {k: p.grad.detach().numpy() for k, p in model.named_parameters(remove_duplicate=False)
            if p.grad is not None}


def _batch(seed=0, B=3):
    """Token ids avoid 0: BERT's word embedding is nn.Embedding(padding_idx=pad_token_id=0) in
    transformers, which drops the lookup gradient of that row; tinyllm returns the true gradient."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(1, V, (B, T))
    mask = np.ones((B, T), np.int64)
    mask[1, 6:] = 0                                           # right padding
    return idx, mask


# ---------------------------------------------------------------- GPT-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpt2_checkpoint_logits_loss_and_every_gradient(dtype, tmp_path):
    np_dt, t_dt, tol, gtol = DTYPES[dtype]
    hm = _hf_gpt(t_dt)
    _quiet_save(hm, tmp_path)
    m = GPT.from_pretrained(tmp_path, dtype=np_dt)
    assert m.params["tok_emb"].dtype == np_dt and not m.training
    idx, _ = _batch()

    out = hm(torch.tensor(idx), labels=torch.tensor(idx))    # transformers shifts the labels itself (E3.6)
    # transformers computes its loss in float32 whatever the model dtype: redo it in the model's dtype
    torch_loss = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, V),
                                                   torch.tensor(idx[:, 1:]).reshape(-1))
    torch_loss.backward()
    logits = m.forward(idx)
    assert logits.dtype == np_dt
    assert rel_max(logits, out.logits.detach().numpy()) <= tol

    loss, grads = m.loss_and_grads(idx, causal_lm_targets(idx))
    assert abs(loss - torch_loss.item()) <= tol * abs(torch_loss.item())
    assert abs(loss - out.loss.item()) <= 1e-5 * abs(out.loss.item())
    ours = hf.gpt_params_to_hf(grads, m.config)               # tinyllm names -> HF names (c_attn fused)
    theirs = _hf_grads(hm)
    assert set(ours) <= set(theirs)
    for k in ours:
        assert rel_error(ours[k], theirs[k]) <= gtol, (k, rel_error(ours[k], theirs[k]))


def test_gpt2_padding_mask_matches_on_real_tokens(tmp_path):
    hm = _hf_gpt(torch.float64, seed=1)
    _quiet_save(hm, tmp_path)
    m = GPT.from_pretrained(tmp_path, dtype=np.float64)
    idx, mask = _batch(1)
    theirs = hm(torch.tensor(idx), attention_mask=torch.tensor(mask)).logits.detach().numpy()
    ours = m.forward(idx, attention_mask=mask)
    real = mask.astype(bool)
    assert rel_max(ours[real], theirs[real]) <= 1e-10


def test_gpt2model_folder_without_prefix_loads(tmp_path):
    """A GPT2Model checkpoint (no ``transformer.`` prefix, no lm_head) loads with the tied head (S8)."""
    hm = _hf_gpt(torch.float64, seed=2)
    _quiet_save(hm.transformer, tmp_path)
    m = GPT.from_pretrained(tmp_path, dtype=np.float64)
    idx, _ = _batch(2)
    assert rel_max(m.forward(idx), hm(torch.tensor(idx)).logits.detach().numpy()) <= 1e-10


@pytest.mark.parametrize("dtype", DTYPES)
def test_tinyllm_gpt_folder_loads_in_transformers(dtype, tmp_path):
    np_dt, t_dt, tol, _ = DTYPES[dtype]
    m = GPT(GPTConfig(vocab_size=V, n_layer=2, n_head=2, d_model=8, max_len=12, d_ff=24), seed=3, dtype=np_dt)
    for k in m.params:                                         # make every parameter matter
        m.params[k] += (0.1 * np.random.default_rng(4).standard_normal(m.params[k].shape)).astype(np_dt)
    m.save_pretrained(tmp_path)
    hm = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, dtype=t_dt).eval()
    idx, _ = _batch(5)
    assert rel_max(m.forward(idx), hm(torch.tensor(idx)).logits.detach().numpy()) <= tol


def test_kv_cache_matches_transformers_past_key_values(tmp_path):
    hm = _hf_gpt(torch.float64, seed=6)
    _quiet_save(hm, tmp_path)
    m = GPT.from_pretrained(tmp_path, dtype=np.float64)
    idx, _ = _batch(6)
    logits, past = m.forward_cached(idx[:, :5])
    step, _ = m.forward_cached(idx[:, 5:7], past_kv=past)
    full = hm(torch.tensor(idx[:, :7])).logits.detach().numpy()
    assert rel_max(np.concatenate([logits, step], axis=1), full) <= 1e-10


# ---------------------------------------------------------------- BERT


@pytest.mark.parametrize("dtype", DTYPES)
def test_bert_checkpoint_logits_loss_and_every_gradient(dtype, tmp_path):
    np_dt, t_dt, tol, gtol = DTYPES[dtype]
    hm = _hf_bert(t_dt)
    _quiet_save(hm, tmp_path)
    m = BERT.from_pretrained(tmp_path, dtype=np_dt)
    assert m.has_mlm_head
    idx, mask = _batch(7)
    segments = (np.arange(T) >= 4).astype(np.int64)[None].repeat(3, 0)
    labels = np.full(idx.shape, -100)                          # E3.7: a few masked positions
    labels[0, [1, 4]] = idx[0, [1, 4]]
    labels[1, 2] = idx[1, 2]
    labels[2, [0, 8]] = idx[2, [0, 8]]

    out = hm(torch.tensor(idx), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(segments),
             labels=torch.tensor(labels))
    torch_loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, V), torch.tensor(labels).reshape(-1),
                                                   ignore_index=-100)
    torch_loss.backward()
    logits = m.forward(idx, attention_mask=mask, token_type_ids=segments)
    assert rel_max(logits, out.logits.detach().numpy()) <= tol

    loss, grads = m.loss_and_grads(idx, labels, attention_mask=mask, token_type_ids=segments)
    assert abs(loss - torch_loss.item()) <= tol * abs(torch_loss.item())
    assert abs(loss - out.loss.item()) <= 1e-5 * abs(out.loss.item())
    ours = hf.bert_params_to_hf(grads, m.config, with_mlm_head=True)
    theirs = _hf_grads(hm)
    assert set(ours) <= set(theirs)
    for k in ours:
        assert rel_error(ours[k], theirs[k]) <= gtol, (k, rel_error(ours[k], theirs[k]))


def test_bert_tanh_gelu_variant(tmp_path):
    hm = _hf_bert(torch.float64, seed=8, act="gelu_new")
    _quiet_save(hm, tmp_path)
    m = BERT.from_pretrained(tmp_path, dtype=np.float64)
    assert m.config.activation == "tanh"
    idx, mask = _batch(8)
    theirs = hm(torch.tensor(idx), attention_mask=torch.tensor(mask)).logits.detach().numpy()
    assert rel_max(m.forward(idx, attention_mask=mask), theirs) <= 1e-10


def test_bertmodel_folder_loads_as_encoder(tmp_path):
    hm = _hf_bert(torch.float64, seed=9, masked_lm=False)
    _quiet_save(hm, tmp_path)
    with pytest.warns(UserWarning, match="no MLM head"):
        m = BERT.from_pretrained(tmp_path, dtype=np.float64)
    assert not m.has_mlm_head and "mlm.out_bias" not in m.params
    assert "pooler.dense.weight" in m.skipped_keys
    idx, mask = _batch(9)
    theirs = hm(torch.tensor(idx), attention_mask=torch.tensor(mask)).last_hidden_state.detach().numpy()
    assert rel_max(m.encode(idx, attention_mask=mask), theirs) <= 1e-10
    with pytest.raises(RuntimeError, match="no MLM head"):
        m.forward(idx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mlm_head", [True, False])
def test_tinyllm_bert_folder_loads_in_transformers(dtype, mlm_head, tmp_path):
    np_dt, t_dt, tol, _ = DTYPES[dtype]
    m = BERT(BERTConfig(vocab_size=V, n_layer=2, n_head=2, d_model=8, max_len=12), seed=10, dtype=np_dt,
             mlm_head=mlm_head)
    for k in m.params:
        m.params[k] += (0.1 * np.random.default_rng(11).standard_normal(m.params[k].shape)).astype(np_dt)
    m.save_pretrained(tmp_path)
    idx, mask = _batch(12)
    cls = transformers.BertForMaskedLM if mlm_head else transformers.BertModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                        # BertModel: the pooler is not saved
        hm = cls.from_pretrained(tmp_path, dtype=t_dt).eval()
    out = hm(torch.tensor(idx), attention_mask=torch.tensor(mask))
    if mlm_head:
        assert rel_max(m.forward(idx, attention_mask=mask), out.logits.detach().numpy()) <= tol
    else:
        assert rel_max(m.encode(idx, attention_mask=mask), out.last_hidden_state.detach().numpy()) <= tol


# ---------------------------------------------------------------- attention (E3.2, E3.3, S3)


def _sdpa_case(dtype, causal, with_mask, Tq, Tk, seed):
    rng = np.random.default_rng(seed)
    B, H, D = 2, 3, 5
    q, k, v = (rng.standard_normal((B, H, n, D)).astype(dtype) for n in (Tq, Tk, Tk))
    key_mask = None
    if with_mask:
        key_mask = np.ones((B, Tk), bool)
        key_mask[1, :Tk // 2] = False                         # left padding: every query still sees a key
    allowed = np.ones((B, 1, Tq, Tk), bool)
    if causal:                                                # bottom-right aligned (S3)
        allowed &= (np.arange(Tk)[None, :] <= np.arange(Tq)[:, None] + (Tk - Tq))[None, None]
    if key_mask is not None:
        allowed &= key_mask[:, None, None, :]
    return q, k, v, key_mask, allowed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal, with_mask, Tq, Tk", [
    (False, False, 6, 6), (True, False, 6, 6), (False, True, 5, 7), (True, True, 3, 7), (True, False, 1, 4)])
def test_attention_matches_torch_sdpa_E3_2_E3_3(dtype, causal, with_mask, Tq, Tk):
    import tinyllm.kernels as kernels

    q, k, v, key_mask, allowed = _sdpa_case(dtype, causal, with_mask, Tq, Tk, seed=Tq * 10 + Tk)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(allowed))
    dout = np.random.default_rng(0).standard_normal(ref.shape).astype(dtype)
    ref.backward(torch.tensor(dout))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name, (fwd, bwd) in {"numpy": (attention_forward, attention_backward),
                             "default": (kernels.attention_forward, kernels.attention_backward)}.items():
        out, cache = fwd(q, k, v, causal=causal, key_mask=key_mask)
        assert rel_max(out, ref.detach().numpy()) <= tol, name
        for mine, t in zip(bwd(dout, cache), (tq, tk, tv)):
            assert rel_max(mine, t.grad.numpy()) <= 10 * tol, name


def test_fully_masked_rows_give_zeros_where_sdpa_gives_nan():
    """S3 edge case: a query with no visible key. tinyllm returns 0 (and zero gradients); torch's
    SDPA returns NaN for that row. The other rows agree."""
    q, k, v, _, _ = _sdpa_case(np.float64, False, False, 4, 4, seed=1)
    key_mask = np.ones((2, 4), bool)
    key_mask[1] = False
    out, cache = attention_forward(q, k, v, key_mask=key_mask)
    assert np.all(out[1] == 0) and np.isfinite(out).all()
    assert all(np.all(g[1] == 0) for g in attention_backward(np.ones_like(out), cache))
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.tensor(key_mask[:, None, None, :])).numpy()
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-12)


# ---------------------------------------------------------------- classification head (E2.1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bert_sequence_classification_parity(dtype, tmp_path):
    from tinyllm.models.classifier import BERTClassifier

    np_dt, t_dt, tol, gtol = DTYPES[dtype]
    torch.manual_seed(13)
    cfg = transformers.BertConfig(vocab_size=V, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                                  intermediate_size=20, max_position_embeddings=16, num_labels=3,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hm = transformers.BertForSequenceClassification(cfg).to(t_dt).eval()
    _quiet_save(hm, tmp_path / "hf")
    clf = BERTClassifier.from_pretrained(tmp_path / "hf", dtype=np_dt)
    assert clf.num_labels == 3 and clf.initialized_keys == []
    idx, mask = _batch(13)
    labels = np.array([2, 0, 1])
    out = hm(torch.tensor(idx), attention_mask=torch.tensor(mask))
    torch_loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor(labels))
    torch_loss.backward()
    assert rel_max(clf.forward(idx, attention_mask=mask), out.logits.detach().numpy()) <= tol
    loss, grads = clf.loss_and_grads(idx, labels, attention_mask=mask)
    assert abs(loss - torch_loss.item()) <= tol * abs(torch_loss.item())
    ours = hf.bert_classifier_params_to_hf(grads, clf.config)
    theirs = _hf_grads(hm)
    assert set(ours) <= set(theirs)
    for k in ours:
        assert rel_error(ours[k], theirs[k]) <= gtol, (k, rel_error(ours[k], theirs[k]))

    clf.save_pretrained(tmp_path / "ours")                     # and back into transformers
    back = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "ours", dtype=t_dt).eval()
    assert rel_max(clf.forward(idx, attention_mask=mask),
                   back(torch.tensor(idx), attention_mask=torch.tensor(mask)).logits.detach().numpy()) <= tol
