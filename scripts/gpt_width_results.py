"""The scale effect of prompt tuning, in miniature: GPTs of widths d_model 32, 64, 128 and 256, the
same pre-training recipe otherwise, and on each PET (every weight trains) against prompt tuning (only
a few vectors train: S12) on tw-sentiment; writes results/grid/width_sweep.json, its plot and the
README block (between the ``width-sweep`` markers).

    python scripts/gpt_width_results.py --build 32 64     # pre-train these widths (one process per core)
    python scripts/gpt_width_results.py --build 256
    python scripts/gpt_width_results.py                   # the sweep on every built width (resumable)
    python scripts/gpt_width_results.py --readme          # the README block and plot from the JSON

Lester et al. (2021) found that prompt tuning closes the gap to fine-tuning only as the model grows
(T5 from 60M to 11B weights), and that at small scale it needs a good initialisation (the embeddings
of real words, not random vectors). Here the widths span 0.1M to 2M weights: the question is whether
any of that trend shows at the bottom of the scale.

1. The models (``recipe(d)``): ``tinyworld-gpt-256``'s recipe (zoo.RECIPES: 2 layers, 4 heads,
   context 256, packed TinyWorld documents, 2,500 steps of 8 windows, lr 2e-3 decaying to 2e-4)
   with only d_model changed. d_model = 128 is that zoo model itself (its shipped weights); the
   other widths are pre-trained here, with one BLAS/OpenMP thread (the same bits on any machine with
   the same CPU instruction set), into $TINYLLM_HOME/models/width-sweep/gpt-dD.
2. The sweep: on each width, ``METHODS`` at K in ``KS`` examples per class x the five seeds of the
   §5 grids, with the template "review: {x} it was {mask}." and one-token label words "great" /
   "bad" (methods.TEMPLATES' second GPT template: the default one's 14 multi-token closing sentences
   per label would cost 28 forward passes per example and step). Hyper-parameters: the §5 grid's
   (methods.HYPERPARAMETERS, chosen on the BERT), not re-chosen per width: a stated simplification.
   Rows as ``tinyllm.prompt.grid.run_grid`` writes them, plus the width and the weight count.
"""

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "results" / "grid" / "width_sweep.json"
START, END = "<!-- width-sweep:begin -->", "<!-- width-sweep:end -->"
WIDTHS = (32, 64, 128, 256)
ZOO_WIDTH, ZOO_NAME = 128, "tinyworld-gpt-256"      # the width the zoo model already has
METHODS = ("zero-shot", "pet", "soft", "soft-random")
KS = (4, 16)
TASK, TEMPLATE = "tw-sentiment", 1                   # "review: {x} it was {mask}." with great / bad
BUILD_THREADS = 1


def recipe(d_model):
    """The pre-training recipe of the width ``d_model``: the zoo GPT's, with only d_model changed."""
    from tinyllm import zoo

    if d_model not in WIDTHS:
        raise ValueError(f"d_model: expected one of {WIDTHS}, got {d_model!r}")
    return dataclasses.replace(zoo.RECIPES[ZOO_NAME], d_model=int(d_model))


def model_name(d_model):
    return ZOO_NAME if d_model == ZOO_WIDTH else f"width-sweep/gpt-d{d_model}"


def folder(d_model):
    from tinyllm import zoo

    return zoo.model_dir(ZOO_NAME) if d_model == ZOO_WIDTH else zoo.model_dir(f"width-sweep/gpt-d{d_model}")


def build(d_model, progress=True):
    """Pre-train the width ``d_model`` (one thread) into ``folder(d_model)``, unless it is there."""
    from threadpoolctl import threadpool_limits

    import tinyllm.kernels  # noqa: F401  (load the OpenMP kernels first, so that the limit reaches them)
    from tinyllm import runtime
    from tinyllm.train.pretrain import pretrain

    final = folder(d_model)
    if d_model == ZOO_WIDTH or (final / "model.safetensors").exists():
        return final
    runtime.keep_freed_memory()
    tmp = final.parent / f".{final.name}.build-{os.getpid()}"
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.time()
        with threadpool_limits(BUILD_THREADS):
            result, _, _ = pretrain(recipe(d_model), tmp, force=True, progress=progress)
        if result.status not in ("completed", "early_stopped"):
            raise SystemExit(f"d_model={d_model}: pre-training stopped ({result.status}): {result.message}")
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        (tmp / "build.json").write_text(json.dumps({"seconds": round(time.time() - t0, 1),
                                                    "threads": BUILD_THREADS}) + "\n")
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def load(d_model):
    from tinyllm import zoo

    if d_model == ZOO_WIDTH:
        return zoo.pretrained(ZOO_NAME)
    return zoo.load_folder(folder(d_model))


def run_sweep(widths, progress=None):
    """Every (width, method, K, seed) run not yet in OUT, appended to it -> all rows."""
    from tinyllm.prompt import methods as M
    from tinyllm.prompt.grid import GRID_THREADS, load_rows, save_rows, weights_fingerprint
    from threadpoolctl import threadpool_limits

    rows = load_rows(OUT) if OUT.exists() else []
    for d in widths:
        if not (d == ZOO_WIDTH or (folder(d) / "model.safetensors").exists()):
            print(f"d_model={d}: not built yet (--build {d}); skipped", flush=True)
            continue
        model, tok = load(d)
        fp = weights_fingerprint(model)
        mine = [r for r in rows if r["d_model"] == d]
        other = sorted({r["weights"] for r in mine} - {fp})
        if other:
            raise SystemExit(f"{OUT.name}: its d_model={d} rows come from other weights ({other[0]}, this model "
                             f"is {fp}): delete them rather than mix two models")
        done = {(r["method"], r["k"], r["seed"]) for r in mine}
        n_params = int(sum(p.size for p in model.params.values()))
        for method in METHODS:
            for k in ((0,) if method == "zero-shot" else KS):
                for seed in ((13,) if method == "zero-shot" else M_SEEDS()):
                    if (method, k, seed) in done:
                        continue
                    with threadpool_limits(GRID_THREADS):
                        row = M.run(method, TASK, model, tok, k, seed, template=TEMPLATE, model_name=model_name(d))
                    row.update(d_model=d, params=n_params, weights=fp, template_index=TEMPLATE,
                               threads=GRID_THREADS)
                    rows.append(row)
                    save_rows(rows, OUT)
                    if progress:
                        progress(row)
    return rows


def M_SEEDS():
    from tinyllm.prompt.grid import SEEDS

    return SEEDS


def summary(rows):
    """{method: {K: {d_model: aggregate}}} over seeds (accuracy), from the rows."""
    from tinyllm.prompt.grid import summarise

    out = {}
    for d in sorted({r["d_model"] for r in rows}):
        for (m, k), a in summarise([r for r in rows if r["d_model"] == d]).items():
            out.setdefault(m, {}).setdefault(k, {})[d] = a
    return out


def table(rows):
    """Markdown: one row per (method, K), one column per width (accuracy mean ± std in %)."""
    s = summary(rows)
    widths = sorted({r["d_model"] for r in rows})
    params = {d: next(r["params"] for r in rows if r["d_model"] == d) for d in widths}
    lines = ["| method | K | " + " | ".join(f"d={d} ({params[d] / 1e6:.2f}M)" for d in widths) + " |",
             "|---|---:|" + "---:|" * len(widths)]
    for m in METHODS:
        for k in sorted(s.get(m, {})):
            cells = []
            for d in widths:
                a = s[m][k].get(d)
                cells.append("" if a is None else f"{100 * a['mean']:.1f} ± {100 * (a['std'] or 0.0):.1f}")
            lines.append(f"| {m} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gaps(rows):
    """PET minus each prompt-tuning variant at every (K, width), in points (mean over seeds)."""
    s = summary(rows)
    out = {}
    for m in ("soft", "soft-random"):
        for k in KS:
            for d in sorted({r["d_model"] for r in rows}):
                pet, soft = s.get("pet", {}).get(k, {}).get(d), s.get(m, {}).get(k, {}).get(d)
                if pet and soft:
                    out.setdefault(f"pet - {m}", {}).setdefault(f"K={k}", {})[str(d)] = round(
                        100 * (pet["mean"] - soft["mean"]), 1)
    return out


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = summary(rows)
    fig, axes = plt.subplots(1, len(KS), figsize=(5 * len(KS), 3.6), sharey=True)
    for ax, k in zip(np.atleast_1d(axes), KS):
        for m in METHODS:
            kk = 0 if m == "zero-shot" else k
            pts = sorted(s.get(m, {}).get(kk, {}).items())
            if not pts:
                continue
            d = np.array([p[0] for p in pts])
            mu = np.array([100 * p[1]["mean"] for p in pts])
            sd = np.array([100 * (p[1]["std"] or 0.0) for p in pts])
            ax.plot(d, mu, marker="o", label=m, linestyle="--" if m == "zero-shot" else "-")
            ax.fill_between(d, mu - sd, mu + sd, alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(WIDTHS), [str(w) for w in WIDTHS])
        ax.set_xlabel("d_model")
        ax.set_title(f"{TASK}, K = {k} per class")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("accuracy (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def readme_block(rows):
    g = gaps(rows)
    lines = [f"**GPT width sweep** ({TASK}, template \"review: {{x}} it was {{mask}}.\" with great / bad; "
             "accuracy in %, mean ± std over the five seeds; zero-shot: K = 0, one run; plot: "
             f"[`results/grid/{OUT.stem}.png`](results/grid/{OUT.stem}.png))", "", table(rows), ""]
    for name, per_k in g.items():
        for k, per_d in per_k.items():
            lines.append(f"- {name} at {k}: " + ", ".join(f"d={d}: {v:+.1f}" for d, v in per_d.items()))
    return "\n".join(lines)


def write_outputs(rows):
    from tinyllm.prompt.grid import save_rows

    save_rows(rows, OUT, extra={"summary": {"gaps_points": g} if (g := gaps(rows)) else {}})
    plot(rows, OUT.with_suffix(".png"))
    sys.path.insert(0, str(REPO / "scripts"))
    from _readme import replace_block

    replace_block(REPO / "README.md", START, END, readme_block(rows))


def main(argv=None):
    sys.path.insert(0, str(REPO))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", nargs="+", type=int, metavar="D", help=f"pre-train these widths ({WIDTHS})")
    p.add_argument("--widths", nargs="+", type=int, metavar="D", default=list(WIDTHS),
                   help="run the sweep on these widths only")
    p.add_argument("--readme", action="store_true", help="only the README block and plot from the JSON")
    args = p.parse_args(argv)
    bad = [d for d in (args.build or []) + args.widths if d not in WIDTHS]
    if bad:
        p.error(f"widths must be among {WIDTHS}, got {bad}")
    if args.build:
        for d in args.build:
            t0 = time.time()
            print(f"d_model={d}: {build(d)} ({time.time() - t0:.0f} s)", flush=True)
        return
    if not args.readme:
        t0 = time.time()
        run_sweep(args.widths, progress=lambda r: print(
            f"d={r['d_model']:<4} {r['method']:>12} K={r['k']:<3} seed={r['seed']:<4} acc {r['accuracy']:.3f} "
            f"({r['seconds']:.1f} s, {time.time() - t0:.0f} s)", flush=True))
    from tinyllm.prompt.grid import load_rows

    rows = load_rows(OUT)
    write_outputs(rows)
    print(readme_block(rows))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
