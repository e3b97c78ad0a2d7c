"""When does a masked LM learn that a review's two adjectives share a polarity? (E3.7, S10)

TinyWorld's reviews carry their sentiment only through words: ``the service was A1 and the price
was A2.`` with A1 and A2 drawn from the same list of 60 positive or 60 negative adjectives. A model
that knows this puts more probability on the positive list than on the negative one at
``the price was [MASK]`` after a positive A1 (and the reverse). The GPT zoo model does (96.9 % of
these probes); the shipped BERT of the first recipe did not (50 %, chance), which left every
BERT prompt method of the §5 grid at chance on ``tw-sentiment``. The BERT shipped now does (99 %).

This script trains tinyllm's BERT (masked LM, E3.7 with S10's 80/10/10 corruption) on nothing but
such two-adjective sentences, at several learning rates and seeds, and records the first step at
which the probe is right on >= 90 % of 100 sentences (probed every 100 steps). The masked-LM loss
hardly moves at the transition (the adjectives are 2 of 10 tokens), so watching the loss would not
show it.

    python benchmarks/bert_polarity.py --out benchmarks/bert_polarity.json
    python benchmarks/bert_polarity.py --zoo-recipe lr=1e-3 min_lr=1e-4 steps=15000 > run.log   # the real recipe
    python benchmarks/bert_polarity.py --logs benchmarks/bert_polarity_logs/*.log                # into the JSON

``--zoo-recipe KEY=VALUE ...`` trains the ``tinyworld-bert-256`` recipe itself (the whole TinyWorld
corpus, packed, 40 % masking) with those fields changed, the way ``tinyllm.zoo.build`` does (two
threads), and prints the same probe on a longer review (``review: I ate pasta at a cafe in
Glenhollow on Monday. the service was A1 and the price was [MASK].``, 120 probes, every 250 steps);
``--logs`` reads such printed runs into the JSON's ``zoo_recipe_runs``. The logs committed in
``benchmarks/bert_polarity_logs/`` are those runs (the thread count is in each file name; runs with
one thread ran two side by side). What they found: the first recipe (lr 2e-3 decaying over 5,000
steps) and every decaying variant stayed at chance; a constant 5e-4 with 40 % masking stays at chance
for 22,000 steps, then flips (99 % at 28,000), while the same with 15 % masking was still at chance
at 20,000. That 28,000-step run, saved with ``--save``, is the shipped ``tinyworld-bert-256`` (its
recipe in tinyllm.zoo.RECIPES, built with one thread):

    python benchmarks/bert_polarity.py --threads 1 --save DIR --zoo-recipe lr=5e-4 min_lr=5e-4 steps=28000

Everything else is fixed: 2 layers, 4 heads, d_model 128, AdamW (betas 0.9/0.95, weight decay 0.1),
clipping at 1.0, 50 warm-up steps then a constant learning rate (a decaying one would slow the
escape it is measuring), batches of 32 sentences, masking 15 %, one BLAS/OpenMP thread.
"""

import argparse
import json
import os
import platform
import time

import numpy as np


def sentences(tok, n, rng):
    """n sentences (framed later by MaskedLMBatches), alternately negative and positive."""
    from tinyllm.data import tinyworld_world as tw

    docs = []
    for i in range(n):
        words = tw.POSITIVE if i % 2 else tw.NEGATIVE
        a1, a2 = words[rng.integers(len(words))], words[rng.integers(len(words))]
        docs.append(tok.encode(f"the service was {a1} and the price was {a2} ."))
    return docs


def probe_inputs(tok, n=100, prefix=""):
    """(n, T) ids: [CLS] prefix the service was A1 and the price was [MASK] . [SEP]; A1 positive
    for even i."""
    from tinyllm.data import tinyworld_world as tw

    rows = []
    for i in range(n):
        words = tw.POSITIVE if i % 2 == 0 else tw.NEGATIVE
        rows.append([tok.cls_id] + tok.encode(f"{prefix}the service was {words[(i // 2) % len(words)]} and the "
                                              "price was") + [tok.mask_id] + tok.encode(".") + [tok.sep_id])
    return np.array(rows)                                                  # (n, T)


def adjective_ids(tok):
    """Token ids of TinyWorld's 60 positive and 60 negative adjectives (one token each)."""
    from tinyllm.data import tinyworld_world as tw

    return [tok.encode(w)[0] for w in tw.POSITIVE], [tok.encode(w)[0] for w in tw.NEGATIVE]


def polarity_accuracy(model, X, pos_ids, neg_ids):
    """Share of probes whose [MASK] puts more mass on the adjectives of A1's polarity."""
    logits = model.forward(X)[:, -3]                                       # (n, V) at [MASK]
    lp = np.logaddexp.reduce(logits[:, pos_ids], axis=1)                   # log P(positive list)
    ln = np.logaddexp.reduce(logits[:, neg_ids], axis=1)
    return float(np.mean((lp > ln) == (np.arange(len(X)) % 2 == 0)))


def run(lr, seed, max_steps, tok):
    from tinyllm.models import BERT
    from tinyllm.models.bert import BERTConfig
    from tinyllm.train.batches import MaskedLMBatches
    from tinyllm.train.trainer import Trainer, TrainConfig

    docs = sentences(tok, 20000, np.random.default_rng(seed))
    model = BERT(BERTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, d_model=128, max_len=64, d_ff=512),
                 seed=seed)
    data = MaskedLMBatches(docs, 32, tok, 64, mask_prob=0.15, seed=seed)
    X = probe_inputs(tok)
    pos_ids, neg_ids = adjective_ids(tok)
    curve = []

    def watch(trainer):
        if trainer.step % 100 == 0:
            acc = polarity_accuracy(trainer.model, X, pos_ids, neg_ids)
            curve.append([trainer.step, round(acc, 3)])
            if acc >= 0.9:
                raise KeyboardInterrupt          # the Trainer stops cleanly, as on Ctrl-C

    cfg = TrainConfig(steps=max_steps, lr=lr, schedule="constant", warmup=50, seed=seed,
                      log_every=10 ** 9, eval_every=10 ** 9)
    t0 = time.time()
    Trainer(model, data, config=cfg, callbacks=[watch], progress=False).fit()
    learned = curve[-1][1] >= 0.9
    return {"lr": lr, "seed": seed, "learned_at_step": curve[-1][0] if learned else None,
            "max_steps": max_steps, "probe_curve": curve, "seconds": round(time.time() - t0, 1)}


def zoo_recipe_run(overrides, threads=None, save=None):
    """Train the tinyworld-bert-256 recipe with `overrides` (KEY=VALUE strings) as tinyllm.zoo.build
    does (with ``threads`` BLAS/OpenMP threads instead of the build's, when given: a quicker
    exploration, not the same bits), printing the step, the loss and the probe every 250 steps.
    ``save``: a folder to keep the trained model in (a zoo model folder: weights, tokenizer, recipe)."""
    import dataclasses
    import tempfile

    from threadpoolctl import threadpool_limits

    import tinyllm
    import tinyllm.kernels  # noqa: F401  (the OpenMP kernels are loaded, so the limit reaches them: as zoo.build)
    from tinyllm import runtime
    from tinyllm.train.pretrain import pretrain
    from tinyllm.zoo import RECIPES, build_threads

    base = RECIPES["tinyworld-bert-256"]
    fields = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if not hasattr(base, key) or not value:
            raise SystemExit(f"--zoo-recipe: expected FIELD=VALUE with a Recipe field, got {item!r}")
        kind = type(getattr(base, key)) if getattr(base, key) is not None else float
        try:
            fields[key] = kind(value)
        except ValueError:
            raise SystemExit(f"--zoo-recipe: {key} takes a {kind.__name__}, got {value!r}") from None
    recipe = dataclasses.replace(base, **fields)
    print(recipe, flush=True)
    _, tok = tinyllm.pretrained("tinyworld-bert-256", progress=False)
    pos_ids, neg_ids = adjective_ids(tok)
    X = probe_inputs(tok, 120, prefix="review: I ate pasta at a cafe in Glenhollow on Monday. ")   # (120, T)
    t0 = time.time()

    def watch(trainer):
        if trainer.step % 250 == 0:
            acc = polarity_accuracy(trainer.model, X, pos_ids, neg_ids)
            print(trainer.step, round(trainer.last_loss, 3), "probe", round(acc, 3), round(time.time() - t0), flush=True)

    runtime.keep_freed_memory()
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(threads or build_threads("tinyworld-bert-256")):
        pretrain(recipe, save or tmp, force=True, progress=False, callbacks=[watch])


def read_log(path):
    """A --zoo-recipe run's printed lines -> {recipe fields that differ, curve: [[step, loss, probe], ...]}."""
    import re

    text = open(path).read()
    first, *lines = text.strip().splitlines()
    fields = dict(re.findall(r"(\w+)=([^,()]+)", first))
    curve = [[int(a), float(b), float(c)] for a, b, _, c, _ in (ln.split() for ln in lines if " probe " in ln)]
    learned = [step for step, _, acc in curve if acc >= 0.9]
    threads = re.search(r"_(\d+)threads?\.log$", str(path))                # the file name says it
    return {"log": str(path), "threads": int(threads.group(1)) if threads else None,
            "lr": float(fields["lr"]), "min_lr": float(fields["min_lr"]), "steps": int(fields["steps"]),
            "mask_prob": float(fields["mask_prob"]), "single_batch_size": int(fields["single_batch_size"]),
            "learned_at_step": learned[0] if learned else None, "best_probe": max(acc for *_, acc in curve),
            "final_probe": curve[-1][2], "curve_step_loss_probe": curve}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo-recipe", nargs="+", metavar="FIELD=VALUE",
                    help="train the tinyworld-bert-256 recipe with these fields changed, printing the probe")
    ap.add_argument("--threads", type=int, help="--zoo-recipe with this many threads instead of the zoo "
                    "build's (side-by-side exploration; the bits differ from a build's)")
    ap.add_argument("--save", help="--zoo-recipe: keep the trained model in this folder")
    ap.add_argument("--logs", nargs="+", help="read printed --zoo-recipe runs into --out's zoo_recipe_runs")
    ap.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--max-steps", type=int, default=3000)
    ap.add_argument("--out", default="benchmarks/bert_polarity.json")
    args = ap.parse_args()
    if args.zoo_recipe:
        if args.threads is not None and args.threads < 1:
            raise SystemExit(f"--threads must be >= 1, got {args.threads}")
        return zoo_recipe_run(args.zoo_recipe, args.threads, args.save)
    if args.logs:
        if not os.path.exists(args.out):
            raise SystemExit(f"--logs adds to {args.out}, which does not exist: run the sweep first (without --logs)")
        doc = json.load(open(args.out))
        runs = []
        for path in sorted(args.logs):
            try:
                runs.append(read_log(path))
            except (OSError, ValueError, KeyError) as e:
                raise SystemExit(f"--logs: {path} is not the printed output of a --zoo-recipe run ({e!r})") from None
        doc["zoo_recipe_runs"] = runs
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        return None
    from threadpoolctl import threadpool_limits

    import tinyllm
    import tinyllm.kernels  # noqa: F401  (the OpenMP kernels are loaded, so the limit reaches them)
    from tinyllm.runtime import cpu_vectors

    _, tok = tinyllm.pretrained("tinyworld-bert-256", progress=False)   # only its word tokenizer
    rows = []
    with threadpool_limits(1):
        for lr in args.lrs:
            for seed in args.seeds:
                rows.append(run(lr, seed, args.max_steps, tok))
                r = rows[-1]
                print(f"lr {lr:g} seed {seed}: learned at step {r['learned_at_step']} ({r['seconds']} s)", flush=True)
    out = {"what": __doc__.splitlines()[0], "command": "python benchmarks/bert_polarity.py " + " ".join(
               f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
               for k, v in vars(args).items() if v is not None),
           "machine": {"cpus": os.cpu_count(), "vectors": cpu_vectors(), "python": platform.python_version(),
                       "numpy": np.__version__},
           "results": rows}
    if os.path.exists(args.out):                     # keep the zoo-recipe runs read in earlier
        out["zoo_recipe_runs"] = json.load(open(args.out)).get("zoo_recipe_runs", [])
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
