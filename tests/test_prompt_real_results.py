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
    monkeypatch.setattr(PRR, "majority_baseline", lambda n, task="mr2": 0.5)
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
    monkeypatch.setattr(PRR, "majority_baseline", lambda n, task="mr2": doc["summary"]["majority_baseline"] / 100)
    head = {"cloze": {"all": {"accuracy": doc["summary"]["mlm_head"]["cloze_top1_heldout"] / 100, "nll": 0},
                      "mask": {"accuracy": 0, "nll": 0}}, "unigram": HEAD["unigram"], "heldout_rows": 0,
            "n_heldout_texts": 0, "train_rows": 0, "seconds": {}}
    assert PRR.summary(doc["rows"], head)["best"] == doc["summary"]["best"]


def test_merge_parts_joins_part_files_and_keeps_the_summary(tmp_path):
    """A grid run as parts (one process per core) is joined into one file: no row lost or doubled,
    the summary written next to the rows kept, the part files gone."""
    from tinyllm.prompt.grid import load_rows, merge_parts, part_path, save_rows

    out = tmp_path / "g.json"
    save_rows([row("zero-shot", 0, 13, 0.6)], out)
    doc = json.loads(out.read_text())
    doc["summary"] = {"pet_lr_choice": {"best": 3e-05}}
    out.write_text(json.dumps(doc))
    save_rows([row("pet", 16, s, 0.7) for s in (13, 21)], part_path(out, 2))
    save_rows([row("head-lr", 16, 13, 0.8), row("zero-shot", 0, 13, 0.1)], part_path(out, 0))
    assert part_path(out, 2).name == "g.part2.json"
    assert merge_parts(out) == (4, 2)
    rows = load_rows(out)
    assert sorted((r["method"], r["seed"]) for r in rows) == [("head-lr", 13), ("pet", 13), ("pet", 21),
                                                             ("zero-shot", 13)]
    assert [r["accuracy"] for r in rows if r["method"] == "zero-shot"] == [0.6]    # the file's row wins
    assert json.loads(out.read_text())["summary"] == {"pet_lr_choice": {"best": 3e-05}}
    assert not list(tmp_path.glob("g.part*")) and merge_parts(out) is None


def test_merge_parts_refuses_rows_of_other_weights(tmp_path):
    from tinyllm.prompt.grid import merge_parts, part_path, save_rows

    out = tmp_path / "g.json"
    save_rows([row("pet", 16, 13, 0.7)], part_path(out, 0))
    save_rows([dict(row("pet", 16, 21, 0.7), weights="y")], part_path(out, 1))
    with pytest.raises(ValueError, match="other weights"):
        merge_parts(out)
    assert part_path(out, 0).exists() and not out.exists()                         # nothing lost


def test_parts_need_the_head_and_valid_indices(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(PRR, "head_folder", lambda: tmp_path / "none")
    with pytest.raises(SystemExit):
        PRR.main(["--parts", "7"])
    assert f"not in 0..{len(PRR.PARTS) - 1}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        PRR.main(["--parts", "2"])
    assert "--head-only" in capsys.readouterr().err
