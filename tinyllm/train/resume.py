"""Resuming a pre-training run: which settings may change, and which checkpoint to continue from.

A resumed run is the same run: the model, its data and its optimizer are what the run folder's
``recipe.json`` says. Only the length of the run and its learning-rate schedule may change
(``MAY_CHANGE``); ``merge_recipe`` applies those and says so, and refuses any other setting that
differs from the stored one. A checkpoint that cannot resume exactly (a file missing or damaged)
is refused too, and ``refusal`` names the complete checkpoint to use instead. The data must be the
same as well: ``DATA_FILE`` holds a fingerprint of the tokenizer and every encoded token the run
trains and validates on, and a corpus file edited since (or a TinyWorld generated differently by
another tinyllm) is refused instead of resumed on other data.
"""

import hashlib
import json
from dataclasses import fields

import numpy as np

from tinyllm.train.checkpoint import CheckpointError, load_checkpoint_state, resolve_checkpoint

DATA_FILE = "data_fingerprint.json"

# recipe fields a resumed run may change: how long it runs, its schedule, evaluation, the backend
MAY_CHANGE = ("steps", "lr", "min_lr", "warmup", "eval_every", "patience", "backend")
CHECKPOINTS = ("latest", "best")


def flag(field):
    """The command-line flag of a recipe field."""
    return {"n_train_docs": "--train-docs", "n_val_docs": "--val-docs"}.get(field, "--" + field.replace("_", "-"))


def given_fields(recipe):
    """The settings given for a resumed session: a dict as it is, or a Recipe's fields that are set
    and differ from the Recipe defaults."""
    if isinstance(recipe, dict):
        return {k: v for k, v in recipe.items() if v is not None}
    return {f.name: getattr(recipe, f.name) for f in fields(recipe)
            if getattr(recipe, f.name) is not None and getattr(recipe, f.name) != f.default}


def merge_recipe(saved, given):
    """(recipe, notes): the stored recipe ``saved`` with the ``given`` settings in MAY_CHANGE applied,
    and one note per applied change. Raises ValueError naming every other setting that differs."""
    stored = saved.to_dict()
    unknown = sorted(set(given) - set(stored))
    if unknown:
        raise ValueError(f"--resume: unknown recipe settings {unknown}")
    conflicts = [f"{flag(k)} {v} (the run has {stored[k]})" for k, v in given.items()
                 if k not in MAY_CHANGE and v != stored[k]]
    if conflicts:
        allowed = ", ".join(flag(k) for k in MAY_CHANGE)
        raise ValueError(f"--resume: {'; '.join(conflicts)}. A resumed run keeps its model, data and "
                         f"optimizer settings (recipe.json); drop these flags, or start a new run in "
                         f"another folder. Only {allowed} may change on resume.")
    changes = {k: v for k, v in given.items() if k in MAY_CHANGE and v != stored[k]}
    notes = [f"resume: {flag(k)} {v} replaces {stored[k]}" for k, v in changes.items()]
    if changes.keys() & {"steps", "lr", "min_lr", "warmup"}:
        notes.append("resume: the learning-rate schedule is recomputed with these settings, so the run "
                     "no longer matches an uninterrupted one with the old settings")
    return type(saved)(**{**stored, **changes}), notes


def checkpoint_step(folder):
    """The step of a complete checkpoint, or None when it is missing or cannot resume exactly."""
    try:
        state, _ = load_checkpoint_state(folder)
    except (CheckpointError, FileNotFoundError):
        return None
    real = resolve_checkpoint(folder)
    if not ((real / "config.json").exists() and (real / "model.safetensors").exists()):
        return None
    return int(state["step"])


def checkpoint_fits(folder, model):
    """Whether the checkpoint ``folder`` holds a model of ``model``'s class and shapes (so that a
    mismatch is the checkpoint's fault, not the recipe's, when another checkpoint fits)."""
    try:
        state, _ = load_checkpoint_state(folder)
        if state.get("model_class", type(model).__name__) != type(model).__name__:
            return False
        loaded = type(model).from_pretrained(str(resolve_checkpoint(folder)), dtype=model.dtype)
    except (ValueError, TypeError, KeyError, OSError):
        return False
    return all(n in loaded.params and loaded.params[n].shape == p.shape for n, p in model.params.items())


def refusal(out, which, error):
    """A CheckpointError for ``out/checkpoints/which`` that says what is wrong and offers the
    newest complete checkpoint (``--resume best`` or ``--resume latest``) when there is one."""
    others = [(checkpoint_step(out / "checkpoints" / name), name) for name in CHECKPOINTS if name != which]
    others = sorted((s, n) for s, n in others if s is not None)
    if others:
        step, name = others[-1]
        offer = (f"checkpoints/{name} (step {step}) is complete: continue from it with --resume {name}, "
                 f"or start a new run with --force")
    else:
        offer = "no other complete checkpoint is there: start a new run with --force"
    return CheckpointError(f"--resume: checkpoints/{which} in {out} cannot resume exactly: {error}. {offer}")


def data_fingerprint(corpus):
    """sha256 (hex) of what a run learns from: its tokenizer and every token of its training and
    validation documents, in order."""
    h = hashlib.sha256(json.dumps(corpus.tokenizer.to_dict(), sort_keys=True).encode("utf-8"))
    for part in (corpus.train_docs, corpus.val_docs):
        h.update(b"|%d|" % len(part))
        for doc in part:
            ids = np.asarray(doc, dtype="<i8")
            h.update(b"%d:" % ids.size)
            h.update(ids.tobytes())
    return h.hexdigest()


def write_data_fingerprint(out, corpus):
    """Write ``DATA_FILE`` into the run folder ``out`` (at the start of a new run)."""
    from tinyllm.train.checkpoint import atomic_write_file

    atomic_write_file(out / DATA_FILE, json.dumps({"sha256": data_fingerprint(corpus),
                                                   "corpus": corpus.description}, indent=1))


def read_data_fingerprint(out):
    """The stored fingerprint of the run folder ``out``; None for a run written before there was one."""
    from tinyllm.jsonfile import read_json
    from tinyllm.safepaths import folder_file

    path = folder_file(out, DATA_FILE, "run file")
    if not (out / DATA_FILE).exists():
        return None
    sha = read_json(path, DATA_FILE, max_bytes=64 * 1024).get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise ValueError(f"--resume: {path} is damaged (no sha256); start a new run with --force")
    return sha


def check_data(stored, corpus, recipe):
    """Notes (a list) when the run has no stored fingerprint; ValueError when the data differ."""
    if stored is None:
        return [f"resume: this run folder has no {DATA_FILE} (an older tinyllm wrote it); the corpus "
                f"cannot be checked to be the one it was trained on"]
    if data_fingerprint(corpus) != stored:
        raise ValueError(f"--resume: the data are not the ones this run was trained on: the corpus "
                         f"{recipe.corpus!r} now gives other tokens or another vocabulary than at the run's "
                         f"start (the file was edited, or another tinyllm version builds it differently); "
                         f"resuming would continue on other data. Restore the corpus, or start a new run "
                         f"with --force")
    return []
