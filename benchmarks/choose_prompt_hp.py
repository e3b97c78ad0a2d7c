"""Choose the learning rates of tinyllm.prompt.methods.HYPERPARAMETERS on the validation split.

    python benchmarks/choose_prompt_hp.py --out results/prompt_hp.json

tw-sentiment, tinyworld-bert-256, K = 16 per class, seed 13 (not one of the grid's other seeds'
samples is used for the choice: the test split is never read). For each method, every learning rate
of the grid below is scored on 500 validation examples; the JSON records all of them, and the best is
what HYPERPARAMETERS holds.
"""

import argparse
import json
import time

import tinyllm
from tinyllm.prompt import methods as M

GRID = {"head": [3e-4, 1e-3, 3e-3], "finetune": [3e-5, 1e-4, 3e-4], "pet": [3e-5, 1e-4, 3e-4],
        "soft": [3e-3, 1e-2, 3e-2]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/prompt_hp.json")
    ap.add_argument("--model", default="tinyworld-bert-256")
    args = ap.parse_args(argv)
    model, tok = tinyllm.pretrained(args.model)
    rows = []
    for method, lrs in GRID.items():
        for lr in lrs:
            t = time.perf_counter()
            r = M.run(method, "tw-sentiment", model, tok, k=16, seed=13, n_test=500, split="validation",
                      model_name=args.model, lr=lr)
            rows.append(r)
            print(f"{method:>10} lr={lr:g}: validation accuracy {r['accuracy']:.3f} ({time.perf_counter() - t:.0f} s)",
                  flush=True)
    with open(args.out, "w") as f:
        json.dump({"task": "tw-sentiment", "model": args.model, "k": 16, "seed": 13, "split": "validation",
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
