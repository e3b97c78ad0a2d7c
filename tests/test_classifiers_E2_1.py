"""The fine-tuning baseline E2.1 on both backbones: GPTClassifier (head on the last real token) and
BERTClassifier ([CLS] pooler), started from a pre-trained model with ``from_model``; every gradient
against central differences in float64 (relative error <= 1e-6) for hard labels, soft targets and a
temperature (distillation); head-only gradients; the loss by hand; bad input."""

import numpy as np
import pytest

import tinyllm.kernels as kernels
from tinyllm.gradcheck import check_model, numerical_grad, rel_error
from tinyllm.models import BERT, GPT, BERTClassifier, BERTConfig, GPTClassifier, GPTConfig
from tinyllm.models.classifier import classification_loss

TOL = 1e-6
V = 13
GCFG = GPTConfig(vocab_size=V, n_layer=2, n_head=2, d_model=8, max_len=10)
BCFG = BERTConfig(vocab_size=V, n_layer=2, n_head=2, d_model=8, max_len=10)
IDX = np.random.default_rng(0).integers(0, V, (4, 6))
MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])


@pytest.fixture(autouse=True)
def reference_kernel():
    with kernels.use("numpy"):
        yield


def _gpt_clf(K=3, seed=1):
    return GPTClassifier.from_model(GPT(GCFG, seed=seed, dtype=np.float64).eval(), K, seed=seed + 1)


def _bert_clf(K=3, seed=1):
    return BERTClassifier.from_model(BERT(BCFG, seed=seed, dtype=np.float64).eval(), K, seed=seed + 1)


def _soft(B, K, seed):
    q = np.random.default_rng(seed).random((B, K))
    return q / q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("make", [_gpt_clf, _bert_clf], ids=["gpt", "bert"])
@pytest.mark.parametrize("targets, temperature", [("hard", 1.0), ("hard", 2.5), ("soft", 1.0), ("soft", 3.0)])
def test_E2_1_every_parameter_gradient(make, targets, temperature):
    clf = make()
    labels = np.array([0, 2, 1, -100]) if targets == "hard" else _soft(4, 3, seed=5)

    def f():
        return clf.loss_and_grads(IDX, labels, attention_mask=MASK, temperature=temperature)

    _, grads = f()
    assert set(grads) == set(clf.params)
    errors = check_model(f, clf.params, n_samples=4, seed=3)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("make", [_gpt_clf, _bert_clf], ids=["gpt", "bert"])
def test_E2_1_head_only_and_input_gradients(make):
    clf = make(seed=7)
    labels = _soft(4, 3, seed=8)
    head = clf.head_param_names()
    loss, g = clf.loss_and_grads(IDX, labels, attention_mask=MASK, wrt=head, temperature=2.0)
    _, full = clf.loss_and_grads(IDX, labels, attention_mask=MASK, temperature=2.0)
    assert sorted(g) == sorted(head)
    assert all(rel_error(g[k], full[k]) < 1e-12 for k in head)
    emb = clf.embed_tokens(IDX)
    _, gi = clf.loss_and_grads(None, labels, attention_mask=MASK, inputs_embeds=emb, wrt=["inputs_embeds"],
                               temperature=2.0)
    num = numerical_grad(lambda: clf.loss_and_grads(None, labels, attention_mask=MASK, inputs_embeds=emb,
                                                    wrt=["inputs_embeds"], temperature=2.0)[0], emb)
    assert rel_error(gi["inputs_embeds"], num) < TOL


def test_E2_1_gpt_head_reads_the_last_real_token():
    clf = _gpt_clf(seed=9)
    logits = clf.forward(IDX, attention_mask=MASK)
    for b, last in [(0, 5), (1, 2), (3, 4)]:               # right padding: cut after the last real token
        np.testing.assert_allclose(logits[b], clf.forward(IDX[b:b + 1, :last + 1])[0], rtol=0, atol=1e-12)
    # left padding: the padded keys are hidden, so row 2 is its real tokens alone at positions 2..5
    np.testing.assert_allclose(logits[2], clf.forward(IDX[2:3, 2:], pos_offset=2)[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(IDX, MASK), logits.argmax(-1))


def test_E2_1_loss_by_hand_soft_targets_and_temperature():
    z = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    q = np.array([[0.7, 0.1, 0.2], [0.0, 0.0, 1.0]])
    tau = 2.0
    logp = z / tau - np.log(np.exp(z / tau).sum(axis=1, keepdims=True))
    loss, dz = classification_loss(z, q, temperature=tau)
    assert abs(loss - (-(q * logp).sum(axis=1).mean() * tau ** 2)) < 1e-12
    num = numerical_grad(lambda: classification_loss(z, q, tau)[0], z)
    assert rel_error(dz, num) < TOL
    hard, _ = classification_loss(z, np.array([0, 2]), temperature=tau)   # one-hot rows: the same value
    assert abs(hard - classification_loss(z, np.array([[1.0, 0, 0], [0, 0, 1.0]]), tau)[0]) < 1e-12


def test_from_model_copies_and_leaves_the_source_alone():
    gpt = GPT(GCFG, seed=3, dtype=np.float64)
    before = {k: v.copy() for k, v in gpt.params.items()}
    clf = GPTClassifier.from_model(gpt, 2, seed=0)
    clf.params["tok_emb"][:] = 0
    assert all(np.array_equal(before[k], gpt.params[k]) for k in before)
    assert clf.dtype == np.float64 and clf.num_labels == 2
    a = GPTClassifier.from_model(gpt, 2, seed=5).params["classifier.W"]
    b = GPTClassifier.from_model(gpt, 2, seed=5).params["classifier.W"]
    np.testing.assert_array_equal(a, b)
    bert = BERT(BCFG, seed=4, dtype=np.float64)
    bclf = BERTClassifier.from_model(bert, 4, seed=1)
    np.testing.assert_array_equal(bclf.params["h.1.attn.W_Q"], bert.params["h.1.attn.W_Q"])
    assert "mlm.dense.W" not in bclf.params and bclf.params["classifier.W"].shape == (8, 4)


def test_bad_input_is_a_clear_error():
    clf = _gpt_clf()
    with pytest.raises(ValueError, match="soft targets must have shape"):
        clf.loss_and_grads(IDX, _soft(4, 2, 0))
    with pytest.raises(ValueError, match="rows of probabilities"):
        clf.loss_and_grads(IDX, np.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        clf.loss_and_grads(IDX, np.array([0, 1, 2, 0]), temperature=0)
    with pytest.raises(ValueError, match="row 1 has no real token"):
        clf.forward(IDX, attention_mask=np.array([[1] * 6, [0] * 6, [1] * 6, [1] * 6]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        clf.loss_and_grads(IDX, np.array([0, 1, 3, 0]))
    with pytest.raises(TypeError, match="from_model needs a GPT"):
        GPTClassifier.from_model(BERT(BCFG), 2)
    with pytest.raises(TypeError, match="from_model needs a BERT"):
        BERTClassifier.from_model(GPT(GCFG), 2)
    with pytest.raises(ValueError, match="num_labels must be a positive int"):
        GPTClassifier.from_model(GPT(GCFG), 0)
