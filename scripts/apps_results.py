"""Run every application of tinyllm.apps on a zoo model; write results/apps.json and the README table.

    python scripts/apps_results.py                       # default model, n=200 per group
    python scripts/apps_results.py --model tinyworld-gpt --n 50

The README's applications table (between the ``apps-table`` markers) is generated from the JSON,
never typed; chapters/06_applications reads the same JSON.
"""

import argparse
import json
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from _readme import replace_block  # noqa: E402
RESULTS = REPO / "results" / "apps.json"
README = REPO / "README.md"
START, END = "<!-- apps-table:start -->", "<!-- apps-table:end -->"

# application -> (what it does, the metrics shown in the table: key -> label)
ROWS = {
    "qa": ("question -> one-word answer", {"exact_match_known": "exact match, known facts",
                                           "exact_match_unseen": "exact match, unseen two-hop questions",
                                           "unseen_gave_shortcut": "two-hop answered with the one-hop shortcut"}),
    "translation": ("English <-> toy language", {"bleu_into": "BLEU into toy (sacrebleu)",
                                                 "chrf_into": "chrF into toy (sacrebleu)",
                                                 "bleu_out": "BLEU out of toy, by scoring (sacrebleu)",
                                                 "chrf_out": "chrF out of toy (sacrebleu)"}),
    "summarization": ("story -> one-sentence summary", {"rougeL": "ROUGE-L F (rouge-score)",
                                                        "rouge2": "ROUGE-2 F (rouge-score)",
                                                        "exact_match": "exact match"}),
    "dialogue": ("reply with a fact about the speaker set up in earlier turns",
                 {"exact_match_fact": "exact match of the fact", "exact_match_reply": "exact match of the reply",
                  "earlier_followed": "told otherwise earlier in the context: follows the context",
                  "earlier_memory": "told otherwise earlier in the context: answers from memory"}),
    "classification": ("review sentiment, news topic through a template + verbalizer",
                       {"accuracy_sentiment": "accuracy, sentiment (2 classes)",
                        "macro_f1_sentiment": "macro-F1, sentiment",
                        "accuracy_sentiment_naive": "accuracy, sentiment, everyday template (great/awful)",
                        "accuracy_topic": "accuracy, topic (10 classes)", "macro_f1_topic": "macro-F1, topic"}),
    "knowledge": ("text -> (subject, relation, object); cloze probes",
                  {"triple_precision": "triple precision", "triple_recall": "triple recall",
                   "triple_f1": "triple F1", "precision_world": "extracted triples true in the world",
                   "p_at_1_gpt": "cloze P@1, GPT", "p_at_1_bert": "cloze P@1, BERT"}),
    "code": ("program -> output; fill a blank to reach an output",
             {"exact_match_output": "exact match of the output",
              "exact_match_output_repeat": "exact match of the output, repeat loops",
              "completion": "completion that prints the given output (interpreter)",
              "completion_greedy": "greedy completion, output not used (interpreter)"}),
}


def table(data):
    """The Markdown table of ``data`` (the JSON written by main)."""
    lines = [f"Measured on `{data['model']}`, {data['n']} test examples per group, seed {data['seed']} "
             f"(`python scripts/apps_results.py`; each row is `tinyllm app NAME`):", "",
             "| application | task | metric | value |", "|---|---|---|---:|"]
    for name, (task, shown) in ROWS.items():
        r = data["apps"].get(name)
        if r is None:
            continue
        first = True
        for key, label in shown.items():
            if key not in r["metrics"]:
                continue
            v = r["metrics"][key]
            value = f"{v:.1f}" if key.startswith(("bleu", "chrf")) else f"{v:.3f}"
            lines.append(f"| {'`' + name + '`' if first else ''} | {task if first else ''} | {label} | {value} |")
            first = False
    return "\n".join(lines)


def write_readme(data):
    replace_block(README, START, END, table(data))


def main(argv=None):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(REPO))
    from tinyllm import apps
    from tinyllm.apps.base import default_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="zoo name (default: the applications' default)")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=None, help="run only these applications (keep the rest)")
    p.add_argument("--readme-only", action="store_true", help="regenerate the README table from the JSON")
    args = p.parse_args(argv)
    if args.readme_only:
        write_readme(json.loads(RESULTS.read_text()))
        return
    model = args.model or default_model()
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
    keep = old["apps"] if old and old["model"] == model and old["n"] == args.n and args.only else {}
    data = {"model": model, "n": args.n, "seed": args.seed, "apps": dict(keep)}
    for name in args.only or apps.NAMES:
        t = time.time()
        r = apps.run(name, model=model, n=args.n, seed=args.seed)
        data["apps"][name] = {**r.to_dict(k=4), "seconds": round(time.time() - t, 1)}
        print(r.summary_line(), f"({time.time() - t:.0f} s)", flush=True)
    data["apps"] = {k: data["apps"][k] for k in apps.NAMES if k in data["apps"]}
    tmp = RESULTS.with_suffix(".tmp")
    RESULTS.parent.mkdir(exist_ok=True)
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, RESULTS)
    write_readme(data)


if __name__ == "__main__":
    main()
