"""``tinyllm prompt``: prompt learning on a task from the command line, §3.2's five steps.

    tinyllm prompt --task tw-sentiment --model tinyworld-bert-256 --method pet --k 16 --seeds 13 21 42
    tinyllm prompt --task tw-sentiment --model tinyworld-gpt-256 --method zero-shot --template 1
    tinyllm prompt --task tw-sentiment --model tinyworld-bert-256 --method zero-shot \\
        --template-text "review: {x} it was {mask}." --label-words '{"negative": ["bad"], "positive": ["great"]}'
    tinyllm prompt grid --task tw-sentiment --model tinyworld-bert-256 --methods head pet --ks 4 16 \\
        --out results/pet_vs_head.json
    tinyllm prompt grid --quick --task tw-sentiment --out quick.json     # 5 methods, K 0/8/64, 3 seeds

One line per seed, then the accuracy as mean ± std over the seeds (ddof = 1) on the last line; a grid
prints a line per run and the table of means ± std (tinyllm.prompt.grid).
"""

import json

MAX_EXAMPLES = 100_000      # --n-test and --k: far above the tasks' sizes, far below a memory blow-up

STEPS_HELP = """\
The five steps of prompt learning (article section 3.2) and the options for each:
  1 task analysis    --task, --k (labelled examples per class), --seeds (which sample of them)
  2 prompt design    --template / --template-text, --label-words (the verbalizer, S11)
  3 inference        --method: zero-shot, in context, or after training (E2.1 / E2.2 / S12 / S13);
                     --steps, --lr, --batch-size for the methods that train
  4 result parsing   the verbalizer's label scores -> the argmax label (E2.2)
  5 evaluation       accuracy and macro-F1 on --n-test test examples, mean ± std over --seeds"""


def add_parser(sub, positive_int, nonneg_int, positive_float):
    """Register ``tinyllm prompt`` on the subparsers `sub` (the argument types come from tinyllm.cli)."""
    import argparse

    from tinyllm.cli import nonempty
    from tinyllm.prompt import methods as M
    from tinyllm.prompt import tasks

    def at_most(check, limit):          # a count that would allocate without bound is refused up front
        def bounded(text):
            v = check(text)
            if v > limit:
                raise argparse.ArgumentTypeError(f"expected at most {limit:,}, got {v:,}")
            return v
        return bounded

    p = sub.add_parser(
        "prompt", help="prompt learning on a task: zero-shot, few-shot in context, PET, soft prompts, "
                       "AutoPrompt, fine-tuning (article sections 2 and 3.2)",
        description="Run one prompt-learning method on a task and report its accuracy over seeds: "
                    "y* = argmax_y P(y | x, t) (E2.2) against fine-tuning's argmax_y P(y | x) (E2.1).",
        epilog=STEPS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=("run", "grid"), default="run",
                   help="run (default): one method over --seeds; grid: --methods x --ks x --seeds into --out")
    p.add_argument("--task", required=True, choices=tasks.names(),
                   help="step 1, task analysis: which task (tw-* are built from TinyWorld; mr2/mr3 are real "
                        "movie reviews, fetched on first use)")
    p.add_argument("--model", type=nonempty, default=None,
                   help="the pre-trained model: a zoo name (tinyworld-gpt-256, tinyworld-bert-256, ...) or a "
                        "model folder (default: tinyworld-bert-256 for cloze-style methods)")
    p.add_argument("--method", default=None, choices=M.METHODS,
                   help="step 3, inference: zero-shot[-cal] and icl[-cal] train nothing (E2.2, calibration "
                        "S11); head/finetune train a classifier (E2.1); pet trains the model through the "
                        "prompt; soft, soft-random, prefix, p-tuning train a soft prompt (S12); autoprompt "
                        "searches trigger tokens (S13). Default zero-shot")
    p.add_argument("--k", type=at_most(nonneg_int, MAX_EXAMPLES), default=16,
                   help="step 1: labelled examples per class (0 for zero-shot; default 16)")
    p.add_argument("--seeds", type=nonneg_int, nargs="+", default=None,
                   help="step 1/3: seeds, each fixing the sample of K examples and the initialisation "
                        "(default 13 21 42 87 100)")
    p.add_argument("--template", type=nonneg_int, default=0,
                   help="step 2, prompt design: which of the task's templates (0 = its default; "
                        "see --list-templates)")
    p.add_argument("--template-text", help="step 2: your own template, e.g. 'review: {x} it was {mask}.'")
    p.add_argument("--label-words", help="step 2: the verbalizer (S11) as JSON, label -> list of words, in "
                                         "the task's label order")
    p.add_argument("--list-templates", action="store_true", help="print the task's templates and exit")
    p.add_argument("--n-test", type=at_most(positive_int, MAX_EXAMPLES), default=500, help="step 5: test examples scored (default 500)")
    g = p.add_argument_group("training (step 3, methods that train; defaults: tinyllm.prompt.methods.HYPERPARAMETERS)")
    g.add_argument("--steps", type=positive_int, help="AdamW steps")
    g.add_argument("--lr", type=positive_float, help="learning rate")
    from tinyllm.prompt.pet import MAX_BATCH

    g.add_argument("--batch-size", type=at_most(positive_int, MAX_BATCH), help="examples per step")
    p.add_argument("--json", action="store_true", help="print every result row as JSON too")
    g = p.add_argument_group("grid (tinyllm prompt grid)")
    g.add_argument("--methods", nargs="+", choices=M.METHODS, help="methods of the grid (default: all that apply)")
    g.add_argument("--ks", type=at_most(nonneg_int, MAX_EXAMPLES), nargs="+", default=None,
                   help="examples per class (default 0 4 8 16 32 64 256)")
    g.add_argument("--quick", action="store_true",
                   help="the quick grid (CI, chapter 05): methods zero-shot zero-shot-cal head pet soft, "
                        "K 0 8 64, seeds 13 21 42; not combinable with --methods/--ks/--seeds")
    g.add_argument("--out", help="the grid's JSON file (rewritten after every run; runs already in it are skipped)")
    return p


def cmd_prompt(args, out, err, load_model):
    """Run the method over the seeds; the last line is 'accuracy: mean ± std (n seeds)'."""
    from tinyllm.prompt import methods as M
    from tinyllm.prompt.metrics import aggregate

    from tinyllm.prompt import grid as G

    if args.action != "grid":     # a grid option would be ignored by a single run without a word
        stray = [f for f, v in (("--methods", args.methods), ("--ks", args.ks), ("--out", args.out)) if v is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)}: options of `tinyllm prompt grid`, not of a single run; "
                             f"write `tinyllm prompt grid ...`, or use --method and --k")
    for flag, values in (("--seeds", args.seeds), ("--ks", args.ks), ("--methods", args.methods)):
        twice = sorted({v for v in values if values.count(v) > 1}) if values else []
        if twice:      # a repeated seed would count twice in the mean ± std as if it were another sample
            raise ValueError(f"{flag}: {', '.join(map(str, twice))} given more than once; each value is one run")
    if args.quick:
        if args.action != "grid":
            raise ValueError("--quick is for 'tinyllm prompt grid'")
        given = [f for f in ("methods", "ks", "seeds") if getattr(args, f) is not None]
        if given:
            raise ValueError(f"--quick fixes the methods, K and seeds: drop --{given[0]}")
        args.methods, args.ks, args.seeds = list(G.QUICK["methods"]), list(G.QUICK["ks"]), list(G.QUICK["seeds"])
    if args.seeds is None:
        args.seeds = list(G.SEEDS)
    if args.ks is None:
        args.ks = list(G.KS)
    name = args.model or "tinyworld-bert-256"
    model, tok = load_model(name)
    kind = M.model_kind(model)
    if args.list_templates:
        for i, (text, words) in enumerate(M.templates(args.task, kind)):
            out.write(f"{i}: {text}   {json.dumps(words)}\n")
        return 0
    # a flag of the other action would be ignored without a word: refuse it instead
    if args.action == "grid":
        stray = [f for f, v in (("--method", args.method), ("--template-text", args.template_text),
                                ("--label-words", args.label_words), ("--steps", args.steps), ("--lr", args.lr),
                                ("--batch-size", args.batch_size)) if v is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)}: not used by `tinyllm prompt grid` (it runs --methods with "
                             f"each method's own template and hyper-parameters); drop them, or use `run`")
        return _grid(args, out, name, model, tok)
    if args.method is None:
        args.method = "zero-shot"
    if args.template_text is not None and not args.template_text.strip():
        raise ValueError("--template-text is empty: write a template with {x} and {mask}, e.g. "
                         "'review: {x} it was {mask}.'")
    ok, why = M.applies(args.method, kind)
    if not ok:
        raise ValueError(f"--method {args.method} does not apply to {name} (a {kind.upper()}): {why}")
    words = None
    if args.label_words is not None:
        try:
            words = json.loads(args.label_words)
        except json.JSONDecodeError as e:
            raise ValueError(f"--label-words is not valid JSON ({e.msg}); write e.g. "
                             "'{\"negative\": [\"bad\"], \"positive\": [\"great\"]}'") from None
        except RecursionError:
            raise ValueError("--label-words is nested too deeply; write e.g. "
                             "'{\"negative\": [\"bad\"], \"positive\": [\"great\"]}'") from None
        if not isinstance(words, dict):
            raise ValueError("--label-words must be a JSON object: label -> list of words")
    overrides = {k: getattr(args, k) for k in ("steps", "lr", "batch_size") if getattr(args, k) is not None}
    if overrides and args.method not in M.TRAINED:
        raise ValueError(f"--steps/--lr/--batch-size: method {args.method} trains nothing")
    k = 0 if args.method in G.ZERO_SHOT else args.k                        # zero-shot uses no examples
    rows = []
    for seed in args.seeds:
        row = M.run(args.method, args.task, model, tok, k, seed, n_test=args.n_test,
                    template=args.template_text if args.template_text is not None else args.template, label_words=words,
                    model_name=name, **overrides)
        rows.append(row)
        out.write(f"seed {seed}: accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  "
                  f"({row['seconds']:.1f} s)\n")
        if args.json:
            out.write(json.dumps(row) + "\n")
    acc = aggregate(rows, key="accuracy")
    std = f" ± {acc['std']:.4f}" if acc["n"] > 1 else ""
    out.write(f"{args.method} on {args.task} with {name}, K={k} per class, template {rows[0]['template']!r}\n")
    out.write(f"accuracy: {acc['mean']:.4f}{std} ({acc['n']} seed{'s' if acc['n'] > 1 else ''})\n")
    return 0


def _grid(args, out, name, model, tok):
    from tinyllm.prompt import methods as M
    from tinyllm.prompt.grid import markdown_table, run_grid

    methods = args.methods or list(M.METHODS)
    if args.out is not None:
        from pathlib import Path

        target = Path(args.out)
        if not str(args.out).strip() or target.is_dir():
            raise ValueError(f"--out: {args.out!r} is {'a folder' if str(args.out).strip() else 'empty'}; "
                             f"give the grid's JSON file, e.g. results/grid.json")
        above = next((p for p in target.parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise ValueError(f"--out: {str(above)!r} is a file, so {args.out!r} cannot be created below it")
        if target.exists():     # its rows of another --n-test would be averaged with these in one table
            from tinyllm.prompt.grid import load_rows

            other = sorted({r["n_test"] for r in load_rows(target)
                            if r["task"] == args.task and r["model"] == name and r["n_test"] != args.n_test})
            if other:
                raise ValueError(f"--out: {args.out} holds {args.task} runs of {name} with --n-test "
                                 f"{', '.join(map(str, other))}, not {args.n_test}: their accuracies would be "
                                 f"averaged with these; use another --out, or the same --n-test")

    def progress(row):
        out.write(f"{row['method']:>14}  K={row['k']:<4} seed={row['seed']:<4} accuracy {row['accuracy']:.4f}  "
                  f"({row['seconds']:.1f} s)\n")

    lock = None
    if args.out is not None:    # two grids on one file would each rewrite it without the other's rows
        from tinyllm.train.runlock import RunLock

        target.parent.mkdir(parents=True, exist_ok=True)
        lock = RunLock(target.parent, name=f".{target.name}.lock", what=str(args.out)).acquire()
    try:
        rows = run_grid(args.task, name, methods, args.ks, args.seeds, out=args.out, n_test=args.n_test,
                        model=model, tokenizer=tok, progress=progress)
    finally:
        if lock is not None:
            lock.release()
    out.write(markdown_table(rows) + "\n")
    return 0
