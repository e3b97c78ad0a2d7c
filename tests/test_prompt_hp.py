"""The grid's learning rates are the ones benchmarks/choose_prompt_hp.py chose on its dev sets."""

import json
from pathlib import Path

from tinyllm.prompt import methods as M

HP = Path(__file__).resolve().parent.parent / "results" / "prompt_hp.json"


def test_hyperparameters_are_the_committed_choice():
    doc = json.loads(HP.read_text())
    assert doc["split"] == "dev" and doc["k"] == 64
    for method, lr in doc["best"].items():
        scores = {r["hp"]["lr"]: r["accuracy"] for r in doc["rows"] if r["method"] == method}
        assert scores[lr] == max(scores.values())                  # the best of what was tried
        assert M.HYPERPARAMETERS[method]["lr"] == lr, f"{method}: HYPERPARAMETERS disagree with {HP.name}"
    for method in ("pet-control", "pet-ensemble", "pet-distill"):
        assert M.HYPERPARAMETERS[method]["lr"] == M.HYPERPARAMETERS["pet"]["lr"]
