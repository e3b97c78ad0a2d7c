"""Saving and loading a prompt alone (S12): its tensors, not the model's.

    folder/prompt.safetensors   the prompt's tensors by name (``prompt_params``; safetensors, numpy)
    folder/prompt.json          template text, verbalizer, peft config, trigger ids, and the base
                                model's class + fingerprint (sha256 of its config) + the vocabulary's hash

A soft prompt is a few thousand numbers trained for one model: loading it onto another model (another
config or vocabulary) is a ValueError. PET trains the model's own weights: its "prompt" tensors are then
all the weights, and ``load_prompt`` builds a new model of the same architecture holding them (the
model passed in is left untouched). The folder is written in a temporary folder beside it and renamed
into place, so an interrupted save leaves nothing half-written.
"""

import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

FORMAT = "tinyllm-prompt"
JSON_NAME, TENSORS_NAME = "prompt.json", "prompt.safetensors"


def vocab_hash(tokenizer):
    """sha256 of the tokenizer's vocabulary (ids in order)."""
    return hashlib.sha256(json.dumps(tokenizer.vocab()).encode("utf-8")).hexdigest()


def save_prompt(prompt_model, folder):
    """Write `prompt_model`'s prompt to `folder` (created or replaced atomically); returns the folder."""
    from safetensors.numpy import save_file

    pm = prompt_model
    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not _replaceable(folder):
        raise FileExistsError(f"{folder!r} exists and is not a saved prompt: choose a new or empty folder")
    peft = None if pm.peft_config is None else pm.peft_config.to_dict()
    meta = {"format": FORMAT, "version": 1, "template": pm.template.text, "verbalizer": pm.verbalizer.to_dict(),
            "peft": peft, "seed": pm.seed, "trigger_ids": list(pm.trigger_ids),
            "pet": not pm.frozen, "model_class": type(pm.model).__name__,
            "model_fingerprint": pm.model.fingerprint(), "vocab_sha256": vocab_hash(pm.tokenizer),
            "tensors": sorted(pm.prompt_params)}
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".prompt-", dir=parent)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in pm.prompt_params.items()},
                  os.path.join(tmp, TENSORS_NAME))
        with open(os.path.join(tmp, JSON_NAME), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, ensure_ascii=False)
        old = None
        if os.path.exists(folder):
            old = tempfile.mkdtemp(prefix=".prompt-old-", dir=parent)
            os.rmdir(old)
            os.rename(folder, old)
        os.rename(tmp, folder)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_prompt(folder, model, tokenizer):
    """A PromptModel on `model` (and `tokenizer`) with the prompt saved in `folder`.

    ValueError when the folder was saved for another model class, config or vocabulary."""
    from safetensors.numpy import load_file

    from tinyllm.prompt.prompt_model import TRIGGER, PromptModel
    from tinyllm.prompt.verbalizer import Verbalizer

    folder = os.fspath(folder)
    path = os.path.join(folder, JSON_NAME)
    if not os.path.isfile(path) or not os.path.isfile(os.path.join(folder, TENSORS_NAME)):
        raise FileNotFoundError(f"{folder!r} holds no saved prompt ({JSON_NAME} + {TENSORS_NAME})")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a tinyllm prompt file")
    if meta["model_class"] != type(model).__name__ or meta["model_fingerprint"] != model.fingerprint():
        raise ValueError(f"the prompt in {folder!r} was trained for another model ({meta['model_class']} "
                         f"{meta['model_fingerprint'][:12]}), not this {type(model).__name__} "
                         f"({model.fingerprint()[:12]}): load it onto the model it was trained with")
    if meta["vocab_sha256"] != vocab_hash(tokenizer):
        raise ValueError(f"the prompt in {folder!r} was saved with another tokenizer vocabulary: "
                         "pass the model's own tokenizer")
    tensors = load_file(os.path.join(folder, TENSORS_NAME))
    if meta["pet"]:
        params = {k: np.ascontiguousarray(v, dtype=model.dtype) for k, v in tensors.items()}
        kwargs = {"mlm_head": model.has_mlm_head} if hasattr(model, "has_mlm_head") else {}
        trained = type(model)(model.config, dtype=model.dtype, params=params, **kwargs)
        trained.training = model.training
        model = trained
    v = meta["verbalizer"]
    verbalizer = Verbalizer(v["label_words"], tokenizer, combine=v["combine"], decoding=v["decoding"])
    peft = None
    if meta["peft"] is not None:
        from tinyllm.prompt.peft import config_from_dict
        peft = config_from_dict(meta["peft"])
    pm = PromptModel(model, tokenizer, meta["template"], verbalizer, peft=peft, seed=meta["seed"])
    if sorted(pm.prompt_params) != sorted(tensors):
        raise ValueError(f"{folder!r} holds tensors {sorted(tensors)} but this prompt has {sorted(pm.prompt_params)}")
    if pm.frozen:
        for k, p in pm.prompt_params.items():
            if tensors[k].shape != p.shape:
                raise ValueError(f"{folder!r}: tensor {k!r} has shape {tensors[k].shape}, the prompt needs {p.shape}")
            p[...] = tensors[k]
        if meta["trigger_ids"]:
            pm.trigger_ids = tokenizer.check_ids(meta["trigger_ids"], "trigger_ids")
            pm.prompt_params[TRIGGER][...] = tensors[TRIGGER]
    return pm


def _replaceable(folder):
    return os.path.isdir(folder) and (not os.listdir(folder) or os.path.isfile(os.path.join(folder, JSON_NAME)))
