"""Which masking rate makes a packed-context BERT a usable cloze model? (tinyworld-bert-256)

Trains the tinyworld-bert-256 recipe at several masking rates for a short run each and scores
every fact of the TinyWorld world as a cloze probe, in the form TinyWorld's facts documents write:
``[CLS] facts : Anna lives in [MASK] . [SEP]`` -> ``Fennick``. Reported per rate: masked-token
accuracy on validation (E3.7's positions) and the probe accuracy, both as top-1 over the whole
vocabulary and among the relation's possible objects (chance: 1 / number of candidates).

    python benchmarks/bert_mask_rate.py --steps 1000 --rates 0.15 0.3 0.4 0.5 --out benchmarks/bert_mask_rate.json
"""

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np


def cloze_accuracy(model, tok, facts):
    """(top-1 over the vocabulary, top-1 among the relation's candidates) on the fact probes."""
    rows = [[tok.cls_id] + tok.encode("facts : " + f["prefix"]) + [tok.mask_id] + tok.encode(f["suffix"])
            + [tok.sep_id] for f in facts]
    T = max(map(len, rows))
    idx = np.full((len(rows), T), tok.pad_id, dtype=np.int64)       # (N, T)
    mask = np.zeros((len(rows), T), dtype=np.int64)                  # (N, T)
    for i, r in enumerate(rows):
        idx[i, :len(r)] = r
        mask[i, :len(r)] = 1
    logits = model.forward(idx, attention_mask=mask)                 # (N, T, V)
    where = np.argmax(idx == tok.mask_id, axis=1)                    # (N,)
    at = logits[np.arange(len(rows)), where]                         # (N, V)
    gold = np.array([tok.encode(f["object"])[0] for f in facts])
    top1 = float(np.mean(at.argmax(axis=1) == gold))
    cands = {}
    for f in facts:
        cands.setdefault(f["relation"], set()).add(tok.encode(f["object"])[0])
    hits = [gold[i] == max(cands[f["relation"]], key=lambda c: at[i, c]) for i, f in enumerate(facts)]
    chance = float(np.mean([1 / len(cands[f["relation"]]) for f in facts]))
    return top1, float(np.mean(hits)), chance


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.15, 0.3, 0.4, 0.5])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--out", default="benchmarks/bert_mask_rate.json")
    args = ap.parse_args()
    from tinyllm.prompt.tasks import world_facts
    from tinyllm.train.pretrain import pretrain
    from tinyllm.zoo import RECIPES, load_folder

    facts = world_facts()
    results = []
    for rate in args.rates:
        recipe = RECIPES["tinyworld-bert-256"]
        recipe = type(recipe)(**{**recipe.to_dict(), "mask_prob": rate, "steps": args.steps,
                                 "eval_every": args.steps})
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            _, summary, _ = pretrain(recipe, tmp, force=True, progress=False)
            wall = time.perf_counter() - t0
            model, tok = load_folder(tmp)
        top1, among, chance = cloze_accuracy(model, tok, facts)
        r = {"mask_prob": rate, "steps": summary["steps"], "wall_s": round(wall, 1),
             "val_masked_accuracy": round(summary["val_accuracy"], 4), "cloze_top1": round(top1, 4),
             "cloze_among_candidates": round(among, 4), "cloze_chance_among_candidates": round(chance, 4),
             "n_probes": len(facts), "load_avg_1min_after": round(os.getloadavg()[0], 2)}
        print(json.dumps(r), flush=True)
        results.append(r)
    with open(args.out, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
