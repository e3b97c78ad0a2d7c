"""Reporting the §5 grid (tinyllm.prompt.report): the table's numbers, the predictions' verdicts on
rows built by hand, and the README block generated from the committed JSON."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tinyllm.prompt import report

REPO = Path(__file__).resolve().parent.parent


def row(method, k, seed, acc, t=0):
    return dict(task="tw-x", model="m", method=method, k=k, seed=seed, accuracy=acc, macro_f1=acc, seconds=2.0 + seed,
                peak_mb=10.0 * (1 + seed), n_test=100, weights="abc", template_index=t)


def grid(pet_small=0.9, pet_large=0.95, head_small=0.5, head_large=0.94, control=0.52):
    rows = [row("zero-shot", 0, 1, a, t) for t, a in enumerate([0.6, 0.8, 0.7])]
    rows += [row("zero-shot-cal", 0, 1, a, t) for t, a in enumerate([0.75, 0.8, 0.78])]
    for seed, d in ((1, -0.01), (2, 0.0), (3, 0.01)):
        rows += [row("pet", 4, seed, pet_small + d), row("pet", 64, seed, pet_large + d),
                 row("head", 4, seed, head_small + d), row("head", 64, seed, head_large + d),
                 row("pet-control", 4, seed, control + d)]
    return rows


def test_table_is_mean_and_std_over_seeds_in_points():
    rows = grid()
    text = report.table(rows)
    def cell(accs):
        return f"{100 * np.mean(accs):.1f} ± {100 * np.std(accs, ddof=1):.1f}"

    # K = 0 empty for pet; then K = 4 and K = 64; the median seconds of its 6 runs, the largest peak MB
    assert f"| pet |  | {cell([0.89, 0.90, 0.91])} | {cell([0.94, 0.95, 0.96])} | 4.0 | 40 |" in text
    assert f"| zero-shot | {cell([0.6, 0.8, 0.7])} |  |  | 3.0 | 20 |" in text


def test_predictions_held_and_not_held():
    verdicts = {c.split(":")[0]: v for c, v, _ in report.predictions(grid())}
    pet = next(v for c, v in verdicts.items() if c.startswith("PET beats"))
    assert pet == "held"                              # +40 at K=4, +1 at K=64
    assert next(v for c, v in verdicts.items() if c.startswith("the pattern must carry")) == "held"
    assert next(v for c, v in verdicts.items() if c.startswith("calibration raises zero-shot")) == "held"
    flipped = report.predictions(grid(pet_small=0.5, head_small=0.6, control=0.9))
    assert dict((c, v) for c, v, _ in flipped)[next(c for c, _, _ in flipped if c.startswith("PET beats"))] \
        == "did not hold"


def test_readme_holds_the_block_of_the_committed_json():
    spec = importlib.util.spec_from_file_location("pgr", REPO / "scripts" / "prompt_grid_results.py")
    pgr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgr)
    grids = pgr.load_grids()
    if not grids:
        pytest.fail("results/grid/ holds no grid: run scripts/prompt_grid_results.py")
    text = (REPO / "README.md").read_text()
    block = text.split(pgr.START, 1)[1].split(pgr.END, 1)[0].strip()
    assert block == report.readme_block(grids).strip(), \
        "the README's grid block is stale: python scripts/prompt_grid_results.py --readme-only"
    for name in grids:
        assert pgr.grid_path(name).with_suffix(".png").exists()
