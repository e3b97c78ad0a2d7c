"""Checkpoints (article §3.2 step 10), written atomically.

A checkpoint is a folder:

    config.json, model.safetensors   the model (``save_pretrained``; loads with ``GPT.from_pretrained``)
    tinyllm_tokenizer.json           the tokenizer (``tokenizer.save``; loads with ``load_tokenizer``)
    tokenizer.json, tokenizer_config.json   the same tokenizer for Hugging Face (AutoTokenizer)
    optimizer.npz                    every optimizer moment, keyed ``<param>::<slot>``
    trainer_state.json               step, optimizer header, RNG and data-iterator state, history

Atomic means that a reader never sees half a checkpoint. Everything is written into a hidden
temporary folder beside the target; only when it is complete does ``os.replace`` move it into place.
A folder cannot be renamed onto a non-empty one, so the old checkpoint is first renamed aside
(``.NAME.old``) and removed after the swap; ``resolve_checkpoint`` falls back to that copy when a
crash landed exactly between the two renames.
"""

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from tinyllm.jsonfile import read_text
from tinyllm.safepaths import folder_file

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.npz"
TOKENIZER_FILE = "tokenizer.json"
# what ``tokenizer.save(folder)`` writes: tinyllm's format and the Hugging Face pair
TOKENIZER_FILES = ("tinyllm_tokenizer.json", TOKENIZER_FILE, "tokenizer_config.json")
STATE_KEYS = ("step", "dtype", "rng", "data", "history", "evals", "best_val_loss", "best_step",
              "bad_evals", "last_loss", "tokens_seen", "train_time")


class CheckpointError(ValueError):
    """A checkpoint that is missing a file or holds a damaged one: resuming from it would not be exact."""


class CheckpointMismatch(CheckpointError):
    """A complete checkpoint of another model than the run's recipe describes (another class, other
    shapes): every checkpoint of the run will fail alike, so the fault is the recipe's."""


def _tmp_name(target, kind):
    return target.parent / f".{target.name}.{kind}-{os.getpid()}"


def atomic_write_dir(target, write):
    """Build a folder with ``write(tmp_folder)`` and move it to ``target`` in one step.

    If ``write`` raises, the temporary folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(target, "tmp")
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        _fsync_dir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_file(path, data):
    """Write ``data`` (bytes or str) to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path, "tmp")
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    try:
        with open(tmp, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def atomic_copy_file(src, dst):
    """Copy ``src`` to ``dst`` so that ``dst`` is always either the old or the new file."""
    dst = Path(dst)
    tmp = _tmp_name(dst, "tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def _fsync_dir(folder):
    for f in Path(folder).iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def resolve_checkpoint(folder):
    """The folder that holds the complete checkpoint named ``folder`` (or None if there is none)."""
    folder = Path(folder)
    if (folder / STATE_FILE).exists() or (folder / "config.json").exists():
        return folder
    old = folder.parent / f".{folder.name}.old"
    if (old / STATE_FILE).exists():
        return old
    return None


def save_checkpoint(folder, model, tokenizer=None, optimizer=None, state=None):
    """Atomically write model, tokenizer, optimizer moments and ``state`` (a JSON-able dict) to ``folder``."""

    def write(tmp):
        model.save_pretrained(tmp, tokenizer=tokenizer)
        full_state = dict(state or {})
        if optimizer is not None:
            header, arrays = optimizer.flat_state()
            with open(tmp / OPTIMIZER_FILE, "wb") as f:
                np.savez(f, **arrays)
            full_state["optimizer"] = dict(header, arrays=sorted(arrays))   # what a load must find
        (tmp / STATE_FILE).write_text(json.dumps(full_state, indent=1), encoding="utf-8")

    atomic_write_dir(folder, write)


def load_checkpoint_state(folder):
    """Read ``trainer_state.json`` and the optimizer arrays of a checkpoint folder.

    Returns ``(state, optimizer_arrays)``; the arrays dict is empty when no optimizer was saved.
    Raises ``CheckpointError`` (naming the file) when the state is missing, truncated or lacks a
    field, or when the optimizer moments it records are missing or damaged: such a checkpoint
    cannot resume exactly, and a silent reset of the moments would be a different run.
    """
    real = resolve_checkpoint(folder)
    if real is None or not (real / STATE_FILE).exists():
        raise CheckpointError(f"checkpoint: no complete checkpoint in {folder} (missing {STATE_FILE})")
    try:                                   # no file of it may be a link out of the checkpoint folder
        for name in (STATE_FILE, OPTIMIZER_FILE):
            folder_file(real, name, "checkpoint file")
    except ValueError as e:
        raise CheckpointError(f"checkpoint: {e}") from None
    try:
        state = json.loads(read_text(real / STATE_FILE, what=STATE_FILE))      # size-bounded, UTF-8
    except (ValueError, RecursionError, OSError) as e:
        raise CheckpointError(f"checkpoint: {real / STATE_FILE} is damaged ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint: {real / STATE_FILE} holds a JSON {type(state).__name__}, "
                              f"expected an object")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint: {real / STATE_FILE} lacks {missing}")
    bad = _bad_state_field(state)
    if bad:
        raise CheckpointError(f"checkpoint: {real / STATE_FILE}: {bad}"[:400])
    header = state.get("optimizer")
    if header is None:
        return state, {}
    path = real / OPTIMIZER_FILE
    if not path.exists():
        raise CheckpointError(f"checkpoint: {path} is missing; the optimizer moments of step "
                              f"{state['step']} are gone")
    try:
        arrays = _load_moments(path, _weights_bytes(real))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as e:
        raise CheckpointError(f"checkpoint: {path} is damaged ({type(e).__name__}: {e})") from None
    expected = header.get("arrays") if isinstance(header, dict) else None
    if expected is not None and sorted(arrays) != sorted(expected):
        lost = sorted(set(expected) - set(arrays))[:3]
        raise CheckpointError(f"checkpoint: {path} lacks {len(set(expected) - set(arrays))} of the "
                              f"{len(expected)} optimizer arrays it should hold (e.g. {lost})")
    if expected is None and int(header.get("t", 0)) > 0 and not arrays:
        raise CheckpointError(f"checkpoint: {path} holds no optimizer moments, but the optimizer "
                              f"had taken {header['t']} steps")
    return state, arrays


def _is_int(v, low=0):
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _bad_state_field(state):
    """What is wrong with a trainer_state.json's fields (None when they are all well formed)."""
    if not _is_int(state["step"]):
        return f"step must be an int >= 0, got {state['step']!r}"
    for key in ("history", "evals"):
        v = state[key]
        if not isinstance(v, list) or not all(isinstance(e, dict) for e in v):
            return f"{key} must be a list of objects, got {v!r}"
    for key in ("bad_evals", "tokens_seen"):
        if not _is_int(state[key]):
            return f"{key} must be an int >= 0, got {state[key]!r}"
    if state["best_step"] is not None and not _is_int(state["best_step"]):
        return f"best_step must be null or an int >= 0, got {state['best_step']!r}"
    for key in ("best_val_loss", "last_loss"):
        if state[key] is not None and not _is_number(state[key]):
            return f"{key} must be null or a number, got {state[key]!r}"
    if not _is_number(state["train_time"]) or not state["train_time"] >= 0:
        return f"train_time must be a number >= 0, got {state['train_time']!r}"
    if not isinstance(state["rng"], dict) or not isinstance(state["data"], dict):
        return "rng and data must be objects (the saved generator and data positions)"
    return None


def _weights_bytes(folder):
    path = Path(folder) / "model.safetensors"
    return path.stat().st_size if path.is_file() else 0


def _load_moments(path, weights_bytes):
    """The arrays of an optimizer.npz, each header checked before its data is read: a float dtype
    (a bool or int 'moment' would be cast silently) and, together, no more than a few times the
    model's own bytes (a crafted shape of 10**12 is refused, not allocated). Non-finite moments
    are refused too: resuming from them would continue a diverged run as if it were healthy."""
    limit = 4 * weights_bytes + 1024 * 1024
    arrays, total = {}, 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(f)
            if dtype.kind != "f":
                raise ValueError(f"array {name!r} has dtype {dtype}, expected floating-point moments")
            total += int(np.prod(shape, dtype=object)) * dtype.itemsize
            if total > limit:
                raise ValueError(f"arrays larger than the model allows ({total:,} bytes after {name!r}, "
                                 f"model.safetensors holds {weights_bytes:,})")
    with np.load(path, allow_pickle=False) as z:
        for k in z.files:
            arrays[k] = z[k]
            if not np.all(np.isfinite(arrays[k])):
                raise ValueError(f"array {k!r} holds NaN or infinite values")
    return arrays


def rng_state(rng):
    """The JSON-able state of a ``np.random.Generator``."""
    return rng.bit_generator.state


def set_rng_state(rng, state):
    """Restore a state from ``rng_state`` into ``rng`` (same bit generator kind)."""
    rng.bit_generator.state = state
