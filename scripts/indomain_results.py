"""In-domain baselines for the real-data grid: a tinyllm BERT and a tinyllm GPT pre-trained from
scratch on the movie-review training sentences alone (unlabelled, 8,528 sentences, about 180,000
words), then run through the §5 methods on mr2, as MiniLM is; writes
results/grid/mr2__indomain-bert.json, results/grid/mr2__indomain-gpt.json and the README block
(between the ``indomain`` markers).

    python scripts/indomain_results.py --build        # pre-train both (one thread each, a few minutes)
    python scripts/indomain_results.py                # the grids (resumable)
    python scripts/indomain_results.py --readme       # the README block from the JSON

The question is what pre-training on the task's own unlabelled text buys when that text is all
there is: MiniLM read about a billion sentence pairs; these models read 180,000 words.

1. The corpus: the training split of the movie reviews (``tasks.load("mr3", "train")``: mr2's
   training sentences and those scored exactly 0), one sentence per line, no labels; never a
   validation or test sentence (the splits are a hash of the text).
2. The models (``RECIPES``): tinyllm's default sizes (2 layers, 4 heads, d_model 128) with a
   WordPiece vocabulary of 4,000 ids trained on that text, context 64, 3,000 steps; the BERT reads
   each sentence as a document (15% masking, the article's S10), the GPT reads the text as one
   stream of 64-token windows. Untuned: the defaults of ``tinyllm pretrain``, one thread.
3. The grids: ``METHODS`` at K = 16 and 256 per class x the five seeds, hyper-parameters as on
   TinyWorld (methods.HYPERPARAMETERS, not re-chosen), scored on the first 500 test sentences.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- indomain:begin -->", "<!-- indomain:end -->"
TASK = "mr2"
SEEDS = (13, 21, 42, 87, 100)
KS = (16, 256)
METHODS = {"indomain-bert": ["zero-shot", "zero-shot-cal", "head", "finetune", "pet", "head-lr"],
           "indomain-gpt": ["zero-shot", "zero-shot-cal", "head", "finetune", "pet"]}


def corpus_file():
    """The unlabelled training sentences, one per line, written once into the cache."""
    from tinyllm.data.fetch import tinyllm_home
    from tinyllm.prompt import tasks

    path = Path(tinyllm_home()) / "movie-reviews" / "mr-train-unlabelled.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(tasks.load("mr3", "train").texts) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return path


def recipes():
    from tinyllm.train.pretrain import Recipe

    corpus = str(corpus_file())
    common = dict(corpus=corpus, tokenizer="wordpiece", vocab_size=4000, max_len=64, steps=3000, seed=0)
    return {"indomain-bert": Recipe(model="bert", **common), "indomain-gpt": Recipe(model="gpt", **common)}


def folder(name):
    from tinyllm import zoo

    return zoo.model_dir(f"indomain/{name}")


def build(name, progress=True):
    """Pre-train ``name`` with one BLAS/OpenMP thread into ``folder(name)`` unless it is there."""
    from threadpoolctl import threadpool_limits

    import tinyllm.kernels  # noqa: F401  (load the OpenMP kernels first, so that the limit reaches them)
    from tinyllm import runtime
    from tinyllm.train.pretrain import pretrain

    final = folder(name)
    if (final / "model.safetensors").exists():
        return final
    runtime.keep_freed_memory()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{name}.build-{os.getpid()}"
    try:
        t0 = time.time()
        with threadpool_limits(1):
            result, summary, _ = pretrain(recipes()[name], tmp, force=True, progress=progress)
        if result.status not in ("completed", "early_stopped"):
            raise SystemExit(f"{name}: pre-training stopped ({result.status}): {result.message}")
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        (tmp / "build.json").write_text(json.dumps({"seconds": round(time.time() - t0, 1), "threads": 1,
                                                    "corpus": summary.get("corpus")}, default=str) + "\n")
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def out_path(name):
    return REPO / "results" / "grid" / f"{TASK}__{name}.json"


def run(names, progress=None):
    from tinyllm import zoo
    from tinyllm.prompt.grid import run_grid

    for name in names:
        if not (folder(name) / "model.safetensors").exists():
            print(f"{name}: not built yet (--build); skipped", flush=True)
            continue
        model, tok = zoo.load_folder(folder(name))
        run_grid(TASK, name, METHODS[name], [0, *KS], seeds=SEEDS, out=out_path(name), model=model,
                 tokenizer=tok, progress=progress)


def readme_block():
    from tinyllm.prompt import report
    from tinyllm.prompt.grid import load_rows

    parts = []
    for name in METHODS:
        if out_path(name).exists():
            rows = load_rows(out_path(name))
            parts.append(f"**{TASK}, `{name}`** (pre-trained here on the unlabelled training sentences; accuracy "
                         f"in %, mean ± std over the seeds {', '.join(map(str, SEEDS))}; K = 0: over the "
                         f"templates; {rows[0]['n_test']} test sentences)\n\n" + report.table(rows))
    return "\n\n".join(parts)


def main(argv=None):
    sys.path.insert(0, str(REPO))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", action="store_true", help="pre-train the models (or --only one of them)")
    p.add_argument("--only", choices=list(METHODS), help="this model only")
    p.add_argument("--readme", action="store_true", help="only the README block from the JSON")
    args = p.parse_args(argv)
    names = [args.only] if args.only else list(METHODS)
    if args.build:
        for name in names:
            t0 = time.time()
            print(f"{name}: {build(name)} ({time.time() - t0:.0f} s)", flush=True)
        return
    if not args.readme:
        t0 = time.time()
        run(names, progress=lambda r: print(
            f"{r['model']:>14} {r['method']:>14} K={r['k']:<4} seed={r['seed']:<4} acc {r['accuracy']:.3f} "
            f"({r['seconds']:.1f} s, {time.time() - t0:.0f} s)", flush=True))
    sys.path.insert(0, str(REPO / "scripts"))
    from _readme import replace_block

    block = readme_block()
    if block:
        replace_block(REPO / "README.md", START, END, block)
        print(block)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
