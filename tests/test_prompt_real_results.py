"""scripts/prompt_real_results.py: the mr2 summary (best method per K against the majority baseline
and LM-BFF's figures) is computed from the rows, never typed in; and the committed grid agrees with it."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("prompt_real_results", ROOT / "scripts" / "prompt_real_results.py")
PRR = importlib.util.module_from_spec(spec)
spec.loader.exec_module(PRR)

HEAD = {"cloze": {"all": {"accuracy": 0.15, "nll": 6.4}, "mask": {"accuracy": 0.09, "nll": 6.9}},
        "unigram": {"all": {"accuracy": 0.06, "nll": 7.3}, "mask": {"accuracy": 0.06, "nll": 7.3}},
        "heldout_rows": 100, "n_heldout_texts": 10, "train_rows": 1000, "seconds": {}}


def row(method, k, seed, acc, t=0):
    return {"task": "mr2", "model": "minilm-mlm", "method": method, "k": k, "seed": seed, "accuracy": acc,
            "macro_f1": acc, "seconds": 1.0, "n_test": 500, "template_index": t, "weights": "x", "peak_mb": 1}


def test_summary_names_the_best_method_per_k(monkeypatch):
    monkeypatch.setattr(PRR, "majority_baseline", lambda n: 0.5)
    rows = [row("zero-shot", 0, 13, a, t) for t, a in enumerate([0.6, 0.7, 0.8])]
    rows += [row("head-lr", 16, s, a) for s, a in zip((13, 21, 42), (0.70, 0.72, 0.74))]
    rows += [row("pet", 16, s, a) for s, a in zip((13, 21, 42), (0.50, 0.60, 0.70))]
    rows += [row("pet", 256, s, a) for s, a in zip((13, 21, 42), (0.80, 0.82, 0.84))]
    s = PRR.summary(rows, HEAD)
    assert s["majority_baseline"] == 50.0
    assert s["best"]["K=16"] == {"method": "head-lr", "mean": 72.0, "std": 2.0, "n": 3, "vs_majority": 22.0,
                                 "vs_lm_bff_fine_tuning": round(72.0 - 76.9, 1),
                                 "vs_lm_bff_prompt_fine_tuning": round(72.0 - 87.0, 1)}
    assert s["best"]["K=256"]["method"] == "pet" and s["best"]["K=0"]["mean"] == 70.0
    assert "**head-lr** 72.0 ± 2.0" in s["markdown"] and "87.0" in s["markdown"]


def test_committed_grid_summary_matches_its_rows(monkeypatch):
    if not PRR.OUT.exists():
        pytest.skip("no committed mr2 grid")
    doc = json.loads(PRR.OUT.read_text())
    if not doc["rows"]:
        pytest.skip("the mr2 grid has no rows yet")
    monkeypatch.setattr(PRR, "majority_baseline", lambda n: doc["summary"]["majority_baseline"] / 100)
    head = {"cloze": {"all": {"accuracy": doc["summary"]["mlm_head"]["cloze_top1_heldout"] / 100, "nll": 0},
                      "mask": {"accuracy": 0, "nll": 0}}, "unigram": HEAD["unigram"], "heldout_rows": 0,
            "n_heldout_texts": 0, "train_rows": 0, "seconds": {}}
    assert PRR.summary(doc["rows"], head)["best"] == doc["summary"]["best"]
