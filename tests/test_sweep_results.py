"""scripts/gpt_width_results.py (the GPT width sweep) and scripts/indomain_results.py (models
pre-trained on the reviews alone): their recipes change only what they say they change, their tables
and PET-minus-prompt-tuning gaps are computed from the rows, and the README holds exactly the blocks
the committed JSON gives."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GW = load("gpt_width_results")
IN = load("indomain_results")


def block(start, end):
    return README.split(start, 1)[1].split(end, 1)[0].strip()


def test_width_recipes_differ_from_the_zoo_gpt_only_in_width():
    from tinyllm import zoo

    zoo_recipe = dataclasses.asdict(zoo.RECIPES[GW.ZOO_NAME].resolved())
    for d in GW.WIDTHS:
        r = dataclasses.asdict(GW.recipe(d).resolved())
        assert r["d_model"] == d and {k: v for k, v in r.items() if k != "d_model"} == \
            {k: v for k, v in zoo_recipe.items() if k != "d_model"}
    assert GW.recipe(GW.ZOO_WIDTH).resolved() == zoo.RECIPES[GW.ZOO_NAME].resolved()   # 128: the zoo model itself
    with pytest.raises(ValueError, match="d_model"):
        GW.recipe(100)


def sweep_row(d, method, k, seed, acc):
    return {"task": "tw-sentiment", "model": f"d{d}", "method": method, "k": k, "seed": seed, "accuracy": acc,
            "macro_f1": acc, "seconds": 1.0, "n_test": 500, "template_index": 1, "d_model": d, "params": d * 1000,
            "weights": f"w{d}", "peak_mb": 1}


def test_width_table_and_gaps_come_from_the_rows():
    rows = [sweep_row(d, "pet", 16, s, 0.9) for d in (32, 64) for s in (13, 21)]
    rows += [sweep_row(32, "soft", 16, 13, 0.6), sweep_row(32, "soft", 16, 21, 0.7),
             sweep_row(64, "soft", 16, 13, 0.8), sweep_row(64, "soft", 16, 21, 0.8)]
    gaps = GW.gaps(rows)
    assert gaps == {"pet - soft": {"K=16": {"32": 25.0, "64": 10.0}}}
    table = GW.table(rows)
    assert "| pet | 16 | 90.0 ± 0.0 | 90.0 ± 0.0 |" in table and "| soft | 16 | 65.0 ± 7.1 | 80.0 ± 0.0 |" in table


def test_readme_width_block_is_the_committed_json():
    if not GW.OUT.exists():
        pytest.skip("no committed width sweep")
    from tinyllm.prompt.grid import load_rows

    assert block(GW.START, GW.END) == GW.readme_block(load_rows(GW.OUT)).strip()


def test_indomain_recipes_differ_only_in_the_model():
    from tinyllm.data.fetch import FetchError

    try:
        recipes = IN.recipes()
    except FetchError as e:
        pytest.skip(f"movie reviews unavailable: {e}")
    bert, gpt = (dataclasses.asdict(recipes[n]) for n in ("indomain-bert", "indomain-gpt"))
    assert bert.pop("model") == "bert" and gpt.pop("model") == "gpt" and bert == gpt
    assert Path(bert["corpus"]).read_text(encoding="utf-8").count("\n") == 8528     # mr3's training sentences


def test_readme_indomain_block_is_the_committed_json():
    if not any(IN.out_path(n).exists() for n in IN.METHODS):
        pytest.skip("no committed in-domain grids")
    assert block(IN.START, IN.END) == IN.readme_block().strip()


def test_readme_real_data_block_is_the_committed_json():
    prr = load("prompt_real_results")
    assert block("<!-- prompt-real:begin -->", "<!-- prompt-real:end -->") == prr.readme_block().strip()
    for task in prr.TASKS:
        if prr.out_path(task).exists():
            doc = json.loads(prr.out_path(task).read_text())
            assert doc["summary"]["task"] == task and all(r["task"] == task for r in doc["rows"])
