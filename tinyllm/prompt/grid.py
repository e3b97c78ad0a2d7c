"""Experiment grids: methods x K examples per class x seeds on one task and model, one JSON row per run.

    rows = run_grid("tw-sentiment", "tinyworld-bert-256", methods=["head", "pet"], ks=[4, 16],
                    seeds=[13, 21, 42, 87, 100], out="results/pet_vs_head.json")
    print(markdown_table(rows))          # mean ± std over seeds, one row per method, one column per K

Each row is ``tinyllm.prompt.methods.run``'s result (task, model, method, K, seed, accuracy, macro-F1,
seconds and every hyper-parameter). The file is rewritten atomically after every run, and a grid
started again with the same file skips the runs it already holds, so a long grid can be interrupted
and resumed. Zero-shot methods run once per template (K = 0), so their spread is over templates.
"""

import json
import os
import platform
from pathlib import Path

import numpy as np

from tinyllm.prompt import methods as M

ZERO_SHOT = ("zero-shot", "zero-shot-cal")
SEEDS = (13, 21, 42, 87, 100)


def plan(methods, ks, seeds, n_templates, kind):
    """The (method, K, seed, template) runs of a grid, skipping methods that do not apply to `kind`."""
    runs = []
    for method in methods:
        if not M.applies(method, kind)[0]:
            continue
        if method in ZERO_SHOT:
            runs += [(method, 0, seeds[0], t) for t in range(n_templates)]
        else:
            runs += [(method, k, s, 0) for k in ks if k > 0 for s in seeds]
    return runs


def run_grid(task, model_name, methods, ks, seeds=SEEDS, out=None, n_test=500, model=None, tokenizer=None,
             progress=None):
    """Run the grid; with `out` the rows are written there (and runs already in it are skipped).
    `model`/`tokenizer` default to ``load_model(model_name)``; progress(row) is called after each run."""
    if model is None:
        model, tokenizer = load_model(model_name)
    kind = M.model_kind(model)
    for m in methods:
        M.applies(m, kind)                                         # unknown names fail before any run
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    rows, done = [], set()
    if out is not None and Path(out).exists():
        rows = load_rows(out)
        done = {_key(r) for r in rows if r["task"] == task and r["model"] == model_name}
    todo = plan(methods, ks, seeds, len(M.templates(task, kind)), kind)
    for method, k, seed, t in todo:
        if (method, k, seed, t) in done:
            continue
        row = M.run(method, task, model, tokenizer, k, seed, n_test=n_test, template=t, model_name=model_name)
        row["template_index"] = t
        rows.append(row)
        if out is not None:
            save_rows(rows, out)
        if progress is not None:
            progress(row)
    return [r for r in rows if r["task"] == task and r["model"] == model_name]


def load_model(name):
    """(model, tokenizer) of a zoo name (built on first use) or a model folder."""
    from tinyllm import zoo

    if name in zoo.RECIPES:
        return zoo.pretrained(name)
    if not (Path(name) / "config.json").exists():
        raise ValueError(f"model: {name!r} is neither a zoo name ({', '.join(sorted(zoo.RECIPES))}) nor a "
                         "model folder with a config.json")
    return zoo.load_folder(name)


def _key(row):
    return row["method"], row["k"], row["seed"], row.get("template_index", 0)


def save_rows(rows, path):
    """Write {"machine": ..., "rows": rows} to `path` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()},
           "rows": rows}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)


def load_rows(path):
    """The rows of a grid file written by ``save_rows`` (a clear error for anything else)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable grid file ({e})") from None
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"method", "k", "seed", "accuracy"} <= set(r)
                                             for r in rows):
        raise ValueError(f"{path}: expected {{'rows': [...]}} with method, k, seed and accuracy in every row")
    return rows


def summarise(rows, key="accuracy"):
    """{(method, K): aggregate} over seeds (zero-shot: over templates), mean ± std with ddof = 1."""
    from tinyllm.prompt.metrics import aggregate

    groups = {}
    for r in rows:
        groups.setdefault((r["method"], r["k"]), []).append(r)
    return {g: aggregate(rs, key=key) for g, rs in groups.items()}


def markdown_table(rows, key="accuracy"):
    """A Markdown table: one row per method (in METHODS order), one column per K, mean ± std (n)."""
    stats = summarise(rows, key)
    ks = sorted({k for _, k in stats})
    methods = [m for m in M.METHODS if any(g[0] == m for g in stats)]
    lines = ["| method | " + " | ".join(f"K = {k}" for k in ks) + " |",
             "|---|" + "---:|" * len(ks)]
    for m in methods:
        cells = []
        for k in ks:
            a = stats.get((m, k))
            cells.append("" if a is None else f"{100 * a['mean']:.1f} ± {100 * (a['std'] or 0):.1f} ({a['n']})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
