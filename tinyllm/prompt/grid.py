"""Experiment grids: methods x K examples per class x seeds on one task and model, one JSON row per run.

    rows = run_grid("tw-sentiment", "tinyworld-bert-256", methods=["head", "pet"], ks=[4, 16],
                    seeds=[13, 21, 42, 87, 100], out="results/pet_vs_head.json")
    print(markdown_table(rows))          # mean ± std over seeds, one row per method, one column per K

Each row is ``tinyllm.prompt.methods.run``'s result (task, model, method, K, seed, accuracy, macro-F1,
seconds and every hyper-parameter), plus the model's weights fingerprint and the run's peak memory.
The file is rewritten atomically after every run, and a grid started again with the same file skips
the runs it already holds, so a long grid can be interrupted and resumed; rows computed with other
weights (a zoo model rebuilt differently) are refused, never mixed in. Zero-shot methods run once per
template (K = 0), so their spread is over templates.

``QUICK`` is the small grid that runs in CI and live in chapter 05 (K in {0, 8, 64}, 3 seeds, 5 methods).
"""

import hashlib
import json
import os
import platform
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tinyllm.prompt import methods as M

ZERO_SHOT = ("zero-shot", "zero-shot-cal", "zero-shot-sim")
SEEDS = (13, 21, 42, 87, 100)
KS = (0, 4, 8, 16, 32, 64, 256)
# Every run of a grid uses one BLAS/OpenMP thread: float32 sums split over a different number of threads
# round differently, and over hundreds of training steps that can move an accuracy. With one thread a
# row reruns to the same number on any machine with the same NumPy/BLAS (two grids can run side by side).
GRID_THREADS = 1
ICL = ("icl", "icl-cal")
ICL_KS = (1, 2, 3)        # in-context learning shows all K examples per class; 4 per class need 270 tokens > 256
# the quick grid: five methods that span the article's families (no prompt, E2.1, E2.2 and S12)
QUICK = dict(methods=("zero-shot", "zero-shot-cal", "head", "pet", "soft"), ks=(0, 8, 64), seeds=(13, 21, 42))


def weights_fingerprint(model):
    """sha256 of the model's weights (every array's name, shape, dtype and bytes, in name order), the
    first 16 hex digits: two rows with the same fingerprint came from the same weights."""
    h = hashlib.sha256()
    for name in sorted(model.params):
        a = np.ascontiguousarray(model.params[name])
        h.update(f"{name}{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def plan(methods, ks, seeds, n_templates, kind):
    """The (method, K, seed, template) runs of a grid, skipping methods that do not apply to `kind`."""
    runs = []
    for method in methods:
        if not M.applies(method, kind)[0]:
            continue
        if method in ZERO_SHOT:
            runs += [(method, 0, seeds[0], t) for t in range(n_templates)]
        elif method in ICL:
            runs += [(method, k, s, 0) for k in ICL_KS for s in seeds]
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
    if not any(M.applies(m, kind)[0] for m in methods):
        raise ValueError(f"no method of {list(methods)} applies to {model_name} (a {kind.upper()}): "
                         + "; ".join(f"{m}: {M.applies(m, kind)[1]}" for m in methods))
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    fingerprint = weights_fingerprint(model)
    rows, done = [], set()
    if out is not None and Path(out).exists():
        rows = load_rows(out)
        mine = [r for r in rows if r["task"] == task and r["model"] == model_name]
        other = sorted({r.get("weights") for r in mine} - {fingerprint})
        if other:
            raise ValueError(f"{out}: its {task} rows for {model_name} were computed with other weights "
                             f"(fingerprint {other[0]}, this model is {fingerprint}): write to another --out, "
                             "or delete those rows, rather than mix two models in one table")
        stale = [r for r in mine if r["method"] in M.HYPERPARAMETERS
                 and r.get("hp") != M.hyperparameters(r["method"], model_name)]
        if stale:
            raise ValueError(f"{out}: {len(stale)} {task} rows (e.g. {stale[0]['method']}, K={stale[0]['k']}) were run "
                             f"with other hyper-parameters ({stale[0].get('hp')}) than today's "
                             f"{M.hyperparameters(stale[0]['method'], model_name)}: delete them or write to another --out")
        sizes = sorted({r["n_test"] for r in mine} - {n_test})
        if sizes:
            raise ValueError(f"{out}: its {task} rows for {model_name} were scored on {sizes[0]} test examples, "
                             f"this grid on n_test={n_test}: write to another --out rather than average the two "
                             "in one table")
        done = {_key(r) for r in mine}
    todo = plan(methods, ks, seeds, len(M.templates(task, kind)), kind)
    for method, k, seed, t in todo:
        if (method, k, seed, t) in done:
            continue
        tracemalloc.start()
        try:
            with threadpool_limits(limits=GRID_THREADS):
                row = M.run(method, task, model, tokenizer, k, seed, n_test=n_test, template=t, model_name=model_name)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        row["template_index"] = t
        row["weights"] = fingerprint
        row["peak_mb"] = round(peak / 2 ** 20, 1)          # Python + NumPy allocations during the run
        row["threads"] = GRID_THREADS
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


def save_rows(rows, path, extra=None):
    """Write {"machine": ..., "rows": rows} (plus the keys of ``extra``, e.g. a summary) to `path`
    atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from tinyllm.runtime import cpu_vectors

    doc = {"machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                       "vectors": cpu_vectors()},
           "rows": rows, **(extra or {})}
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


def part_path(out, i):
    """Where part ``i`` of the grid ``out`` is written when a grid runs as parts: NAME.partI.json."""
    out = Path(out)
    return out.with_name(f"{out.stem}.part{i}{out.suffix}")


def merge_parts(out):
    """Join the part files of the grid ``out`` (``part_path``) into ``out`` and delete them.

    A grid too slow for one core runs as parts, one process per core (``run_grid(..., out=part_path(out, i))``
    for different method groups); this joins them. Rows already in ``out`` are kept, a part's row
    with the same (method, K, seed, template) is not added twice, and every other top-level key of
    ``out`` (a summary written next to the rows) is kept. Parts computed with other weights than
    ``out``'s rows are refused, as run_grid refuses them. Returns (number of rows, number of parts)."""
    out = Path(out)
    parts = sorted(out.parent.glob(f"{out.stem}.part*{out.suffix}"))
    if not parts:
        return None
    extra = {}
    rows = []
    if out.exists():
        rows = load_rows(out)
        extra = {k: v for k, v in json.loads(out.read_text()).items() if k not in ("machine", "rows")}
    keys = {_key(r) for r in rows}
    weights = {r.get("weights") for r in rows} - {None}
    for part in parts:
        new = [r for r in load_rows(part) if _key(r) not in keys]
        got = {r.get("weights") for r in new} - {None}
        if weights and got - weights:
            raise ValueError(f"{part}: rows computed with other weights ({sorted(got - weights)}) than the "
                             f"rows before it ({sorted(weights)}); nothing merged")
        weights |= got
        rows += new
        keys |= {_key(r) for r in new}
    save_rows(rows, out, extra)
    for part in parts:
        part.unlink()
    return len(rows), len(parts)


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
            if a is None:
                cells.append("")
            elif a["n"] == 1 or not np.isfinite(a["std"]):          # one run: no spread to show
                cells.append(f"{100 * a['mean']:.1f} ({a['n']})")
            else:
                cells.append(f"{100 * a['mean']:.1f} ± {100 * a['std']:.1f} ({a['n']})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
