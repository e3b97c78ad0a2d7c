"""Evaluation (article §3.2 step 5): accuracy, macro-F1 and the confusion matrix of one run, and
mean ± standard deviation over runs (seeds, templates), the way few-shot results must be reported
because they vary a lot from one draw of examples to the next.

    r = evaluate(y_true, y_pred)             # {"accuracy", "macro_f1", "confusion", "labels", "n", "n_invalid"}
    aggregate([r_seed0, r_seed1, ...])       # {"mean", "std", "n", "values", "text": "0.812 ± 0.031 (n=5)"}

Written out rather than taken from scikit-learn: it is a few lines, and it is part of the lesson
(the tests compare it with scikit-learn where that is installed).
"""

import math
import numbers

import numpy as np


def _as_list(values, name):
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a sequence of labels, got {type(values).__name__}")
    values = np.asarray(values, dtype=object).ravel().tolist() if isinstance(values, np.ndarray) else list(values)
    for i, v in enumerate(values):
        if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) and not math.isfinite(v):
            raise ValueError(f"{name}[{i}] is {v}; labels must be class names or indices, not NaN/inf "
                             f"(use None for a prediction that could not be parsed)")
        if isinstance(v, np.integer):
            values[i] = int(v)
    return values


def evaluate(y_true, y_pred, labels=None):
    """Accuracy, macro-F1 and the confusion matrix of predictions ``y_pred`` against ``y_true``.

    y_true   N gold labels (class indices or names)
    y_pred   N predictions; ``None`` marks one that could not be parsed (``parse_answer``): it counts
             as wrong, adds to its true class's row total for recall, and sits in no column
    labels   the K classes in the order of the matrix; default: the sorted labels that occur. Every
             gold label and every non-None prediction must be one of them.

    accuracy   = (1/N) sum_i [y_pred_i = y_true_i]
    F1_k       = 2 TP_k / (2 TP_k + FP_k + FN_k)   (0 when a class never occurs nor is predicted)
    macro_f1   = (1/K) sum_k F1_k
    confusion  (K, K) list of lists: confusion[a][b] = how many of class labels[a] were predicted labels[b]
    """
    y_true = _as_list(y_true, "y_true")
    y_pred = _as_list(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred: one prediction per example is needed, got {len(y_true)} "
                         f"labels and {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("y_true: no examples to evaluate (empty)")
    if any(t is None for t in y_true):
        raise ValueError(f"y_true[{y_true.index(None)}] is None; every example needs its gold label")
    if labels is None:
        try:
            labels = sorted(set(y_true) | {p for p in y_pred if p is not None})
        except TypeError:
            raise TypeError("y_true/y_pred mix label types that cannot be sorted (e.g. ints and strs); "
                            "pass labels= to fix the order") from None
    else:
        labels = _as_list(labels, "labels")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels: {labels} has a duplicate")
    if not labels:
        raise ValueError("labels: expected at least one class")
    pos = {lab: k for k, lab in enumerate(labels)}
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        bad = [v for v in values if v is not None and v not in pos]
        if bad:
            raise ValueError(f"{name}: {bad[0]!r} is not one of labels {labels}; add it to labels, or use None "
                             f"for a prediction that could not be parsed")
    K = len(labels)
    confusion = np.zeros((K, K), dtype=np.int64)             # (K, K) rows: true, columns: predicted
    support = np.zeros(K, dtype=np.int64)                    # (K,) examples of each true class
    for t, p in zip(y_true, y_pred):
        support[pos[t]] += 1
        if p is not None:
            confusion[pos[t], pos[p]] += 1
    tp = np.diag(confusion)                                   # (K,)
    fp = confusion.sum(axis=0) - tp                           # predicted k, was not k
    fn = support - tp                                         # was k, not predicted k (None included)
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)   # (K,)
    n = len(y_true)
    return {"accuracy": float(tp.sum() / n), "macro_f1": float(f1.mean()), "f1": f1.tolist(),
            "confusion": confusion.tolist(), "labels": labels, "n": n,
            "n_invalid": sum(p is None for p in y_pred)}


def aggregate(runs, key="accuracy"):
    """Mean ± standard deviation (ddof=1, the sample standard deviation) of ``key`` over runs.

    runs  a list of numbers, or of dicts (e.g. ``evaluate`` results, one per seed) holding ``key``
    Returns {"mean", "std", "n", "values", "text"}; ``values`` are the per-run numbers in order;
    with a single run the standard deviation is undefined and ``std`` is NaN.
    """
    if isinstance(runs, (str, bytes, dict)) or not hasattr(runs, "__iter__"):
        raise TypeError(f"runs: expected a list of numbers or of result dicts, got {type(runs).__name__}")
    values = []
    for i, r in enumerate(runs):
        if isinstance(r, dict):
            if key not in r:
                raise ValueError(f"runs[{i}] has no {key!r}; it has {sorted(r)} (choose key=)")
            r = r[key]
        if isinstance(r, bool) or not isinstance(r, numbers.Real):
            raise TypeError(f"runs[{i}]: expected a number, got {type(r).__name__}")
        if not math.isfinite(r):
            raise ValueError(f"runs[{i}] is {r}; every run needs a finite {key}")
        values.append(float(r))
    if not values:
        raise ValueError("runs: no runs to aggregate (empty)")
    a = np.asarray(values)
    std = float(a.std(ddof=1)) if len(a) > 1 else math.nan
    mean = float(a.mean())
    return {"mean": mean, "std": std, "n": len(a), "values": values,
            "text": f"{mean:.3f} ± {std:.3f} (n={len(a)})"}
