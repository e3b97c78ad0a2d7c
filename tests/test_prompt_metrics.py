"""Evaluation (§3.2 step 5): evaluate (accuracy, macro-F1, confusion) and aggregate (mean ± std)."""

import math

import numpy as np
import pytest

from tinyllm.prompt.metrics import aggregate, evaluate


def test_evaluate_by_hand():
    # classes: 0, 1, 2; true 0 0 0 1 1 2; predicted 0 1 0 1 2 2
    r = evaluate([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2])
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # F1_0 = 2*2/(4+0+1) = 0.8 ; F1_1 = 2/(2+1+1) = 0.5 ; F1_2 = 2/(2+1+0) = 2/3
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["labels"] == [0, 1, 2] and r["n"] == 6 and r["n_invalid"] == 0


def test_names_none_and_label_order():
    r = evaluate(["pos", "neg", "pos", "neg"], ["pos", None, "neg", "neg"], labels=["neg", "pos"])
    assert r["accuracy"] == 0.5 and r["n_invalid"] == 1
    assert r["confusion"] == [[1, 0], [1, 1]]           # the None is in no column
    # neg: tp 1, fp 1, fn 1 (the None) -> 0.5 ; pos: tp 1, fp 0, fn 1 -> 2/3
    assert r["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    r = evaluate(np.array([1, 1]), np.array([1, 1]), labels=[0, 1])   # a class never seen: F1 0
    assert r["accuracy"] == 1.0 and r["macro_f1"] == 0.5 and r["confusion"] == [[0, 0], [0, 2]]


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference here; it comes "
                                                       "with the parity extra: pip install -e '.[parity]'")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=50)
    p = np.where(rng.random(50) < 0.6, y, rng.integers(0, 4, size=50))
    r = evaluate(y, p)
    assert r["accuracy"] == pytest.approx(sk.accuracy_score(y, p))
    assert r["macro_f1"] == pytest.approx(sk.f1_score(y, p, average="macro"))
    assert np.array_equal(r["confusion"], sk.confusion_matrix(y, p))


@pytest.mark.parametrize("y_true, y_pred, kw, err, msg", [
    ([0, 1], [0], {}, ValueError, "one prediction per example"),
    ([], [], {}, ValueError, "empty"),
    ([0, float("nan")], [0, 1], {}, ValueError, "NaN"),
    ([0, 1], [0, float("inf")], {}, ValueError, "NaN"),
    ([0, None], [0, 1], {}, ValueError, "gold label"),
    ([0, 1], [0, 2], {"labels": [0, 1]}, ValueError, "not one of labels"),
    ([0, 1], [0, 1], {"labels": [0, 0, 1]}, ValueError, "duplicate"),
    ([0, "a"], [0, "a"], {}, TypeError, "labels="),
    ("01", "01", {}, TypeError, "sequence"),
])
def test_evaluate_bad_input(y_true, y_pred, kw, err, msg):
    with pytest.raises(err, match=msg):
        evaluate(y_true, y_pred, **kw)


def test_aggregate():
    runs = [evaluate([0, 1], [0, 1]), evaluate([0, 1], [0, 0]), evaluate([0, 1, 1, 0], [0, 1, 1, 1])]
    a = aggregate(runs)
    assert a["values"] == [1.0, 0.5, 0.75] and a["n"] == 3
    assert a["mean"] == pytest.approx(0.75)
    assert a["std"] == pytest.approx(0.25)                      # ddof=1: sqrt((0.0625*2)/2)
    assert a["text"] == "0.750 ± 0.250 (n=3)"
    assert aggregate(runs, key="macro_f1")["values"][0] == 1.0
    assert aggregate([0.5, 0.7])["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    one = aggregate([0.8])
    assert one["mean"] == 0.8 and math.isnan(one["std"])        # undefined with one run


@pytest.mark.parametrize("runs, kw, err, msg", [
    ([], {}, ValueError, "empty"),
    ([0.5, float("nan")], {}, ValueError, "finite"),
    ([{"accuracy": 0.5}], {"key": "f1_macro"}, ValueError, "choose key"),
    (["0.5"], {}, TypeError, "number"),
    ([True], {}, TypeError, "number"),
    (0.5, {}, TypeError, "list"),
])
def test_aggregate_bad_input(runs, kw, err, msg):
    with pytest.raises(err, match=msg):
        aggregate(runs, **kw)
