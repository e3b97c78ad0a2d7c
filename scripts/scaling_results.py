"""The scaling law in miniature behind chapters/08_trends (article §8); writes results/scaling.json.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/scaling_results.py           # ~10 min on 1 free core
    python scripts/scaling_results.py --quick          # the chapter's live slice (~20 s of CPU), writes nothing
    python scripts/scaling_results.py --readme-only    # regenerate the README block from the JSON

The grid (``tinyllm.scaling.GRID``): 2-layer GPTs of widths 16-64 (N = 6.6k-100k non-embedding
parameters) x 40k, 80k, 160k training tokens x 2 seeds, each one pass over fresh TinyWorld
documents with its own warm-up + cosine schedule, scored on 1,000 validation documents against
their entropy floor. The fit L - floor = A/N^alpha + B/D^beta (``tinyllm.scaling.fit_power_law``)
and a bootstrap over the runs give the exponents with an error; the fit then predicts the loss of a
width-204 model with 10x the largest N at the largest D, which is trained and compared.

The stated error of the prediction is two standard deviations of its log, combining the bootstrap
spread of the fit and the seed-to-seed spread of one run (from the grid's pairs of seeds). The
README's scaling lines (between the ``scaling`` markers) are generated from the JSON, never typed.
"""

import argparse
import json
import math
import os
import pathlib
import platform
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from _readme import replace_block  # noqa: E402
RESULTS = REPO / "results" / "scaling.json"
README = REPO / "README.md"
START, END = "<!-- scaling:start -->", "<!-- scaling:end -->"


def machine():
    """What ran the experiment: CPU model, Python, NumPy, and the BLAS/OpenMP pools' sizes."""
    import numpy as np
    from threadpoolctl import threadpool_info

    from tinyllm.runtime import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "pools": [{"api": p.get("user_api"), "internal_api": p.get("internal_api"),
                       "num_threads": p.get("num_threads")} for p in threadpool_info()]}


def seed_noise_log(rows):
    """The standard deviation of one run's log reducible loss around its (N, D) cell's mean, from
    the cells measured with two or more seeds (pooled variance); None with one seed."""
    import numpy as np

    cells = {}
    for r in rows:
        cells.setdefault((r["n_layer"], r["d_model"], r["n_tokens"]), []).append(math.log(r["reducible"]))
    groups = [np.array(v) for v in cells.values() if len(v) > 1]
    if not groups:
        return None
    ss = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    return math.sqrt(ss / dof)


def analyse(rows, N_check=None, D_check=None, n_boot=200):
    """The fit, its bootstrap summary and (when N_check is given) the prediction with its error."""
    from tinyllm import scaling

    N = [r["N"] for r in rows]
    D = [r["D"] for r in rows]
    L = [r["reducible"] for r in rows]
    fit = scaling.fit_power_law(N, D, L)
    boot = scaling.bootstrap_fit(N, D, L, n_boot=n_boot, seed=0)
    out = {"fit": fit, "bootstrap": {"n": n_boot, **scaling.summarize_bootstrap(boot, N_check, D_check)}}
    noise = seed_noise_log(rows)
    out["seed_noise_log"] = noise
    if N_check is not None:
        pred = scaling.predict(fit, N_check, D_check)
        sigma = math.sqrt(out["bootstrap"]["prediction"]["std_log"] ** 2 + (noise or 0.0) ** 2)
        out["prediction"] = {"N": N_check, "D": D_check, "reducible": pred, "sigma_log": sigma,
                             "stated_error_log": 2 * sigma,
                             "low": pred * math.exp(-2 * sigma), "high": pred * math.exp(2 * sigma)}
    return out


def summary_lines(data):
    """The README's scaling lines, from the JSON (the hindsight refit is recomputed: it is cheap and
    deterministic)."""
    from tinyllm import scaling

    fit, b, c, g = data["fit"], data["bootstrap"], data["check"], data["grid"]
    late = [r for r in data["rows"] if r["n_tokens"] > min(g["tokens"])]
    refit = scaling.fit_power_law([r["N"] for r in late], [r["D"] for r in late], [r["reducible"] for r in late])
    p_late = scaling.predict(refit, c["N"], c["D"])
    return "\n".join([
        f"Measured by `python scripts/scaling_results.py` ({len(data['rows'])} runs: {g['n_layer']}-layer GPTs "
        f"of width {', '.join(map(str, g['sizes']))} x {', '.join(f'{t // 1000}k' for t in g['tokens'])} "
        f"training tokens x {len(g['seeds'])} seeds on TinyWorld, {data['cpu_seconds'] / 60:.1f} min of one "
        f"CPU thread, {data['wall_seconds'] / 60:.0f} min wall on a shared machine; chapter 08):", "",
        f"- **Scaling law**: L(N, D) − floor = A/N^α + B/D^β with α = {fit['alpha']:.2f} "
        f"({b['alpha']['p16']:.2f}–{b['alpha']['p84']:.2f}), β = {fit['beta']:.2f} "
        f"({b['beta']['p16']:.2f}–{b['beta']['p84']:.2f}) (16–84% of a bootstrap over the runs; N = "
        f"non-embedding parameters, D = training tokens; floor = TinyWorld's entropy floor, "
        f"{data['floor']:.3f} nats/token).",
        f"- **10× check**: a width-{c['d_model']} model (N = {c['N']:,}, {c['N_ratio']:.1f}× the grid's largest) "
        f"at D = {c['D']:,}: predicted {c['predicted']:.3f} nats above the floor "
        f"(±2σ: {c['low']:.3f}–{c['high']:.3f}), measured {c['measured']:.3f}: "
        + ("within the stated error" if c["within"] else "outside the stated error")
        + f" ({c['miss_percent']:+.0f}%, {c['miss_sigma']:+.1f}σ).",
        f"- **In hindsight** (after the measurement, so not a prediction): the smallest-D runs are still "
        f"learning the basics and bend the fit; refitted on the {len(late)} runs with D ≥ "
        f"{min(t for t in g['tokens'] if t > min(g['tokens'])) // 1000}k, α = {refit['alpha']:.2f}, "
        f"β = {refit['beta']:.2f} and the 10× model comes out at {p_late:.3f} "
        f"({100 * (c['measured'] / p_late - 1):+.0f}% off)."])


def write_readme(data):
    """Replace the README's block between the scaling markers with ``summary_lines(data)``."""
    replace_block(README, START, END, summary_lines(data))


def write_json(data, path):
    """Write ``data`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def log(row):
    """Print one run's row on one line."""
    print(f"L={row['n_layer']} d={row['d_model']:3d} N={row['N']:9,d} D={row['D']:7,d} seed={row['seed']} "
          f"steps={row['steps']:4d} val={row['val_loss']:.4f} reducible={row['reducible']:.4f} "
          f"({row['seconds']:.0f} s, {row['cpu_seconds']:.0f} s CPU)", flush=True)


def main(argv=None):
    """Run the grid and the 10x check (or --quick, or --readme-only); see the module docstring."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    sys.path.insert(0, str(REPO))
    from tinyllm import runtime

    runtime.configure_threads(None)
    from tinyllm import scaling

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the chapter's slice only; prints, writes nothing")
    p.add_argument("--readme-only", action="store_true", help="regenerate the README lines from the JSON")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS)
    p.add_argument("--resume", action="store_true",
                   help="reuse the runs already in OUT's .partial.jsonl (each finished run is appended there)")
    args = p.parse_args(argv)
    if args.readme_only:
        write_readme(json.loads(RESULTS.read_text()))
        return
    t0 = time.time()
    if args.quick:
        rows = scaling.quick_slice(log=log)
        a = analyse(rows, n_boot=50)
        print(f"fit: alpha={a['fit']['alpha']:.3f} beta={a['fit']['beta']:.3f} "
              f"rmse_log={a['fit']['rmse_log']:.3f} ({time.time() - t0:.0f} s)")
        return
    G = scaling.GRID
    tok = scaling.tokenizer()
    val = scaling.validation_set(n_docs=G["val_docs"], tok=tok)
    partial = args.out.with_name(args.out.stem + ".partial.jsonl")
    done = [json.loads(line) for line in partial.read_text().splitlines()] if args.resume and partial.exists() else []
    if done:
        print(f"resuming: {len(done)} runs read from {partial}", flush=True)
    elif partial.exists():
        partial.unlink()

    def keep(row):
        """Log a finished run and append it to the partial file (what --resume reads)."""
        log(row)
        with open(partial, "a") as f:
            f.write(json.dumps(row) + "\n")

    rows = scaling.run_grid(G["sizes"], G["tokens"], G["seeds"], n_layer=G["n_layer"], val=val, tok=tok,
                            log=keep, done=done)
    grid_seconds = time.time() - t0
    N_max = max(r["N"] for r in rows)
    D_max = max(r["D"] for r in rows if r["seed"] == 0)
    N_check = scaling.count_non_embedding_params(G["n_layer"], G["check_d_model"])
    a = analyse(rows, N_check, D_max)
    pr = a["prediction"]
    print(f"fit {a['fit']}\npredicted reducible loss at N={N_check:,}: {pr['reducible']:.4f} "
          f"[{pr['low']:.4f}, {pr['high']:.4f}]", flush=True)
    check_key = (G["n_layer"], G["check_d_model"], max(G["tokens"]), 0)
    check = next((r for r in done if scaling.run_key(r) == check_key), None)
    if check is None:
        check = scaling.train_run(G["n_layer"], G["check_d_model"], max(G["tokens"]), 0, val=val, tok=tok)
        keep(check)
    if check["N"] != N_check or check["D"] != D_max:
        raise RuntimeError(f"the 10x run has N={check['N']}, D={check['D']}; the prediction was made "
                           f"for N={N_check}, D={D_max}")
    miss = math.log(check["reducible"] / pr["reducible"])
    data = {
        "what": "TinyWorld validation loss above the entropy floor of GPTs trained for one pass over D "
                "tokens; N = non-embedding parameters (Kaplan et al.); fit L - floor = A/N^alpha + B/D^beta",
        "grid": {k: (list(v) if isinstance(v, tuple) else v) for k, v in G.items()},
        "batch_docs": scaling.BATCH_DOCS, "context": scaling.CONTEXT, "lr_rule": "0.64 / d_model",
        "schedule": "linear warm-up over 5% of the steps, cosine to 0 at the last step; AdamW "
                    "betas (0.9, 0.95), weight decay 0.1, clip 1.0",
        "val_docs": val["n_docs"], "val_seed": val["seed"], "val_tokens": val["tokens"],
        "floor": val["floor"], "floor_split": val["floor_split"],
        "rows": rows,
        **{k: a[k] for k in ("fit", "bootstrap", "seed_noise_log", "prediction")},
        "check": {"d_model": G["check_d_model"], "n_layer": G["n_layer"], "N": N_check,
                  "N_ratio": N_check / N_max, "D": D_max, "predicted": pr["reducible"],
                  "low": pr["low"], "high": pr["high"], "sigma_log": pr["sigma_log"],
                  "measured": check["reducible"], "miss_log": miss,
                  "miss_percent": 100 * (math.exp(miss) - 1), "miss_sigma": miss / pr["sigma_log"],
                  "within": abs(miss) <= pr["stated_error_log"], "row": check},
        # a resumed run adds the wall and CPU time its reused runs took when they ran
        "grid_seconds": round(grid_seconds + sum(r["seconds"] for r in done), 1),
        "wall_seconds": round(time.time() - t0 + sum(r["seconds"] for r in done), 1),
        "cpu_seconds": round(time.process_time() + sum(r["cpu_seconds"] for r in done), 1),
        "resumed_runs": len(done),
        "machine": machine(),
    }
    write_json(data, args.out)
    partial.unlink()
    print(summary_lines(data))
    if args.out == RESULTS:
        try:
            write_readme(data)
        except SystemExit as e:
            print(e)


if __name__ == "__main__":
    main()
