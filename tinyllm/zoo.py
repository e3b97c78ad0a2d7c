"""The model zoo: small pre-trained models that train themselves once, on first use.

    model, tokenizer = tinyllm.pretrained("tinyworld-gpt")     # GPT, causal LM on TinyWorld
    model, tokenizer = tinyllm.pretrained("tinyworld-bert")    # BERT, masked LM on TinyWorld
    model, tokenizer = tinyllm.pretrained("tinyworld-gpt-256")  # context 256, packed: prompts with demonstrations
    model, tokenizer = tinyllm.pretrained("tinyworld-bert-256") # context 256, packed, 40% masking: a cloze model

Each model is defined by a fixed recipe (``RECIPES``: the pre-training run of article section 3.2
that makes it). tinyllm ships the weights those recipes produced (``tinyllm/zoo_weights/NAME``,
about 2.3 MB each, listed with their checksums in ``zoo_weights/manifest.json``): they are the
weights every committed result in ``results/`` was computed on, so those results rerun to the same
numbers on any machine. The first call copies them into ``$TINYLLM_HOME/models/NAME`` (default
``~/.cache/tinyllm``); later calls just load them from there.

``pretrained(NAME, retrain=True)`` (or a recipe that no longer matches the shipped weights' own
``recipe.json``) trains the model on this machine instead: a few minutes to a quarter of an hour on
a laptop CPU. The build happens in a temporary folder that is renamed into place when it is
complete, so an interrupted first call leaves nothing half-built behind.

A build always runs with ``BUILD_THREADS`` BLAS and OpenMP threads, whatever the machine or the
environment says: float32 sums split over a different number of threads round differently, and
after thousands of steps two such runs end with visibly different models (measured: the gradient
norm differs in the 8th digit at step 10, and the trained models' few-shot accuracies differ by
seeds' worth of noise). With the count fixed, a zoo model is the same bits on every machine with
the same code and CPU instruction set, so results computed on it (``results/``) can be rerun. The
count is ``BUILD_THREADS`` (two) for every model but those of ``RECIPE_THREADS``: one for
``tinyworld-bert-256``, whose recipe was found on a one-thread run (and takes about 40 minutes).
"""

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from tinyllm.train.pretrain import RECIPE_FILE, Recipe

BUILD_THREADS = 2      # threads of a zoo build (see the module docstring) ...
RECIPE_THREADS = {"tinyworld-bert-256": 1}   # ... but these: the runs their recipe was chosen on


def build_threads(name):
    """The BLAS/OpenMP thread count the zoo model ``name`` is built with (fixed per model)."""
    return RECIPE_THREADS.get(name, BUILD_THREADS)

# The fixed recipes: the command line's defaults, seed 0.
RECIPES = {
    "tinyworld-gpt": Recipe(model="gpt", corpus="tinyworld", seed=0),
    "tinyworld-bert": Recipe(model="bert", corpus="tinyworld", seed=0),
    # Models for prompting: context 256, documents packed (README "Models for prompting"). The BERT
    # alternates packed batches with one-document batches and masks 40% of the tokens instead of the
    # article's 15%: measured in benchmarks/bert_mask_rate.py (see the README).
    "tinyworld-gpt-256": Recipe(model="gpt", corpus="tinyworld", max_len=256, pack=True, batch_size=8,
                                steps=2500, n_train_docs=100000, seed=0),
    # Its learning rate is a constant 5e-4 for 28,000 steps, on one thread (RECIPE_THREADS): only then
    # does it learn which adjectives share a polarity (the probe of benchmarks/bert_polarity.py flips
    # after step 22,000; the first recipe, lr 2e-3 decaying over 5,000 steps, stayed at chance).
    "tinyworld-bert-256": Recipe(model="bert", corpus="tinyworld", max_len=256, pack=True, pack_mix=True,
                                 batch_size=4, single_batch_size=32, steps=28000, lr=5e-4, min_lr=5e-4,
                                 n_train_docs=100000, mask_prob=0.4, seed=0),
}


SHIPPED = Path(__file__).resolve().parent / "zoo_weights"   # the weights shipped with tinyllm
SHIPPED_FILES = ("config.json", "model.safetensors", "tinyllm_tokenizer.json", "tokenizer.json",
                 "tokenizer_config.json", RECIPE_FILE, "metrics.json")


def model_dir(name):
    """Where the zoo model ``name`` lives (whether or not it is built yet)."""
    from tinyllm.data.fetch import tinyllm_home

    return tinyllm_home() / "models" / name


def load_folder(folder, dtype=np.float32, stream=None):
    """(model, tokenizer) from a folder with config.json, model.safetensors and a tokenizer;
    GPT or BERT is read from the config's ``model_type``. The config's bos/eos/pad token ids must
    be ids of the model (Hugging Face ``generate`` stops at eos_token_id). A tokenizer with fewer
    ids than the model has embedding rows (a vocabulary padded to a round size) is accepted, and
    said on ``stream`` when one is given: generation then never emits the rows without a token."""
    from tinyllm.data import load_tokenizer
    from tinyllm.models import BERT, GPT

    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"folder: {folder} has no config.json; is it a tinyllm model folder?")
    from tinyllm.jsonfile import read_json

    config = read_json(config_file, "config.json", max_bytes=1024 * 1024)
    model_type = config.get("model_type", "gpt2")
    if not isinstance(model_type, str):
        raise ValueError(f"config.json: model_type must be a string ('gpt2' or 'bert'), got {model_type!r}")
    cls = {"gpt2": GPT, "bert": BERT}.get(model_type)
    if cls is None:
        raise ValueError(f"config.json: model_type {model_type!r} is neither 'gpt2' nor 'bert'")
    model, tokenizer = cls.from_pretrained(str(folder), dtype=dtype), load_tokenizer(str(folder))
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"folder: {folder}'s tokenizer has {tokenizer.vocab_size:,} ids but its model only "
                         f"{model.config.vocab_size:,} embeddings; the tokenizer belongs to another model")
    V = model.config.vocab_size
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = config.get(key)
        ids = value if isinstance(value, list) else [value]
        if value is not None and not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < V for i in ids):
            raise ValueError(f"{config_file}: {key} = {value!r} is not a token id of this model "
                             f"(0..{V - 1})"[:300])
    if tokenizer.vocab_size < V and stream is not None:
        stream.write(f"note: {folder}'s tokenizer has {tokenizer.vocab_size:,} ids and its model {V:,} "
                     f"embedding rows; ids {tokenizer.vocab_size:,}..{V - 1:,} stand for no token and are "
                     f"never generated\n")
    return model, tokenizer


def _same_recipe(stored, name):
    """True when the recipe dict ``stored`` (a recipe.json) is exactly ``RECIPES[name]`` (the kernel
    backend aside: it changes the speed, not the recipe)."""
    wanted = RECIPES[name].resolved().to_dict()
    return isinstance(stored, dict) and \
        {k: v for k, v in stored.items() if k != "backend"} == {k: v for k, v in wanted.items() if k != "backend"}


def shipped(name):
    """The folder of the weights shipped with tinyllm for zoo model ``name`` when they were trained
    by exactly ``RECIPES[name]`` and every file is the one the manifest names (sha256), else None."""
    folder = SHIPPED / name
    try:
        manifest = json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))
        entry = manifest["models"][name]
        recipe = json.loads((folder / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _same_recipe(recipe, name):
        return None
    for file in SHIPPED_FILES:
        path = folder / file
        if path.is_symlink() or not path.is_file() or path.stat().st_size != entry["files"][file]["bytes"]:
            return None
        if _sha256(path) != entry["files"][file]["sha256"]:
            return None
    return folder


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def install_shipped(name):
    """Copy the shipped weights of ``name`` into the cache (a temporary folder renamed into place).
    Returns the cache folder, or None when tinyllm ships no usable weights for ``name``."""
    source, final = shipped(name), model_dir(name)
    if source is None:
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{name}.install-{os.getpid()}"
    try:
        tmp.mkdir()
        for file in SHIPPED_FILES:
            shutil.copyfile(source / file, tmp / file)
        if not final.exists():                                   # else another process finished first
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def pretrained(name, progress=True, retrain=False, stream=None):
    """(model, tokenizer) of the zoo model ``name``: the shipped weights on first use, copied into
    the cache, or, with ``retrain``, the model trained again on this machine by ``RECIPES[name]``.

    ``progress`` says on ``stream`` (default stderr) which of the two happens, and before a build
    that it will take minutes, and shows the training progress bar. A ``tinyllm demo`` run adopts
    its model into the cache (``adopt``), so after the demo ``pretrained("tinyworld-gpt")`` loads it.
    """
    if name not in RECIPES:
        raise ValueError(f"name: unknown zoo model {name!r}; available: {sorted(RECIPES)}")
    final = model_dir(name)
    if retrain and final.exists():
        shutil.rmtree(final)
    if not (final / "model.safetensors").exists() and not retrain and install_shipped(name) is not None:
        if progress:
            (stream or sys.stderr).write(
                f"zoo: {name}: the weights shipped with tinyllm (trained by its recipe; the ones results/ "
                f"was computed on) are now in {final}; pretrained({name!r}, retrain=True) trains it "
                f"again on this machine\n")
    if not (final / "model.safetensors").exists():
        if progress:
            r = RECIPES[name].resolved()
            (stream or sys.stderr).write(
                f"zoo: {name} is not in the cache yet: training it once now ({r.steps} steps of its fixed "
                f"recipe, a few minutes on a laptop CPU); later calls load it from {final}\n")
        build(name, progress=progress)
    try:
        return load_folder(final)
    except (ValueError, TypeError, OSError) as e:     # a damaged cache: say how to get a good one
        raise ValueError(f"zoo: the cached {name} in {final} cannot be loaded ({e}); delete that folder "
                         f"and it is rebuilt on next use (or call pretrained({name!r}, retrain=True))") from None


def adopt(name, folder):
    """Copy the finished run in ``folder`` into the cache as zoo model ``name`` when it was trained
    with exactly ``RECIPES[name]`` (the demo's recipe is tinyworld-gpt's) and the cache has none.
    Returns the cache folder, or None when nothing was adopted. Nothing is adopted while tinyllm
    ships weights for ``name``: those are the zoo's (the ones ``results/`` was computed on), and a
    run on another CPU instruction set ends with slightly different bits."""
    folder, final = Path(folder), model_dir(name)
    if final.exists() or not (folder / "model.safetensors").exists() or shipped(name) is not None:
        return None
    try:
        recipe = json.loads((folder / RECIPE_FILE).read_text(encoding="utf-8"))
        status = json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    if not _same_recipe(recipe, name) or status != "completed":
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{name}.adopt-{os.getpid()}"
    try:
        shutil.copytree(folder, tmp, ignore=lambda d, names: [n for n in names if n == "checkpoints"
                                                               or n.startswith(".")])
        if final.exists():                                       # another process finished first
            return None
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def build(name, progress=True):
    """Train ``RECIPES[name]`` into a temporary folder and move it into the cache when done."""
    from tinyllm.train.pretrain import pretrain

    final = model_dir(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{name}.build-{os.getpid()}"
    from threadpoolctl import threadpool_limits

    import tinyllm.kernels  # noqa: F401  (loads the OpenMP kernels, so that the limit reaches them too)
    from tinyllm import runtime

    runtime.keep_freed_memory()   # a build reuses its freed pages, as `tinyllm pretrain` does (3x fewer faults)

    try:
        with threadpool_limits(build_threads(name)):             # the same bits on any machine
            result, _, _ = pretrain(RECIPES[name], tmp, force=True, progress=progress)
        if result.status not in ("completed", "early_stopped"):
            raise RuntimeError(f"zoo: building {name!r} stopped ({result.status}): {result.message}")
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)   # the zoo keeps only the model
        if final.exists():                                       # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
