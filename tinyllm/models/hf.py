"""Hugging Face checkpoints: the only place where HF parameter names and layouts appear.

A checkpoint is a folder with ``config.json`` and ``model.safetensors`` (or shards listed in
``model.safetensors.index.json``). This module translates between HF state dicts and tinyllm's
``params`` (article names, every weight stored as (C_in, C_out) so that y = x W + b, E3.1):

- GPT-2 (GPT2LMHeadModel / GPT2Model): Conv1D weights are already (in, out); the fused
  ``attn.c_attn`` (C, 3C) splits into W_Q, W_K, W_V; the LM head is tied to ``wte`` (S8).
- BERT (BertForMaskedLM / BertModel): nn.Linear weights are (out, in) and are transposed; the MLM
  decoder is tied to the word embeddings and only its bias is stored. A BertModel folder has no MLM
  head and loads as an encoder only.

Keys may carry the ``transformer.`` / ``bert.`` prefix or not. Buffers and heads tinyllm does not use
(position_ids, attention bias buffers, the BERT pooler, the NSP head) are skipped and reported.
"""

import json
import os

import numpy as np

from tinyllm.jsonfile import read_json
from tinyllm.models.base import check_dtype
from tinyllm.models.safetensors_io import load_file, save_file
from tinyllm.safepaths import folder_file

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
MAX_CONFIG_BYTES = 1024 * 1024   # a real config.json is ~1 KB

# tinyllm suffix, HF suffix, transpose? -- one Transformer block, excluding GPT-2's fused c_attn.
_GPT_BLOCK = [
    ("ln_1.gamma", "ln_1.weight", False),
    ("ln_1.beta", "ln_1.bias", False),
    ("attn.W_O", "attn.c_proj.weight", False),
    ("attn.b_O", "attn.c_proj.bias", False),
    ("ln_2.gamma", "ln_2.weight", False),
    ("ln_2.beta", "ln_2.bias", False),
    ("ffn.W_1", "mlp.c_fc.weight", False),
    ("ffn.b_1", "mlp.c_fc.bias", False),
    ("ffn.W_2", "mlp.c_proj.weight", False),
    ("ffn.b_2", "mlp.c_proj.bias", False),
]
_GPT_TOP = [
    ("tok_emb", "wte.weight", False),
    ("pos_emb", "wpe.weight", False),
    ("ln_f.gamma", "ln_f.weight", False),
    ("ln_f.beta", "ln_f.bias", False),
]
_BERT_BLOCK = [
    ("attn.W_Q", "attention.self.query.weight", True),
    ("attn.b_Q", "attention.self.query.bias", False),
    ("attn.W_K", "attention.self.key.weight", True),
    ("attn.b_K", "attention.self.key.bias", False),
    ("attn.W_V", "attention.self.value.weight", True),
    ("attn.b_V", "attention.self.value.bias", False),
    ("attn.W_O", "attention.output.dense.weight", True),
    ("attn.b_O", "attention.output.dense.bias", False),
    ("ln_1.gamma", "attention.output.LayerNorm.weight", False),
    ("ln_1.beta", "attention.output.LayerNorm.bias", False),
    ("ffn.W_1", "intermediate.dense.weight", True),
    ("ffn.b_1", "intermediate.dense.bias", False),
    ("ffn.W_2", "output.dense.weight", True),
    ("ffn.b_2", "output.dense.bias", False),
    ("ln_2.gamma", "output.LayerNorm.weight", False),
    ("ln_2.beta", "output.LayerNorm.bias", False),
]
_BERT_TOP = [
    ("tok_emb", "embeddings.word_embeddings.weight", False),
    ("pos_emb", "embeddings.position_embeddings.weight", False),
    ("seg_emb", "embeddings.token_type_embeddings.weight", False),
    ("emb_ln.gamma", "embeddings.LayerNorm.weight", False),
    ("emb_ln.beta", "embeddings.LayerNorm.bias", False),
]
_BERT_HEAD = [
    ("mlm.dense.W", "cls.predictions.transform.dense.weight", True),
    ("mlm.dense.b", "cls.predictions.transform.dense.bias", False),
    ("mlm.ln.gamma", "cls.predictions.transform.LayerNorm.weight", False),
    ("mlm.ln.beta", "cls.predictions.transform.LayerNorm.bias", False),
    ("mlm.out_bias", "cls.predictions.bias", False),
]
# Stored by some checkpoints, not parameters of the architecture tinyllm implements.
_GPT_SKIP_SUFFIXES = (".attn.bias", ".attn.masked_bias")
_BERT_SKIP_PREFIXES = ("embeddings.position_ids", "pooler.", "cls.seq_relationship.")


# ---------------------------------------------------------------- folders


def read_folder(folder):
    """-> (config.json dict, HF state dict name -> ndarray) of a checkpoint folder.

    Every file is checked before it is used: none may be a symbolic link out of ``folder``
    (``tinyllm.safepaths``; a Hugging Face hub cache snapshot's links into its blobs are fine);
    config.json must be a JSON object; a sharded checkpoint's index must map tensor names to shard
    files inside ``folder`` (no paths out of it), and no tensor may appear in two shards; the
    safetensors files themselves are validated by the ``safetensors`` package (offsets, dtypes,
    sizes; no overlapping or aliased tensors).
    """
    folder = os.fspath(folder)
    cfg_path = folder_file(folder, CONFIG_NAME, "model file")
    if not os.path.isfile(cfg_path):
        raise FileNotFoundError(f"{folder!r} is not a checkpoint folder: no {CONFIG_NAME}")
    hf_config = read_json(cfg_path, CONFIG_NAME, max_bytes=MAX_CONFIG_BYTES)
    single = folder_file(folder, WEIGHTS_NAME, "model file")
    index = folder_file(folder, INDEX_NAME, "model file")
    if os.path.isfile(single):
        state, _ = load_file(single)
    elif os.path.isfile(index):
        state = {}
        for shard in _shards(folder, index):
            part, _ = load_file(os.path.join(folder, shard))
            twice = sorted(set(part) & set(state))
            if twice:
                raise ValueError(f"{folder!r}: tensors {twice[:5]} appear in more than one shard")
            state.update(part)
    elif os.path.lexists(single):
        raise ValueError(f"{single!r} is not a regular file (a folder, a device or a dangling link); "
                         f"expected the safetensors weights")
    else:
        present = sorted(os.listdir(folder))
        raise FileNotFoundError(
            f"{folder!r} has no {WEIGHTS_NAME} (files: {present}); tinyllm reads safetensors only. "
            "Convert a pytorch_model.bin with transformers: "
            "AutoModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)"
        )
    _check_finite(state, folder)
    return hf_config, state


def _check_finite(state, folder):
    """ValueError naming the first weight that holds NaN or inf: such a checkpoint (damaged, or
    saved by a run that diverged) would otherwise load and generate nonsense without a word.
    Buffers tinyllm skips (attention masks, position ids) are not checked."""
    for name, value in state.items():
        if name.endswith(_GPT_SKIP_SUFFIXES) or any(p in name for p in _BERT_SKIP_PREFIXES):
            continue
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{folder!r}: weight {name!r} holds NaN or infinite values; the checkpoint "
                             f"is damaged or was saved by a run that diverged")


def _shards(folder, index):
    """The shard file names of a ``model.safetensors.index.json``, each a file inside ``folder``."""
    weight_map = read_json(index, INDEX_NAME).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{index!r}: 'weight_map' must be a non-empty object {{tensor name: shard file}}")
    shards = set()
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard.endswith(".safetensors"):
            raise ValueError(f"{index!r}: tensor {name!r} maps to {shard!r}, expected a .safetensors file name")
        if os.path.isabs(shard) or "/" in shard or "\\" in shard:
            raise ValueError(f"{index!r}: shard {shard!r} of tensor {name!r} is not a file inside the "
                             f"checkpoint folder; refusing to read outside it")
        path = folder_file(folder, shard, f"shard of tensor {name!r} (in {INDEX_NAME}),")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{index!r}: shard {shard!r} of tensor {name!r} does not exist")
        shards.add(shard)
    return sorted(shards)


def config_from_hf(config_cls, hf_config, folder, state=None):
    """``config_cls.from_hf(hf_config)`` with any error naming the folder's config.json.

    With the checkpoint's ``state``, a config that needs far more weights than the checkpoint holds
    (a crafted ``n_layer`` of a billion, say) is refused before anything of its size is built."""
    path = os.path.join(os.fspath(folder), CONFIG_NAME)
    try:
        config = config_cls.from_hf(hf_config)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{path}: {e}") from None
    if state is not None:
        C, L = config.d_model, config.n_layer
        needed = (config.vocab_size + config.max_len) * C + L * (4 * C * C + 2 * C * config.d_ff)
        stored = sum(int(v.size) for v in state.values())
        if needed > 4 * stored + 1_000_000:     # a near miss gets the list of missing keys instead
            raise ValueError(f"{path}: describes a model with at least {needed:,} weights, but the "
                             f"checkpoint holds only {stored:,} values; config and weights do not match")
    return config


def special_token_ids(tokenizer):
    """The bos/eos/pad token ids of ``tokenizer`` for config.json (Hugging Face ``generate`` stops at
    eos_token_id and pads with pad_token_id)."""
    return {"bos_token_id": tokenizer.bos_id, "eos_token_id": tokenizer.eos_id,
            "pad_token_id": tokenizer.pad_id}


def write_folder(folder, hf_config, state, tokenizer=None, framing=None):
    """Write config.json and model.safetensors (each atomically) into `folder`, creating it.

    With a ``tokenizer``, its files go beside them (``tokenizer.save(folder, framing)``: the Hugging
    Face tokenizer.json among them) and config.json gets its bos/eos/pad token ids."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    if tokenizer is not None:
        hf_config = {**hf_config, **special_token_ids(tokenizer)}
        tokenizer.save(folder, framing=framing)
    save_file(state, os.path.join(folder, WEIGHTS_NAME), metadata={"format": "pt"})
    tmp = os.path.join(folder, "." + CONFIG_NAME + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(hf_config, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(folder, CONFIG_NAME))


# config.json's "dtype" (transformers >= 4.56) or "torch_dtype": the precision the weights are stored in
HF_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


def stored_dtype(hf_config, folder):
    """The float precision a config.json says its weights are stored in (None when it does not say).

    Anything else (an integer type, float8, a quantization_config) is a quantized checkpoint,
    which tinyllm cannot compute with: a ValueError naming the file."""
    path = os.path.join(os.fspath(folder), CONFIG_NAME)
    if hf_config.get("quantization_config") is not None:
        q = hf_config["quantization_config"]
        method = q.get("quant_method") if isinstance(q, dict) else q
        raise ValueError(f"{path}: a quantized checkpoint (quantization_config {str(method)[:40]!r}); tinyllm "
                         f"loads float weights only (float16, bfloat16, float32 or float64)")
    found = None
    for key in ("dtype", "torch_dtype"):
        value = hf_config.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or value.removeprefix("torch.") not in HF_FLOAT_DTYPES:
            raise ValueError(f"{path}: {key} = {str(value)[:40]!r} is not a float dtype tinyllm can load; "
                             f"expected one of {list(HF_FLOAT_DTYPES)}")
        found = found or value.removeprefix("torch.")
    return found


def compute_dtype(dtype, hf_config, folder):
    """The NumPy dtype a checkpoint is loaded in: ``dtype`` (float32 or float64), or with "auto" the
    stored precision when NumPy computes in it (float64), else float32 (float16 and bfloat16
    weights are widened: tinyllm computes in float32 or float64 only)."""
    stored = stored_dtype(hf_config, folder)
    if isinstance(dtype, str) and dtype == "auto":
        return np.dtype(np.float64 if stored == "float64" else np.float32)
    return check_dtype(dtype)


def converted(params, dtype, folder):
    """Every array of ``params`` as a C-contiguous array of ``dtype``. A weight too large for it (a
    float64 checkpoint's 1e300 becomes inf in float32) is a ValueError naming it, not an inf."""
    out = {}
    with np.errstate(over="ignore"):
        for name, value in params.items():
            out[name] = np.ascontiguousarray(value, dtype=dtype)
            if not np.isfinite(out[name]).all():
                raise ValueError(f"{folder!r}: weight {name!r} ({value.dtype}) has values beyond the range "
                                 f"of {np.dtype(dtype)}; load it with dtype=np.float64")
    return out


def hf_dtype_name(dtype):
    """NumPy float dtype -> the "dtype"/"torch_dtype" string of config.json."""
    return {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.float16): "float16"}[
        np.dtype(dtype)
    ]


# ---------------------------------------------------------------- helpers


def _strip_prefix(state, prefix):
    """Remove `prefix` from every key that has it; keys of the other layout are kept unchanged."""
    if any(k.startswith(prefix) for k in state):
        return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}
    return dict(state)


def _take(state, hf_key, shape, transpose, used):
    """Pop one HF tensor, check its shape, return it in tinyllm layout."""
    if hf_key not in state:
        return None
    arr = state[hf_key]
    if arr.dtype.kind != "f":
        raise ValueError(f"checkpoint tensor {hf_key!r} has dtype {arr.dtype}; a weight must be stored "
                         f"as a float (F16, BF16, F32 or F64), not cast silently from integers or booleans")
    expected = tuple(shape[::-1]) if transpose else tuple(shape)
    if tuple(arr.shape) != expected:
        raise ValueError(
            f"checkpoint tensor {hf_key!r} has shape {tuple(arr.shape)}, expected {expected} for this config"
        )
    used.add(hf_key)
    return np.ascontiguousarray(arr.T) if transpose else arr


def _fill(params, state, table, shapes, prefix_t, prefix_hf, used, missing):
    for t_name, hf_name, transpose in table:
        arr = _take(state, prefix_hf + hf_name, shapes[prefix_t + t_name], transpose, used)
        if arr is None:
            missing.append(prefix_hf + hf_name)
        else:
            params[prefix_t + t_name] = arr


def _check_leftovers(state, used, missing, skip):
    """Raise on missing or unexpected keys; return the skipped ones."""
    skipped = sorted(k for k in state if k not in used and skip(k))
    unexpected = sorted(k for k in state if k not in used and not skip(k))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        raise ValueError("checkpoint does not match the config: " + "; ".join(parts))
    return skipped


# ---------------------------------------------------------------- GPT-2


def gpt_params_from_hf(state, cfg, shapes):
    """HF GPT2LMHeadModel / GPT2Model state dict -> (tinyllm params, skipped HF keys).

    `shapes` maps every tinyllm parameter name to its shape (from a freshly built model).
    """
    state = _strip_prefix(state, "transformer.")
    C = cfg.d_model
    params, used, missing = {}, set(), []
    _fill(params, state, _GPT_TOP, shapes, "", "", used, missing)
    for i in range(cfg.n_layer):
        _fill(params, state, _GPT_BLOCK, shapes, f"h.{i}.", f"h.{i}.", used, missing)
        w = _take(state, f"h.{i}.attn.c_attn.weight", (C, 3 * C), False, used)
        b = _take(state, f"h.{i}.attn.c_attn.bias", (3 * C,), False, used)
        if w is None or b is None:
            missing += [k for k, a in ((f"h.{i}.attn.c_attn.weight", w), (f"h.{i}.attn.c_attn.bias", b)) if a is None]
            continue
        # c_attn computes [Q | K | V] = x W_c + b_c in one matmul (E3.1); split it column-wise.
        for j, s in enumerate("QKV"):
            params[f"h.{i}.attn.W_{s}"] = np.ascontiguousarray(w[:, j * C : (j + 1) * C])
            params[f"h.{i}.attn.b_{s}"] = b[j * C : (j + 1) * C].copy()
    if "lm_head.weight" in state:
        head = state["lm_head.weight"]
        if "tok_emb" in params and not np.array_equal(head, params["tok_emb"]):
            raise ValueError(
                "checkpoint tensor 'lm_head.weight' differs from 'wte.weight': tinyllm's GPT ties the LM head (S8)"
            )
        used.add("lm_head.weight")
    skipped = _check_leftovers(state, used, missing, lambda k: k.endswith(_GPT_SKIP_SUFFIXES))
    return params, skipped


def gpt_params_to_hf(params, cfg):
    """tinyllm GPT params -> HF GPT2LMHeadModel state dict (tied head not stored, as transformers does)."""
    state = {}
    for t_name, hf_name, _ in _GPT_TOP:
        state["transformer." + hf_name] = params[t_name]
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        for t_name, hf_name, _ in _GPT_BLOCK:
            state["transformer." + p + hf_name] = params[p + t_name]
        state[f"transformer.h.{i}.attn.c_attn.weight"] = np.concatenate(
            [params[p + "attn.W_Q"], params[p + "attn.W_K"], params[p + "attn.W_V"]], axis=1
        )
        state[f"transformer.h.{i}.attn.c_attn.bias"] = np.concatenate(
            [params[p + "attn.b_Q"], params[p + "attn.b_K"], params[p + "attn.b_V"]]
        )
    return state


# ---------------------------------------------------------------- BERT


def _bert_legacy_names(state):
    """Old TF-converted checkpoints name LayerNorm parameters gamma/beta; transformers renames them too."""
    out = {}
    for k, v in state.items():
        if k.endswith(".gamma"):
            k = k[: -len(".gamma")] + ".weight"
        elif k.endswith(".beta"):
            k = k[: -len(".beta")] + ".bias"
        out[k] = v
    return out


def bert_params_from_hf(state, cfg, shapes):
    """HF BertForMaskedLM / BertModel state dict -> (tinyllm params, has_mlm_head, skipped HF keys).

    `shapes` maps every tinyllm parameter name (MLM head included) to its shape.
    """
    state = _bert_legacy_names(_strip_prefix(state, "bert."))
    params, used, missing = {}, set(), []
    _fill(params, state, _BERT_TOP, shapes, "", "", used, missing)
    for i in range(cfg.n_layer):
        _fill(params, state, _BERT_BLOCK, shapes, f"h.{i}.", f"encoder.layer.{i}.", used, missing)
    has_head = any(k.startswith("cls.predictions.") for k in state)
    if has_head:
        if "cls.predictions.bias" not in state and "cls.predictions.decoder.bias" in state:
            state["cls.predictions.bias"] = state.pop("cls.predictions.decoder.bias")
        _fill(params, state, _BERT_HEAD, shapes, "", "", used, missing)
        if "cls.predictions.decoder.bias" in state:
            if "mlm.out_bias" in params and not np.array_equal(state["cls.predictions.decoder.bias"], params["mlm.out_bias"]):
                raise ValueError("checkpoint tensor 'cls.predictions.decoder.bias' differs from 'cls.predictions.bias'")
            used.add("cls.predictions.decoder.bias")
        if "cls.predictions.decoder.weight" in state:
            emb = state.get("embeddings.word_embeddings.weight")
            if emb is not None and not np.array_equal(state["cls.predictions.decoder.weight"], emb):
                raise ValueError(
                    "checkpoint tensor 'cls.predictions.decoder.weight' differs from the word embeddings: "
                    "tinyllm's BERT ties the MLM decoder (S8)"
                )
            used.add("cls.predictions.decoder.weight")
    skipped = _check_leftovers(state, used, missing, lambda k: k.startswith(_BERT_SKIP_PREFIXES))
    return params, has_head, skipped


def bert_params_to_hf(params, cfg, with_mlm_head):
    """tinyllm BERT params -> HF state dict: BertForMaskedLM layout (``bert.`` prefix, ``cls.`` head)
    when `with_mlm_head`, else BertModel layout (no prefix)."""
    prefix = "bert." if with_mlm_head else ""
    state = {}
    for t_name, hf_name, transpose in _BERT_TOP:
        state[prefix + hf_name] = params[t_name]
    for i in range(cfg.n_layer):
        for t_name, hf_name, transpose in _BERT_BLOCK:
            arr = params[f"h.{i}." + t_name]
            state[f"{prefix}encoder.layer.{i}.{hf_name}"] = np.ascontiguousarray(arr.T) if transpose else arr
    if with_mlm_head:
        for t_name, hf_name, transpose in _BERT_HEAD:
            arr = params[t_name]
            state[hf_name] = np.ascontiguousarray(arr.T) if transpose else arr
    return state


# ---------------------------------------------------------------- BERT sequence classification (E2.1)

_BERT_CLASSIFIER = [
    ("pooler.W", "pooler.dense.weight", True),
    ("pooler.b", "pooler.dense.bias", False),
    ("classifier.W", "classifier.weight", True),
    ("classifier.b", "classifier.bias", False),
]


def classifier_config_fields(num_labels):
    """config.json fields of a BertForSequenceClassification with `num_labels` classes."""
    return {
        "architectures": ["BertForSequenceClassification"],
        "id2label": {str(i): f"LABEL_{i}" for i in range(num_labels)},
        "label2id": {f"LABEL_{i}": i for i in range(num_labels)},
        "problem_type": "single_label_classification",
    }


def bert_classifier_params_from_hf(state, cfg, shapes):
    """HF BERT state dict -> (tinyllm classifier params, skipped HF keys, head names it lacks).

    The encoder must be complete; the pooler and classifier are taken when present (with the
    ``bert.`` prefix or not) and otherwise reported, so that the caller keeps its fresh ones. An MLM
    head in the checkpoint is skipped.
    """
    state = _bert_legacy_names(_strip_prefix(state, "bert."))
    head, used, absent = {}, set(), []
    _fill(head, state, _BERT_CLASSIFIER, shapes, "", "", used, absent)
    missing_head = [t for t, h, _ in _BERT_CLASSIFIER if t not in head]
    mlm = {k for k in state if k.startswith("cls.predictions.")}
    rest = {k: v for k, v in state.items() if k not in used and k not in mlm}
    encoder_shapes = {k: v for k, v in shapes.items() if not k.startswith(("pooler.", "classifier."))}
    params, _, skipped = bert_params_from_hf(rest, cfg, encoder_shapes)
    params.update(head)
    return params, sorted(skipped + sorted(mlm)), missing_head


def bert_classifier_params_to_hf(params, cfg):
    """tinyllm classifier params -> HF BertForSequenceClassification state dict."""
    state = {"bert." + k: v for k, v in bert_params_to_hf(params, cfg, with_mlm_head=False).items()}
    for t_name, hf_name, transpose in _BERT_CLASSIFIER:
        arr = params[t_name]
        state[("bert." if hf_name.startswith("pooler.") else "") + hf_name] = (
            np.ascontiguousarray(arr.T) if transpose else arr)
    return state
