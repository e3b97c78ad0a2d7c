"""Measure the pre-training figures the README quotes, and regenerate its table from them.

    python benchmarks/bench_pretrain.py                  # GPT and BERT with the CLI defaults (~6 min)
    python benchmarks/bench_pretrain.py --models gpt     # GPT only; keeps the JSON's BERT entry
    python benchmarks/bench_pretrain.py --table-only     # rewrite the README block from the JSON

For each model it runs ``tinyllm pretrain``'s recipe with its defaults (seed 0, one thread), times it
end to end, then loads the saved folder back (``tinyllm.zoo.load_folder``, as any user would) and
scores fresh TinyWorld test documents with ``tinyllm.train.evaluate.evaluate_corpus``: GPT against
the practical floor and the exact floor of the test split, BERT by masked-token accuracy. Results
go to benchmarks/pretrain_results.json; the README's table between its bench_pretrain markers is
generated from that JSON (tests/test_readme.py checks that the README holds exactly that table).
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JSON = ROOT / "benchmarks" / "pretrain_results.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench_pretrain:begin -->", "<!-- bench_pretrain:end -->"
TEST_DOCS = {"gpt": 1500, "bert": 2000}
PROMPT = "question: where does Anna live? answer:"


def measure(model_name):
    """One default pre-training run and an independent evaluation; returns a JSON-able dict."""
    import numpy as np

    from tinyllm import zoo
    from tinyllm.generate import generate_text
    from tinyllm.train.evaluate import evaluate_corpus
    from tinyllm.train.pretrain import Recipe, pretrain

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / model_name
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        result, summary, _ = pretrain(Recipe(model=model_name), out, progress=False)
        wall = time.perf_counter() - t0
        model, tok = zoo.load_folder(out)
        test = evaluate_corpus(model, tok, "tinyworld", split="test", n_docs=TEST_DOCS[model_name], seed=2026)
        sample = (generate_text(model, tok, PROMPT, max_new_tokens=6, greedy=True)
                  if model_name == "gpt" else None)
    r = {"status": result.status, "wall_s": wall, "loadavg_start": load0, "params": summary["params"],
         "steps": summary["steps"], "train_time_s": summary["train_time_s"],
         "tokens_per_s": summary["tokens_per_s"], "val_loss": summary["val_loss"],
         "val_ppl": summary["val_ppl"], "val_accuracy": summary["val_accuracy"],
         "val_floor": summary["entropy_floor"], "test_docs": TEST_DOCS[model_name],
         "test_loss": test["loss"], "test_accuracy": test["accuracy"], "test_floor": test["entropy_floor"],
         "test_floor_split": test["entropy_floor_split"], "greedy_sample": sample,
         "recipe": Recipe(model=model_name).resolved().to_dict()}
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in r.items()}


def _duration(s):
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def table(data):
    """The README block (Markdown) generated from the JSON."""
    meta, lines = data["meta"], []
    g = data.get("gpt")
    if g:
        rc = g["recipe"]
        lines += [
            f"**Pre-training a GPT** — `tinyllm pretrain --model gpt --corpus tinyworld --out DIR` with its "
            f"defaults ({rc['n_layer']} layers × {rc['n_head']} heads × width {rc['d_model']}, context "
            f"{rc['max_len']}, {g['params']:,} parameters, batch {rc['batch_size']} documents, AdamW {rc['lr']:g} "
            f"with warm-up + cosine, {g['steps']:,} steps, {rc['dtype']}):", "",
            "| | |", "|---|---|",
            f"| wall time, end to end | **{_duration(g['wall_s'])}** (training {g['train_time_s']:.0f} s; "
            f"load average {g['loadavg_start']:.1f} at the start) |",
            f"| throughput | {g['tokens_per_s']:,.0f} tokens/s |",
            f"| validation cross-entropy | {g['val_loss']:.4f} nats/token vs the practical floor "
            f"{g['val_floor']:.4f} (**{100 * (g['val_loss'] / g['val_floor'] - 1):+.1f}%**), perplexity "
            f"{g['val_ppl']:.2f} |",
            f"| fresh test documents, scored independently ({g['test_docs']:,} docs, the saved folder loaded "
            f"back) | {g['test_loss']:.4f} vs practical floor {g['test_floor']:.4f}: ratio "
            f"**{g['test_loss'] / g['test_floor']:.3f}**; exact floor of the test split "
            f"{g['test_floor_split']:.4f} |",
            f"| greedy answer to `{PROMPT}` | `{g['greedy_sample'][len(PROMPT):].strip()}` |", ""]
    b = data.get("bert")
    if b:
        lines += [
            f"**Pre-training a BERT** — `--model bert` (same sizes, batch {b['recipe']['batch_size']}, "
            f"{b['steps']:,} steps, S10 masking): {_duration(b['wall_s'])} wall, {b['tokens_per_s']:,.0f} "
            f"tokens/s; masked-token accuracy **{100 * b['val_accuracy']:.1f}%** on validation and "
            f"{100 * b['test_accuracy']:.1f}% on {b['test_docs']:,} fresh test documents.", ""]
    lines.append(f"*Generated by `benchmarks/bench_pretrain.py` on {meta['date']} ({meta['machine']}, "
                 f"{meta['software']}, {meta['threads']} thread).*")
    return "\n".join(lines)


def write_readme(data, path=README):
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} block")
    new = text[:text.index(BEGIN)] + f"{BEGIN}\n{table(data)}\n{END}" + text[text.index(END) + len(END):]
    path.write_text(new, encoding="utf-8")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["gpt", "bert"], choices=("gpt", "bert"))
    p.add_argument("--table-only", action="store_true", help="regenerate the README block from the JSON")
    p.add_argument("--no-write", action="store_true", help="print the results; write no file")
    args = p.parse_args(argv)
    data = json.loads(JSON.read_text()) if JSON.exists() else {}
    if not args.table_only:
        sys.path.insert(0, str(ROOT))
        from tinyllm import runtime

        threads = runtime.configure_threads(1)
        import numpy as np

        data["meta"] = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "threads": threads,
                        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}",
                        "software": f"Python {platform.python_version()}, NumPy {np.__version__}"}
        for name in args.models:
            data[name] = measure(name)
            print(json.dumps({name: data[name]}, indent=1))
    if args.no_write:
        print(table(data))
        return 0
    if not args.table_only:
        JSON.write_text(json.dumps(data, indent=1) + "\n")
    write_readme(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
