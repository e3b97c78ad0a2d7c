"""BERTClassifier, the fine-tuning baseline E2.1 (y* = argmax_y P(y | x; theta) with a task head):
gradient checks of every parameter, predictions, errors and checkpoints (no torch needed)."""

import numpy as np
import pytest

import tinyllm.kernels as kernels
from tinyllm import BERT, BERTConfig
from tinyllm.gradcheck import check_model
from tinyllm.models.classifier import BERTClassifier

CFG = BERTConfig(vocab_size=13, n_layer=2, n_head=2, d_model=8, max_len=10)
IDX = np.random.default_rng(0).integers(0, 13, (4, 6))


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_every_parameter_gradient_E2_1(dropout):
    clf = BERTClassifier(CFG.replace(dropout=dropout), num_labels=3, seed=1, dtype=np.float64)
    labels = np.array([0, 2, 1, -100])
    mask = np.ones((4, 6), int)
    mask[1, 3:] = 0
    mask[3] = 0                                            # fully padded and ignored

    def f():
        return clf.loss_and_grads(IDX, labels, attention_mask=mask, rng=np.random.default_rng(2))

    _, grads = f()
    assert set(grads) == set(clf.params)
    with kernels.use("numpy"):
        errors = check_model(f, clf.params, n_samples=5, seed=3)
    assert max(errors.values()) < 1e-6, errors


def test_predict_and_loss():
    clf = BERTClassifier(CFG, num_labels=4, seed=4, dtype=np.float64)
    logits = clf.forward(IDX)
    assert logits.shape == (4, 4)
    np.testing.assert_array_equal(clf.predict(IDX), logits.argmax(-1))
    labels = np.array([3, 0, 1, 2])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert abs(clf.loss(IDX, labels) + logp[np.arange(4), labels].mean()) < 1e-12
    with pytest.raises(ValueError, match=r"labels must have the shape of the inputs \(4,\), got \(4, 6\)"):
        clf.loss_and_grads(IDX, np.zeros((4, 6), int))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        clf.loss_and_grads(IDX, np.array([0, 1, 2, 4]))
    with pytest.raises(ValueError, match="num_labels must be a positive int"):
        BERTClassifier(CFG, num_labels=0)


def test_checkpoint_round_trip_and_start_from_an_encoder(tmp_path):
    clf = BERTClassifier(CFG, num_labels=3, seed=5, dtype=np.float64)
    clf.save_pretrained(tmp_path / "clf")
    back = BERTClassifier.from_pretrained(tmp_path / "clf", dtype=np.float64)
    assert back.num_labels == 3 and back.initialized_keys == []
    np.testing.assert_array_equal(back.forward(IDX), clf.forward(IDX))

    mlm = BERT(CFG, seed=6, dtype=np.float64)              # a pretrained masked LM as the starting point
    mlm.save_pretrained(tmp_path / "mlm")
    with pytest.warns(UserWarning, match="newly initialised"):
        start = BERTClassifier.from_pretrained(tmp_path / "mlm", num_labels=2, dtype=np.float64)
    assert start.initialized_keys == ["pooler.W", "pooler.b", "classifier.W", "classifier.b"]
    assert any(k.startswith("cls.predictions.") for k in start.skipped_keys)
    np.testing.assert_array_equal(start.encode(IDX), mlm.encode(IDX))
