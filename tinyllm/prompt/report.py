"""Reporting a prompt-learning grid (article §5): tables of mean ± std over seeds, the literature's
predictions checked against the numbers, and the accuracy-against-K plot.

    from tinyllm.prompt import grid, report
    rows = grid.load_rows("results/grid/tw-sentiment__tinyworld-bert-256.json")
    print(report.table(rows))                 # one row per method, one column per K (accuracy, %)
    for claim, verdict, evidence in report.predictions(rows):
        print(claim, verdict, evidence)
    report.plot(rows, "grid.png")

Every number is computed from the rows (``tinyllm.prompt.grid.run_grid``'s), never typed in: the
README's grid block is ``readme_block`` of the committed JSON.
"""


def stats(rows):
    """{method: {K: aggregate}} (mean ± std over seeds; zero-shot: over templates)."""
    from tinyllm.prompt.grid import summarise

    out = {}
    for (method, k), a in summarise(rows).items():
        out.setdefault(method, {})[k] = a
    return out


def _cell(a):
    std = a["std"] if a["n"] > 1 else 0.0
    return f"{100 * a['mean']:.1f} ± {100 * std:.1f}"


def table(rows):
    """Markdown: one row per method, one column per K, accuracy mean ± std in points; then the
    median seconds and the largest peak memory of a run."""
    from tinyllm.prompt import methods as M

    s = stats(rows)
    ks = sorted({k for m in s.values() for k in m})
    methods = [m for m in M.METHODS if m in s]
    lines = ["| method | " + " | ".join(f"K={k}" for k in ks) + " | s/run | peak MB |",
             "|---|" + "---:|" * (len(ks) + 2)]
    for m in methods:
        runs = [r for r in rows if r["method"] == m]
        secs = sorted(r["seconds"] for r in runs)[len(runs) // 2]
        peak = max(r.get("peak_mb", float("nan")) for r in runs)
        cells = [_cell(s[m][k]) if k in s[m] else "" for k in ks]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {secs:.1f} | {peak:.0f} |")
    return "\n".join(lines)


def mean(s, method, k):
    a = s.get(method, {}).get(k)
    return None if a is None else 100 * a["mean"]


def predictions(rows):
    """The literature's predictions (issue 8, point 6) checked on one grid: a list of
    (prediction, verdict, evidence) where verdict is 'held', 'did not hold' or 'not measured'."""
    s = stats(rows)
    out = []

    def add(claim, ok, evidence):
        """ok: True / False / None (not measured), or a verdict of its own ("partly held")."""
        verdict = ok if isinstance(ok, str) else "not measured" if ok is None else ("held" if ok else "did not hold")
        out.append((claim, verdict, evidence))

    ks = sorted(k for k in s.get("pet", {}) if k > 0)
    baselines = [m for m in ("head", "finetune") if m in s]
    if "pet" in s and baselines and ks:
        ks = [k for k in ks if all(k in s[m] for m in baselines)]
        # against the better of the two E2.1 baselines at each K
        gaps = {k: mean(s, "pet", k) - max(mean(s, m, k) for m in baselines) for k in ks}
        small = [k for k in ks if k <= 16]
        closes = gaps[ks[-1]] < max(gaps[k] for k in small)
        ok = all(gaps[k] > 0 for k in small) and closes
        partly = any(gaps[k] > 0 for k in small) and closes
        add("PET beats fine-tuning (E2.1: the better of head-only and full) at small K, and the gap "
            "closes as K grows (Schick & Schütze; Le Scao & Rush)",
            True if ok else ("partly held" if partly else False),
            "; ".join(f"K={k}: " + ", ".join(f"{mean(s, 'pet', k) - mean(s, m, k):+.1f} vs {m}" for m in baselines)
                      for k in ks) + " (points)")
    if "pet-control" in s and "pet" in s:
        ks_c = [k for k in ks if k in s["pet-control"] and k <= 16]
        d_pet = [mean(s, "pet", k) - mean(s, "pet-control", k) for k in ks_c]
        zs = f"; the template's own zero-shot accuracy: {100 * s['zero-shot'][0]['mean']:.1f}" if "zero-shot" in s else ""
        add("the pattern must carry information: PET with label words never seen in pre-training loses "
            "PET's advantage at small K", all(d > 0 for d in d_pet) if ks_c else None,
            ", ".join(f"K={k}: PET − control {d:+.1f}" for k, d in zip(ks_c, d_pet)) + zs)
    if "zero-shot" in s and "zero-shot-cal" in s:
        a, b = s["zero-shot"][0], s["zero-shot-cal"][0]
        add("calibration raises zero-shot accuracy (by a point or more) and lowers its spread across templates "
            "(Zhao et al.)",
            b["mean"] >= a["mean"] + 0.01 and (b["std"] < a["std"]),     # at least one point higher
            f"{_cell(a)} → {_cell(b)} over {a['n']} templates")
    if "icl" in s and "icl-cal" in s:
        kk = sorted(s["icl"])
        add("calibration raises in-context learning (Zhao et al.)",
            all(mean(s, "icl-cal", k) > mean(s, "icl", k) for k in kk),
            ", ".join(f"K={k}: {mean(s, 'icl', k):.1f} → {mean(s, 'icl-cal', k):.1f}" for k in kk))
        add("in-context learning improves with more demonstrations only at scale (Brown et al.): "
            "flat or worse at this scale", mean(s, "icl", kk[-1]) <= mean(s, "icl", kk[0]) + 2,
            " → ".join(f"{mean(s, 'icl', k):.1f} (K={k})" for k in kk))
    if "soft" in s and "soft-random" in s:
        kk = sorted(set(s["soft"]) & set(s["soft-random"]))
        add("prompt tuning at small scale needs a good initialisation (Lester et al.): text-initialised "
            "beats random", all(mean(s, "soft", k) > mean(s, "soft-random", k) for k in kk),
            ", ".join(f"K={k}: {mean(s, 'soft', k):.1f} vs {mean(s, 'soft-random', k):.1f}" for k in kk))
    if "autoprompt" in s and "zero-shot" in s:
        kk = sorted(s["autoprompt"])
        zs = 100 * s["zero-shot"][0]["mean"]
        add("AutoPrompt's searched triggers beat the hand-written templates (Shin et al.)",
            all(mean(s, "autoprompt", k) > zs for k in kk),
            f"zero-shot {zs:.1f}; AutoPrompt " + ", ".join(f"K={k}: {mean(s, 'autoprompt', k):.1f}" for k in kk))
    return out


def readme_block(grids):
    """The README's Markdown for the grids {name: rows} (name: the JSON file's stem under results/grid)."""
    parts = []
    for name, rows in grids.items():
        task, model = rows[0]["task"], rows[0]["model"]
        seeds = sorted({r["seed"] for r in rows if r["k"] > 0})
        parts.append(f"**{task}, `{model}`** (accuracy in %, mean ± std over the seeds {', '.join(map(str, seeds))}; "
                     f"K = 0: over the templates; {rows[0]['n_test']} test examples; weights {rows[0]['weights']}; "
                     f"plot: [`results/grid/{name}.png`](results/grid/{name}.png))\n")
        parts.append(table(rows) + "\n")
        for claim, verdict, evidence in predictions(rows):
            parts.append(f"- {claim}: **{verdict}** ({evidence})")
        parts.append("")
    return "\n".join(parts).rstrip()


def plot(rows, path=None, ax=None):
    """Accuracy against K, one line per method, shaded ±1 std; zero-shot methods as horizontal lines.
    With `path` the figure is saved there (and closed); with `ax` it is drawn on that axes."""
    import matplotlib.pyplot as plt

    s = stats(rows)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.2))
    for m, by_k in s.items():
        if list(by_k) == [0]:
            ax.axhline(100 * by_k[0]["mean"], ls="--", lw=1, label=f"{m} (K=0)", color="grey" if m == "zero-shot" else "black")
            continue
        ks = sorted(k for k in by_k if k > 0)
        mu = [100 * by_k[k]["mean"] for k in ks]
        sd = [100 * (by_k[k]["std"] if by_k[k]["n"] > 1 else 0) for k in ks]
        colour = plt.cm.tab20(len(ax.get_lines()) % 20)              # more methods than tab10 has colours
        line, = ax.plot(ks, mu, marker="o", ms=3, label=m, color=colour)
        ax.fill_between(ks, [a - b for a, b in zip(mu, sd)], [a + b for a, b in zip(mu, sd)], alpha=0.15,
                        color=line.get_color())
    ax.set_ylim(top=min(ax.get_ylim()[1], 102))                  # ±1 std shading can pass 100 %
    ax.set_xscale("log", base=2)
    ax.set_xlabel("K labelled examples per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{rows[0]['task']}, {rows[0]['model']}")
    ax.legend(fontsize=7, ncol=2)
    if fig is not None and path is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return ax
