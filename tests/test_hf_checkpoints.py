"""Hugging Face checkpoint folders without torch: the key layouts tinyllm accepts (prefix or not, tied
heads stored or not, legacy names, shards, bf16) and the clear errors for mismatched checkpoints."""

import json

import numpy as np
import pytest

from tinyllm import BERT, BERTConfig, GPT, GPTConfig
from tinyllm.models import hf
from tinyllm.models.safetensors_io import load_file, save_file

GCFG = GPTConfig(vocab_size=13, n_layer=2, n_head=2, d_model=8, max_len=10)
BCFG = BERTConfig(vocab_size=13, n_layer=2, n_head=2, d_model=8, max_len=10)
IDX = np.array([[1, 5, 2, 7], [3, 3, 0, 12]])


def _write(folder, config, state):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def _gpt_state():
    m = GPT(GCFG, seed=1, dtype=np.float64)
    return m, hf.gpt_params_to_hf(m.params, GCFG)


def _bert_state(head=True):
    m = BERT(BCFG, seed=2, dtype=np.float64, mlm_head=head)
    return m, hf.bert_params_to_hf(m.params, BCFG, with_mlm_head=head)


def _same(a, b):
    return all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_gpt_layout_variants(tmp_path):
    m, state = _gpt_state()
    stripped = {k[len("transformer."):]: v for k, v in state.items()}          # GPT2Model: no prefix
    stripped["h.0.attn.bias"] = np.tril(np.ones((1, 1, 10, 10)))              # old causal-mask buffers
    stripped["h.0.attn.masked_bias"] = np.array(-1e4)
    loaded = GPT.from_pretrained(_write(tmp_path / "a", GCFG.to_hf(), stripped), dtype=np.float64)
    assert _same(m, loaded) and loaded.skipped_keys == ["h.0.attn.bias", "h.0.attn.masked_bias"]
    state_with_head = dict(state, **{"lm_head.weight": state["transformer.wte.weight"]})
    loaded = GPT.from_pretrained(_write(tmp_path / "b", GCFG.to_hf(), state_with_head), dtype=np.float64)
    np.testing.assert_array_equal(loaded.forward(IDX), m.forward(IDX))


def test_gpt_untied_head_is_refused(tmp_path):
    _, state = _gpt_state()
    state["lm_head.weight"] = state["transformer.wte.weight"] + 1.0
    with pytest.raises(ValueError, match="'lm_head.weight' differs from 'wte.weight'"):
        GPT.from_pretrained(_write(tmp_path, GCFG.to_hf(), state))


def test_missing_unexpected_and_misshaped_keys_are_named(tmp_path):
    _, state = _gpt_state()
    missing = {k: v for k, v in state.items() if k != "transformer.h.1.mlp.c_fc.bias"}
    with pytest.raises(ValueError, match=r"missing keys \['h.1.mlp.c_fc.bias'\]"):
        GPT.from_pretrained(_write(tmp_path / "a", GCFG.to_hf(), missing))
    extra = dict(state, **{"transformer.h.2.ln_1.weight": np.ones(8)})
    with pytest.raises(ValueError, match=r"unexpected keys \['h.2.ln_1.weight'\]"):
        GPT.from_pretrained(_write(tmp_path / "b", GCFG.to_hf(), extra))
    bad = dict(state, **{"transformer.h.0.attn.c_attn.weight": np.ones((8, 8))})
    with pytest.raises(ValueError, match=r"'h.0.attn.c_attn.weight' has shape \(8, 8\), expected \(8, 24\)"):
        GPT.from_pretrained(_write(tmp_path / "c", GCFG.to_hf(), bad))
    wrong_cfg = dict(GCFG.to_hf(), n_layer=3)                                   # config says 3 layers
    with pytest.raises(ValueError, match="missing keys.*h.2.ln_1.weight"):
        GPT.from_pretrained(_write(tmp_path / "d", wrong_cfg, state))


def test_bert_layout_variants(tmp_path):
    m, state = _bert_state()
    legacy = {}
    for k, v in state.items():                     # TF-era names: LayerNorm.gamma/beta, decoder stored
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        legacy[k] = v
    legacy["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    legacy["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
    legacy["bert.embeddings.position_ids"] = np.arange(10)[None]
    loaded = BERT.from_pretrained(_write(tmp_path / "a", BCFG.to_hf(), legacy), dtype=np.float64)
    assert _same(m, loaded) and loaded.has_mlm_head
    assert loaded.skipped_keys == ["embeddings.position_ids"]

    untied = dict(state, **{"cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"] * 2})
    with pytest.raises(ValueError, match="'cls.predictions.decoder.weight' differs from the word embeddings"):
        BERT.from_pretrained(_write(tmp_path / "b", BCFG.to_hf(), untied))

    partial = {k: v for k, v in state.items() if k != "cls.predictions.transform.dense.bias"}
    with pytest.raises(ValueError, match=r"missing keys \['cls.predictions.transform.dense.bias'\]"):
        BERT.from_pretrained(_write(tmp_path / "c", BCFG.to_hf(), partial))


def test_bertmodel_without_head_loads_as_encoder_and_says_so(tmp_path):
    m, state = _bert_state(head=False)
    state["pooler.dense.weight"] = np.zeros((8, 8))
    state["pooler.dense.bias"] = np.zeros(8)
    with pytest.warns(UserWarning, match="no MLM head in the checkpoint"):
        loaded = BERT.from_pretrained(_write(tmp_path, BCFG.to_hf(with_mlm_head=False), state), dtype=np.float64)
    assert not loaded.has_mlm_head and loaded.skipped_keys == ["pooler.dense.bias", "pooler.dense.weight"]
    np.testing.assert_array_equal(loaded.encode(IDX), m.encode(IDX))
    with pytest.raises(RuntimeError, match="use encode"):
        loaded.forward(IDX)


def test_sharded_and_bf16_checkpoints(tmp_path):
    m, state = _gpt_state()
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[:5], "model-00002-of-00002.safetensors": keys[5:]}
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(GCFG.to_hf()))
    for name, ks in shards.items():
        save_file({k: state[k] for k in ks}, tmp_path / name)
    weight_map = {k: name for name, ks in shards.items() for k in ks}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert _same(m, GPT.from_pretrained(tmp_path, dtype=np.float64))

    # bfloat16 on disk (truncated float32): loads as float32 and gives nearly the same logits
    folder = tmp_path / "bf16"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(GCFG.to_hf()))
    header, blobs, off = {}, [], 0
    for k in keys:
        bits = (state[k].astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[k] = {"dtype": "BF16", "shape": list(state[k].shape), "data_offsets": [off, off + len(bits)]}
        blobs.append(bits)
        off += len(bits)
    head = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))
    loaded = GPT.from_pretrained(folder)
    assert loaded.params["tok_emb"].dtype == np.float32
    np.testing.assert_allclose(loaded.forward(IDX), m.forward(IDX), rtol=0.05, atol=0.05)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(GCFG.to_hf()))
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no model.safetensors.*pytorch_model.bin"):
        GPT.from_pretrained(tmp_path)
    _, state = _bert_state()
    folder = _write(tmp_path / "bert", BCFG.to_hf(), state)
    with pytest.raises(ValueError, match="model_type must be 'gpt2'"):
        GPT.from_pretrained(folder)
    with pytest.raises(ValueError, match="model_type must be 'bert'"):
        BERT.from_pretrained(_write(tmp_path / "gpt", GCFG.to_hf(), _gpt_state()[1]))


def test_saved_folder_has_hf_config_and_layout(tmp_path):
    m, _ = _gpt_state()
    m.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"]
    assert cfg["torch_dtype"] == "float64" and cfg["n_embd"] == 8
    state, meta = load_file(tmp_path / "model.safetensors")
    assert meta == {"format": "pt"}
    assert state["transformer.h.0.attn.c_attn.weight"].shape == (8, 24) and "lm_head.weight" not in state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
