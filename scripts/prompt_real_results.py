"""The §5 experiment on real data: mr2 and mr3 (real movie-review sentences, two or three classes)
with the real MiniLM-L6 encoder (all-MiniLM-L6-v2) and an MLM head trained for it; writes
results/grid/TASK__minilm-mlm.json (``--task``, default mr2).

    python scripts/prompt_real_results.py                 # build the head once (cached), run the grid (resumable)
    python scripts/prompt_real_results.py --head-only     # only build the MLM head folder and print its report
    python scripts/prompt_real_results.py --summary-only  # the comparison block from the committed rows
    python scripts/prompt_real_results.py --readme        # the README's block from the committed JSON
    python scripts/prompt_real_results.py --task mr3 ...  # every command above, on mr3

On two cores, the grid runs as two processes after the head is built (about half the wall time):

    python scripts/prompt_real_results.py --head-only
    python scripts/prompt_real_results.py --parts 4 &           # full fine-tuning: the longest part
    python scripts/prompt_real_results.py --choose-pet && python scripts/prompt_real_results.py --parts 0 1 2 3; wait
    python scripts/prompt_real_results.py --merge               # joins the part files, writes the summary

1. The head (``tinyllm.prompt.mlm_head.build_folder``): MiniLM frozen; S10 masking of mr2's training
   sentences (without their labels) and of 4,000 Shakespeare lines; the encoder's last hidden states at
   the chosen positions are computed once; BERT's head (dense + GELU + LayerNorm, decoder tied to
   MiniLM's word embeddings, an output bias) trains on them. Its cloze accuracy is measured on mr2's
   validation sentences (never the test split) against the most-frequent-token baseline. MiniLM + head
   are saved as a BERT folder in $TINYLLM_HOME/minilm-mlm (not committed: 90 MB), which
   ``tinyllm prompt --task mr2 --model FOLDER --method pet`` and ``zoo.load_folder`` read. The head
   alone (0.7 MB) and its report are committed in results/grid/minilm-mlm-head/: later runs attach it
   to the fetched MiniLM instead of training (the same fingerprint anywhere); ``--retrain-head`` trains.
2. The grid (``tinyllm.prompt.grid.run_grid``, one BLAS thread): ``PARTS``' methods x K x ``SEEDS``
   on the task, scored on the first 500 test sentences, rows with the weights fingerprint. mr3 uses
   the same head (trained on mr2's training sentences without labels: mr3's, but for the sentences
   scored exactly 0) and mr2's hyper-parameters, PET's rate included (not re-chosen for mr3).
3. The summary written into the JSON (``"summary"``): the head's cloze report, the majority
   baseline, the best method at K = 16 and K = 256 (mean ± std over seeds) and, for mr2, LM-BFF's
   figures on the same sentences with RoBERTa-large (Gao et al. 2021, Table 3, "MR"; LM-BFF has no
   three-class MR), all computed from the rows.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TASKS = ("mr2", "mr3")
MODEL_NAME = "minilm-mlm"
SHIPPED_HEAD = REPO / "results" / "grid" / "minilm-mlm-head"   # head.safetensors + mlm_head.json, committed
SEEDS = (13, 21, 42, 87, 100)          # the five seeds of the TinyWorld grids
# (methods, K values): zero-shot methods run at K = 0 once per template / label description
PARTS = [
    (["zero-shot", "zero-shot-cal", "zero-shot-sim"], [0]),
    (["head-lr"], [16, 256]),
    (["pet"], [16, 256]),
    (["autoprompt"], [16, 256]),
    (["finetune"], [16, 256]),        # full fine-tuning of MiniLM: HYPERPARAMETERS' 300 steps at 3e-5, not re-chosen
    (["soft-head"], [16, 256]),       # soft prompt + head (MiniLM frozen): HYPERPARAMETERS' setting, rate chosen on mr2
]
N_SHAKESPEARE = 4000
# LM-BFF (Gao, Fisch & Chen 2021, Table 3), MR with RoBERTa-large, K = 16 per class, accuracy in %
LM_BFF = {"zero-shot (prompt, no training)": 80.8, "fine-tuning (K=16)": 76.9,
          "prompt-based fine-tuning (K=16, manual prompt)": 87.0}


def out_path(task):
    """The grid file of ``task``: results/grid/TASK__minilm-mlm.json."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
    return REPO / "results" / "grid" / f"{task}__{MODEL_NAME}.json"


OUT = out_path("mr2")


def head_folder():
    from tinyllm.data.fetch import tinyllm_home

    return Path(tinyllm_home()) / "minilm-mlm"


def shakespeare_lines(n, seed=0):
    """``n`` lines of at least six words from the Shakespeare texts, a seeded sample."""
    import numpy as np

    from tinyllm.data.fetch import load_shakespeare

    lines = [ln.strip() for ln in load_shakespeare().splitlines() if len(ln.split()) >= 6]
    pick = np.random.default_rng(seed).choice(len(lines), size=min(n, len(lines)), replace=False)
    return [lines[i] for i in sorted(pick)]


def build_head(progress=True, retrain=False):
    """The MiniLM + MLM head folder, built once; returns its report (mlm_head.json).

    The head this repository's rows were computed with is committed (``SHIPPED_HEAD``: the head's
    parameters alone, 0.7 MB, and its report): the folder is MiniLM (fetched) plus that head, so it
    has the committed rows' weights fingerprint on every machine and no training runs. ``retrain``
    trains the head here instead (float32 sums round differently on another CPU: another head) and
    ships it in place of the committed one."""
    from tinyllm.data.fetch import minilm_folder
    from tinyllm.prompt import mlm_head, tasks

    folder = head_folder()
    if not retrain and (folder / "mlm_head.json").exists() and (folder / "model.safetensors").exists():
        return json.loads((folder / "mlm_head.json").read_text())
    if not retrain and (SHIPPED_HEAD / "head.safetensors").exists():
        mlm_head.folder_from_head(minilm_folder(), SHIPPED_HEAD / "head.safetensors", folder)
        (folder / "mlm_head.json").write_text((SHIPPED_HEAD / "mlm_head.json").read_text())
        return json.loads((folder / "mlm_head.json").read_text())
    train = tasks.load("mr2", "train").texts + shakespeare_lines(N_SHAKESPEARE)
    heldout = tasks.load("mr2", "validation").texts
    t0 = time.time()
    states = folder.parent / "minilm-mlm-states.npz"      # MiniLM's states, computed on this machine once
    report = mlm_head.build_folder(minilm_folder(), folder, train, heldout, seed=0, n_masks=1, epochs=3,
                                   states_cache=states,
                                   progress=(lambda s, l: print(f"head step {s}: loss {l:.3f} "
                                                                f"({time.time() - t0:.0f} s)", flush=True))
                                   if progress else None)
    from tinyllm.models import BERT

    SHIPPED_HEAD.mkdir(parents=True, exist_ok=True)
    mlm_head.save_head(BERT.from_pretrained(folder).params, SHIPPED_HEAD / "head.safetensors")
    report = dict(report, encoder="all-MiniLM-L6-v2 (tinyllm fetch minilm)")
    (SHIPPED_HEAD / "mlm_head.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def majority_baseline(n_test, task="mr2"):
    """Accuracy of always answering the most frequent class of the scored test examples."""
    import numpy as np

    from tinyllm.prompt import tasks

    labels = tasks.load(task, "test", n_test).labels
    return float(np.bincount(labels).max() / len(labels))


def measure_steps(model, tok, n=2):
    """Seconds of one training step (batch 8, one BLAS thread) of PET and of full fine-tuning of MiniLM,
    the median of ``n`` after a warm-up step: what the grid's time budget is made of."""
    import copy

    import numpy as np
    from threadpoolctl import threadpool_limits

    from tinyllm.prompt import PromptModel, fit, tasks
    from tinyllm.prompt import methods as M
    from tinyllm.prompt.finetune import classifier_for, finetune

    shots = tasks.few_shot(tasks.load("mr2", "train"), 16, seed=13)
    text, words = M.templates("mr2", "bert")[0]
    out = {}
    with threadpool_limits(limits=1):
        for name in ("pet", "finetune"):
            times = []
            for i in range(n + 1):
                t0 = time.perf_counter()
                if name == "pet":
                    pm = PromptModel(copy.deepcopy(model), tok, text, words, seed=0)
                    t1 = time.perf_counter()
                    fit(pm, shots, 1, 1e-5, batch_size=8, seed=i)
                else:
                    clf = classifier_for(model, 2, seed=0)
                    t1 = time.perf_counter()
                    finetune(clf, shots, tok, 1, 1e-5, batch_size=8, seed=i)
                times.append(time.perf_counter() - t1)
            out[name] = round(float(np.median(times[1:])), 2)
    return out


PET_LRS = (1e-5, 3e-5, 1e-4)          # candidates for MiniLM's PET learning rate (METHODS' 1e-3 destroys it)
SOFT_HEAD_LRS = (3e-4, 1e-3, 3e-3, 1e-2)   # candidates for soft prompt + head's rate (prompt and head together)


def choose_lr(model, tok, task="mr2", method="pet", candidates=PET_LRS):
    """A learning rate for MiniLM, chosen the true few-shot way (Perez et al. 2021) like
    benchmarks/choose_prompt_hp.py: K = 16, seed 13, each rate trained on the 16 examples per class and
    scored on 16 more per class from the train split (tasks.dev_set), never on test or validation.
    Returns {"candidates": {lr: dev accuracy}, "best": lr, ...}."""
    from threadpoolctl import threadpool_limits

    from tinyllm.prompt import methods as M

    scores = {}
    for lr in candidates:
        with threadpool_limits(limits=1):
            row = M.run(method, task, model, tok, 16, 13, split="dev", model_name=MODEL_NAME, lr=lr)
        scores[str(lr)] = row["accuracy"]
        print(f"{method} lr {lr}: dev accuracy {row['accuracy']:.3f} ({row['seconds']:.0f} s)", flush=True)
    best_lr = max(candidates, key=lambda lr: scores[str(lr)])          # ties: the smallest rate (listed first)
    return {"how": f"{task}, K=16, seed 13, 16 more examples per class of the train split (tasks.dev_set); "
                   "other settings as methods.hyperparameters", "candidates": scores, "best": best_lr}


def choose_pet_lr(model, tok, task="mr2"):
    """PET's learning rate for MiniLM (``choose_lr`` among PET_LRS)."""
    return choose_lr(model, tok, task, "pet", PET_LRS)


def best(rows, k):
    """(method, mean, std, n) of the best mean accuracy at K = k (K = 0: over templates), or None."""
    from tinyllm.prompt.grid import summarise

    cands = [(m, a) for (m, kk), a in summarise([r for r in rows if r["k"] == k]).items()]
    if not cands:
        return None
    m, a = max(cands, key=lambda c: c[1]["mean"])
    return {"method": m, "mean": round(100 * a["mean"], 1), "std": round(100 * (a["std"] or 0.0), 1), "n": a["n"]}


def summary(rows, head_report, steps=None):
    """The comparison of the issue's done-means, computed from the rows (accuracy in %)."""
    import statistics

    from tinyllm.prompt import report

    n_test, task = rows[0]["n_test"], rows[0]["task"]
    majority = round(100 * majority_baseline(n_test, task), 1)
    lm_bff = task == "mr2"                        # LM-BFF's MR is the two-class task
    out = {"task": task, "model": MODEL_NAME, "n_test": n_test, "majority_baseline": majority,
           **({"lm_bff_roberta_large": LM_BFF} if lm_bff else {}),
           "mlm_head": {"cloze_top1_heldout": round(100 * head_report["cloze"]["all"]["accuracy"], 1),
                        "cloze_top1_heldout_mask_only": round(100 * head_report["cloze"]["mask"]["accuracy"], 1),
                        "unigram_top1_heldout": round(100 * head_report["unigram"]["all"]["accuracy"], 1),
                        "unigram_top1_heldout_mask_only": round(100 * head_report["unigram"]["mask"]["accuracy"], 1),
                        "cloze_nll": round(head_report["cloze"]["all"]["nll"], 3),
                        "unigram_nll": round(head_report["unigram"]["all"]["nll"], 3),
                        "heldout": f"{head_report['heldout_rows']} masked positions of mr2's "
                                   f"{head_report['n_heldout_texts']} validation sentences",
                        "train_rows": head_report["train_rows"], "seconds": head_report["seconds"]},
           "best": {}, "seconds_per_run": {},
           "seconds_note": "median seconds of a run on one BLAS thread, on 2 cores shared with other jobs; "
                           "zero-shot-sim and head-lr reuse the sentence embeddings cached by earlier runs "
                           "of the same process (the first run pays for the 500 test sentences)"}
    for k in sorted({r["k"] for r in rows}):
        b = best(rows, k)
        b["vs_majority"] = round(b["mean"] - majority, 1)
        if k == 0 and lm_bff:
            b["vs_lm_bff_zero_shot"] = round(b["mean"] - LM_BFF["zero-shot (prompt, no training)"], 1)
        if k == 16 and lm_bff:
            b["vs_lm_bff_fine_tuning"] = round(b["mean"] - LM_BFF["fine-tuning (K=16)"], 1)
            b["vs_lm_bff_prompt_fine_tuning"] = round(b["mean"] - LM_BFF["prompt-based fine-tuning (K=16, manual prompt)"], 1)
        out["best"][f"K={k}"] = b
    for m in dict.fromkeys(r["method"] for r in rows):
        out["seconds_per_run"][m] = round(statistics.median(r["seconds"] for r in rows if r["method"] == m), 1)
    if steps:
        out["seconds_per_training_step_batch_8"] = steps
    lines = [report.table(rows), ""]
    for k, b in out["best"].items():
        extra = ""
        if k == "K=0" and lm_bff:
            extra = f"; LM-BFF zero-shot with RoBERTa-large: {LM_BFF['zero-shot (prompt, no training)']}"
        if k == "K=16" and lm_bff:
            extra = (f"; LM-BFF at K=16 with RoBERTa-large: fine-tuning {LM_BFF['fine-tuning (K=16)']}, "
                     f"prompt-based fine-tuning {LM_BFF['prompt-based fine-tuning (K=16, manual prompt)']}")
        lines.append(f"- best at {k}: **{b['method']}** {b['mean']} ± {b['std']} (n = {b['n']}), "
                     f"{b['vs_majority']:+.1f} points over the majority baseline {majority}{extra}")
    h = out["mlm_head"]
    lines.append(f"- the trained MLM head (MiniLM frozen): cloze top-1 {h['cloze_top1_heldout_mask_only']} % at the "
                 f"[MASK] positions and {h['cloze_top1_heldout']} % at every chosen position (S10: 10 % of them keep "
                 f"their token) of {h['heldout']}, against {h['unigram_top1_heldout_mask_only']} % and "
                 f"{h['unigram_top1_heldout']} % for the most frequent token; NLL {h['cloze_nll']} against the "
                 f"unigram's {h['unigram_nll']}")
    for claim, verdict, evidence in report.predictions(rows):
        lines.append(f"- {claim}: **{verdict}** ({evidence})")
    out["markdown"] = "\n".join(lines)
    return out


def write_summary(rows, head_report, steps=None, choices=None):
    """Add ``"summary"`` to the grid file (its rows stay as run_grid wrote them) and draw the plot."""
    import matplotlib

    matplotlib.use("Agg")
    from tinyllm.prompt.report import plot

    out = out_path(rows[0]["task"])
    doc = json.loads(out.read_text())
    old = doc.get("summary", {})
    steps = steps or old.get("seconds_per_training_step_batch_8")
    doc["summary"] = summary(rows, head_report, steps)
    doc["summary"].update({k: v for k, v in old.items() if k.endswith("_lr_choice")})   # the rate choices
    doc["summary"].update(choices or {})
    out.write_text(json.dumps(doc, indent=1) + "\n")
    plot(rows, out.with_suffix(".png"))
    return doc["summary"]


def readme_block():
    """The README's real-data block: one table and summary per committed grid file (mr2, mr3)."""
    blocks = []
    for task in TASKS:
        out = out_path(task)
        if not out.exists():
            continue
        doc = json.loads(out.read_text())
        blocks.append(f"**{task}, `{MODEL_NAME}`** (accuracy in %, mean ± std over the seeds "
                      f"{', '.join(map(str, SEEDS))}; K = 0: over the templates or label descriptions; "
                      f"{doc['summary']['n_test']} test sentences; plot: "
                      f"[`results/grid/{out.stem}.png`](results/grid/{out.stem}.png))\n\n"
                      + doc["summary"]["markdown"].strip())
    return "\n\n".join(blocks)


def main(argv=None):
    sys.path.insert(0, str(REPO))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=TASKS, default="mr2", help="the real-data task (default mr2)")
    p.add_argument("--head-only", action="store_true")
    p.add_argument("--retrain-head", action="store_true",
                   help="train the MLM head here instead of attaching the committed one (then the committed "
                        "rows' fingerprint no longer matches: rerun the whole grid into a new file)")
    p.add_argument("--summary-only", action="store_true")
    p.add_argument("--methods", nargs="*", help="run only these methods of PARTS")
    p.add_argument("--parts", nargs="+", type=int, metavar="I",
                   help=f"run only these entries of PARTS (0..{len(PARTS) - 1}), into TASK__{MODEL_NAME}.partI.json "
                        "(one process per core, each on other parts, after --head-only); --merge joins them")
    p.add_argument("--merge", action="store_true", help="join the part files into the grid and write its summary")
    p.add_argument("--measure-steps", action="store_true", help="time one PET and one full fine-tuning step")
    p.add_argument("--choose-pet", action="store_true", help="choose PET's learning rate on a K-sized dev set")
    p.add_argument("--choose-soft-head", action="store_true",
                   help="choose soft prompt + head's learning rate on a K-sized dev set")
    p.add_argument("--readme", action="store_true",
                   help="only write the committed JSON's summary table into README.md (prompt-real markers)")
    args = p.parse_args(argv)
    out = out_path(args.task)
    if args.readme:
        from _readme import replace_block

        replace_block(REPO / "README.md", "<!-- prompt-real:begin -->", "<!-- prompt-real:end -->", readme_block())
        return
    if args.parts is not None:
        bad = [i for i in args.parts if not 0 <= i < len(PARTS)]
        if bad:
            p.error(f"--parts: {bad} not in 0..{len(PARTS) - 1} (PARTS: "
                    + "; ".join(f"{i} {'/'.join(m)}" for i, (m, _) in enumerate(PARTS)) + ")")
        if not (head_folder() / "mlm_head.json").exists():
            p.error(f"--parts needs the MLM head built first (two parts would both build it): "
                    f"run --head-only, then the parts")
    if args.merge:
        from tinyllm.prompt.grid import merge_parts

        try:
            merged = merge_parts(out)
        except ValueError as e:                       # a part that is not a grid file, or of other weights
            p.error(f"--merge: {e}")
        print(f"{out.name}: {merged[0]} rows from {merged[1]} part files" if merged else
              f"{out.name}: no part files to merge")
        args.summary_only = True
    if not args.summary_only:
        report = build_head(retrain=args.retrain_head)
        print(json.dumps({k: report[k] for k in ("cloze", "unigram", "seconds", "train_rows", "heldout_rows")}, indent=1))
    if args.head_only:
        return
    from tinyllm.prompt.grid import load_model, load_rows, part_path, run_grid, save_rows

    model, tok = load_model(str(head_folder()))
    steps = measure_steps(model, tok) if args.measure_steps else None
    if steps:
        print(f"one training step, batch 8: {steps} s", flush=True)
    old = json.loads(out.read_text()).get("summary", {}) if out.exists() else {}
    choices = {k: v for k, v in old.items() if k.endswith("_lr_choice")}   # kept across run_grid's rewrites
    if args.choose_pet or args.choose_soft_head:    # only the choice, kept in the grid file's summary
        from tinyllm.prompt import methods as M
        from tinyllm.prompt.grid import save_rows

        method = "pet" if args.choose_pet else "soft-head"
        choice = choose_lr(model, tok, args.task, method, PET_LRS if args.choose_pet else SOFT_HEAD_LRS)
        if not out.exists():
            save_rows([], out)
        doc = json.loads(out.read_text())
        doc.setdefault("summary", {})[f"{method.replace('-', '_')}_lr_choice"] = choice
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(json.dumps(choice))
        if choice["best"] != M.hyperparameters(method, MODEL_NAME)["lr"]:
            print(f"set the {method} rate of {MODEL_NAME} to {choice['best']} (methods.py)", flush=True)
        return
    if not args.summary_only:
        t0 = time.time()

        def progress(r):
            print(f"{r['method']:>14} K={r['k']:<4} seed={r['seed']:<4} t={r.get('template_index', 0)} "
                  f"acc {r['accuracy']:.3f} ({r['seconds']:.1f} s, {r['peak_mb']:.0f} MB, {time.time() - t0:.0f} s)",
                  flush=True)

        for i, (methods, ks) in enumerate(PARTS):
            if args.methods and not set(methods) & set(args.methods) or args.parts is not None and i not in args.parts:
                continue
            if args.parts is not None and out.exists() and not part_path(out, i).exists():
                save_rows(                                      # the grid's rows of this part: run_grid skips them
                    [r for r in load_rows(out) if r["method"] in methods], part_path(out, i))
            run_grid(args.task, MODEL_NAME, [m for m in methods if not args.methods or m in args.methods], ks,
                     seeds=SEEDS, out=out if args.parts is None else part_path(out, i), model=model,
                     tokenizer=tok, progress=progress)
        print(f"grid done in {time.time() - t0:.0f} s", flush=True)
        if args.parts is not None:
            return                                  # the summary is written by --merge
    rows = [r for r in load_rows(out) if r["model"] == MODEL_NAME] if out.exists() else []
    report = json.loads((head_folder() / "mlm_head.json").read_text())
    if rows:
        print(write_summary(rows, report, steps, choices)["markdown"])


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
