"""Build (if needed) and measure the zoo's models for prompting: tinyworld-gpt-256, tinyworld-bert-256.

For each model: the build's wall time, its CPU time (one thread, so about what it takes on a quiet
core) and the machine's load average while it ran (the build is timed only when this script does
it), then
- GPT: cross-entropy on fresh test documents against TinyWorld's entropy floor, and the world's
  questions (tw-qa, every split) answered zero-shot: ``question: Q answer:`` -> the most likely next
  word, right at the start of the context and after ~200 tokens of other documents;
- BERT: masked-token accuracy on fresh test documents (15% and 40% masking), and every fact of the
  world as a cloze probe (``facts: Anna lives in [MASK].``), at the start of the context and after
  ~200 tokens of other documents, as top-1 over the vocabulary and among the relation's objects.
The 48-token zoo models are measured the same way when they are already cached (never built here).

    python benchmarks/zoo256_report.py --out benchmarks/zoo256.json [--models tinyworld-gpt-256 ...]
"""

import argparse
import json
import os
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while a build runs."""

    def __init__(self, every=15):
        self.every, self.values, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every):
            self.values.append(os.getloadavg()[0])

    def __enter__(self):
        self.values.append(os.getloadavg()[0])
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.values.append(os.getloadavg()[0])


def context_filler(tok, n_tokens, kind):
    """About ``n_tokens`` of framed TinyWorld test documents to put before a probe."""
    from tinyllm.data import tinyworld

    out = []
    for d in tinyworld.sample(40, seed=777, split="test"):
        ids = tok.encode(d.text)
        out += ([tok.bos_id] + ids + [tok.eos_id]) if kind == "gpt" else (ids + [tok.sep_id])
        if len(out) >= n_tokens:
            break
    return out


def gpt_qa(model, tok, filler):
    """Accuracy of the next word after ``question: Q answer:`` on every world question (tw-qa)."""
    from tinyllm.prompt.metrics import evaluate
    from tinyllm.prompt.tasks import load

    qs, answers = [], []
    for split in ("train", "validation", "test"):
        ds = load("tw-qa", split)
        qs += ds.texts
        answers += ds.targets
    rows = [filler + [tok.bos_id] + tok.encode(f"question: {q} answer:") for q in qs]
    T = max(map(len, rows))
    idx = np.full((len(rows), T), tok.pad_id, dtype=np.int64)      # (N, T), left-aligned
    for i, r in enumerate(rows):
        idx[i, :len(r)] = r
    logits = model.forward(idx)                                      # (N, T, V)
    last = logits[np.arange(len(rows)), [len(r) - 1 for r in rows]]   # (N, V)
    pred = [tok.decode([int(t)]).strip() for t in last.argmax(axis=1)]
    return evaluate(answers, pred, labels=sorted(set(answers) | set(pred)))["accuracy"], len(qs)


def bert_cloze(model, tok, filler):
    """Cloze probes on every fact: (top-1 over the vocabulary, top-1 among the relation's objects)."""
    from tinyllm.prompt.tasks import world_facts

    facts = world_facts()
    rows = [[tok.cls_id] + filler + tok.encode("facts: " + f["prefix"]) + [tok.mask_id]
            + tok.encode(f["suffix"]) + [tok.sep_id] for f in facts]
    T = max(map(len, rows))
    idx = np.full((len(rows), T), tok.pad_id, dtype=np.int64)        # (N, T)
    mask = np.zeros((len(rows), T), dtype=np.int64)                   # (N, T)
    for i, r in enumerate(rows):
        idx[i, :len(r)] = r
        mask[i, :len(r)] = 1
    logits = model.forward(idx, attention_mask=mask)                  # (N, T, V)
    where = np.argmax(idx == tok.mask_id, axis=1)                     # (N,)
    at = logits[np.arange(len(rows)), where]                          # (N, V)
    gold = np.array([tok.encode(f["object"])[0] for f in facts])
    cands = {}
    for f in facts:
        cands.setdefault(f["relation"], set()).add(tok.encode(f["object"])[0])
    among = [gold[i] == max(cands[f["relation"]], key=lambda c: at[i, c]) for i, f in enumerate(facts)]
    chance = float(np.mean([1 / len(cands[f["relation"]]) for f in facts]))
    return float(np.mean(at.argmax(axis=1) == gold)), float(np.mean(among)), chance, len(facts)


def measure(name, allow_build):
    from tinyllm import zoo
    from tinyllm.models import GPT
    from tinyllm.train.evaluate import evaluate_corpus

    folder = zoo.model_dir(name)
    r = {"name": name}
    if not (folder / "model.safetensors").exists():
        if not allow_build:
            return None
        with LoadSampler() as load:
            t0, c0 = time.perf_counter(), time.process_time()
            zoo.pretrained(name, progress=False)
            r["build_wall_s"] = round(time.perf_counter() - t0, 1)
            r["build_cpu_s"] = round(time.process_time() - c0, 1)   # one thread: about a quiet core's wall time
        r["build_load_avg"] = {"min": min(load.values), "mean": round(float(np.mean(load.values)), 2),
                               "max": max(load.values)}
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").exists() else {}
    r["train_time_s"] = metrics.get("train_time_s")
    r["steps"] = metrics.get("step")
    model, tok = zoo.pretrained(name, progress=False)
    r["params"] = model.num_params()
    r["max_len"] = model.config.max_len
    if isinstance(model, GPT):
        e = evaluate_corpus(model, tok, "tinyworld", split="test", n_docs=1000)
        r.update(test_loss=round(e["loss"], 4), entropy_floor=round(e["entropy_floor"], 4),
                 loss_over_floor=round(e["loss"] / e["entropy_floor"], 4))
        acc, n = gpt_qa(model, tok, [])
        r.update(qa_accuracy_at_start=round(acc, 4), qa_n=n)
        if model.config.max_len >= 256:
            filler = context_filler(tok, 200, "gpt")
            r["qa_accuracy_after_context"] = round(gpt_qa(model, tok, filler)[0], 4)
            r["context_tokens_before_question"] = len(filler)
    else:
        for p in (0.15, 0.4):
            e = evaluate_corpus(model, tok, "tinyworld", split="test", n_docs=1000, mask_prob=p)
            r[f"masked_accuracy_at_{p}"] = round(e["accuracy"], 4)
        top1, among, chance, n = bert_cloze(model, tok, [])
        r.update(cloze_top1_at_start=round(top1, 4), cloze_among_candidates_at_start=round(among, 4),
                 cloze_chance_among_candidates=round(chance, 4), cloze_n=n)
        if model.config.max_len >= 256:
            filler = context_filler(tok, 200, "bert")
            top1, among, _, _ = bert_cloze(model, tok, filler)
            r.update(cloze_top1_after_context=round(top1, 4), cloze_among_candidates_after_context=round(among, 4),
                     context_tokens_before_probe=len(filler))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["tinyworld-gpt-256", "tinyworld-bert-256"])
    ap.add_argument("--out", default="benchmarks/zoo256.json")
    args = ap.parse_args()
    old = json.loads(open(args.out).read()) if os.path.exists(args.out) else {}
    results = {r["name"]: r for r in old.get("results", [])}
    for name in args.models + ["tinyworld-gpt", "tinyworld-bert"]:
        r = measure(name, allow_build=name in args.models)
        if r is None:
            continue
        if name in results and "build_wall_s" in results[name] and "build_wall_s" not in r:
            r = {**r, **{k: results[name][k] for k in ("build_wall_s", "build_cpu_s", "build_load_avg")
                         if k in results[name]}}
        results[name] = r
        print(json.dumps(r), flush=True)
        with open(args.out, "w") as f:
            json.dump({"cpu_count": os.cpu_count(), "results": list(results.values())}, f, indent=1)


if __name__ == "__main__":
    main()
