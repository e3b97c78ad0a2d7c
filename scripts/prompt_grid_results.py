"""The §5 experiment: every prompt-learning method against fine-tuning as the number of labelled
examples per class K grows; writes results/grid/TASK__MODEL.json, one plot per grid and the README block.

    python scripts/prompt_grid_results.py                         # every grid of GRIDS (resumable)
    python scripts/prompt_grid_results.py --only tw-sentiment__tinyworld-bert-256
    python scripts/prompt_grid_results.py --readme-only           # the README block and plots from the JSON

Each grid is ``tinyllm.prompt.grid.run_grid`` (the same as ``tinyllm prompt grid``): methods x K x the
five seeds 13, 21, 42, 87, 100 (each fixing the sample of K examples per class and the initialisation),
scored on the first 500 test examples. Hyper-parameters: one setting per method,
``tinyllm.prompt.methods.HYPERPARAMETERS``, chosen as benchmarks/choose_prompt_hp.py says. A grid
file already holding a run skips it, so the script can be stopped and started again.

The README block (between the ``prompt-grid`` markers) and the plots are generated from the JSON by
``tinyllm.prompt.report``; tests/test_prompt_grid_results.py checks that the README holds exactly
the block the committed JSON gives.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from _readme import replace_block  # noqa: E402
RESULTS = REPO / "results" / "grid"
README = REPO / "README.md"
START, END = "<!-- prompt-grid:begin -->", "<!-- prompt-grid:end -->"

ALL_K = [0, 4, 8, 16, 32, 64, 256]
BERT_METHODS = ["zero-shot", "zero-shot-cal", "head", "finetune", "pet", "pet-control", "soft", "soft-random",
                "prefix", "p-tuning", "autoprompt"]
PET_EXTRAS = ["pet-ensemble", "pet-distill"]      # three PET trainings each: at three K only
# Not PET or soft prompts on the GPT: its verbalizer is TinyWorld's 14 closing sentences per label, each a
# multi-token continuation, so a training step scores every example 28 times (140 s a run, measured) - on a
# model that already answers 100% zero-shot with that template. Chapter 02 trains both on it.
GPT_METHODS = ["zero-shot", "zero-shot-cal", "icl", "icl-cal", "head"]
# name -> (task, model, [(methods, K values), ...]); run in this order (the first is the headline grid)
GRIDS = {
    "tw-sentiment__tinyworld-bert-256": ("tw-sentiment", "tinyworld-bert-256", [
        (["zero-shot", "zero-shot-cal", "head", "finetune", "pet"], ALL_K),
        (["pet-control", "soft"], ALL_K),
        (["soft-random", "prefix", "p-tuning", "autoprompt"], [16, 256]),   # the other S12/S13 prompts at two K
        (PET_EXTRAS, [16])]),
    "tw-sentiment__tinyworld-gpt-256": ("tw-sentiment", "tinyworld-gpt-256", [(GPT_METHODS, [0, 4, 16, 64, 256])]),
    "tw-topic__tinyworld-bert-256": ("tw-topic", "tinyworld-bert-256",
                                     [(["zero-shot", "zero-shot-cal", "head", "pet"], [0, 4, 16, 64])]),   # 206 sports items: K <= 206
}


def grid_path(name):
    return RESULTS / f"{name}.json"


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    from tinyllm.prompt.report import plot as draw

    draw(rows, path)


def load_grids():
    from tinyllm.prompt.grid import load_rows

    return {name: load_rows(grid_path(name)) for name in GRIDS if grid_path(name).exists()}


def write_readme(grids):
    from tinyllm.prompt.report import readme_block

    replace_block(README, START, END, readme_block(grids))


def main(argv=None):
    sys.path.insert(0, str(REPO))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=list(GRIDS), help="run only these grids")
    p.add_argument("--parts", nargs="*", type=int, help="run only these parts of each grid, into NAME.partN.json "
                   "(two processes, one core each, on different parts); --merge then joins them")
    p.add_argument("--merge", action="store_true", help="join NAME.partN.json files into NAME.json")
    p.add_argument("--readme-only", action="store_true", help="the README block and plots from the JSON")
    args = p.parse_args(argv)
    if args.merge:
        from tinyllm.prompt.grid import merge_parts

        for name in args.only or GRIDS:
            try:
                merged = merge_parts(grid_path(name))
            except ValueError as e:                   # a part that is not a grid file, or of other weights
                p.error(f"--merge: {e}")
            if merged:
                print(f"{name}: {merged[0]} rows from {merged[1]} part files")
    elif not args.readme_only:
        from tinyllm.prompt.grid import load_model, part_path, run_grid

        for name in args.only or GRIDS:
            task, model_name, parts = GRIDS[name]
            model, tok = load_model(model_name)
            t0 = time.time()

            def progress(r):
                print(f"{name}: {r['method']:>12} K={r['k']:<4} seed={r['seed']:<4} acc {r['accuracy']:.3f} "
                      f"({r['seconds']:.1f} s, {r['peak_mb']:.0f} MB)", flush=True)

            for i, (methods, ks) in enumerate(parts):
                if args.parts is not None and i not in args.parts:
                    continue
                out = grid_path(name) if args.parts is None else part_path(grid_path(name), i)
                run_grid(task, model_name, methods, ks, out=out, model=model, tokenizer=tok, progress=progress)
            print(f"{name}: done in {time.time() - t0:.0f} s", flush=True)
    grids = load_grids()
    for name, rows in grids.items():
        plot(rows, grid_path(name).with_suffix(".png"))
    if grids:
        write_readme(grids)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
