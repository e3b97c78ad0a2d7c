"""Hostile files: tokenizer files, config.json and safetensors checkpoints that are damaged or crafted.

Each case is a reproducer of issue 11 ("Found"): before the fix it allocated without bound, raised
a traceback from deep inside (TypeError, KeyError, RecursionError, UnicodeDecodeError) or loaded
silently wrong. Now each gives a clear error that names the file, and nothing is built.
"""

import json
import struct
import tracemalloc

import numpy as np
import pytest

from tinyllm.data import BPETokenizer, WordTokenizer, load_tokenizer
from tinyllm.models import GPT, GPTConfig


def _write(path, payload):
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ tokenizer files


def test_bpe_merges_that_double_a_token_are_refused_before_allocating(tmp_path):
    # 516 bytes that asked for a 2**40-byte token
    merges = [[7, 7]] + [[263 + i, 263 + i] for i in range(39)]
    path = _write(tmp_path / "tokenizer.json", {"tinyllm_tokenizer": "bpe", "merges": merges})
    assert path.stat().st_size < 600
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"tokenizer\.json.*merges\[\d+\].*bytes"):
            load_tokenizer(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
    with pytest.raises(ValueError, match=r"merges\[\d+\]"):        # from a folder, as `generate` reads
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("payload, words", [
    ({"tinyllm_tokenizer": ["bpe"]}, "unknown tokenizer kind"),
    ({"tinyllm_tokenizer": None}, "unknown tokenizer kind"),
    ({"tinyllm_tokenizer": "bpe", "merges": [[7, 8, 9]]}, r"merges\[0\] must be a pair"),
    ({"tinyllm_tokenizer": "bpe", "merges": [["a", "b"]]}, r"merges\[0\] must be a pair"),
    ({"tinyllm_tokenizer": "bpe", "merges": {"a": 1}}, "merges must be a list"),
    ({"tinyllm_tokenizer": "bpe", "merges": [[7, True]]}, r"merges\[0\] must be a pair"),
    ({"tinyllm_tokenizer": "char", "chars": ["a"], "specials": "[PAD]"}, "specials must be a list"),
    ({"tinyllm_tokenizer": "word", "words": ["a"], "specials": "[PAD]"}, "specials must be a list"),
    ({"tinyllm_tokenizer": "word", "words": ["a"], "specials": ["[PAD]"]}, r"must include \[UNK\]"),
    ({"tinyllm_tokenizer": "word", "words": "abc"}, "words must be a list"),
    ({"tinyllm_tokenizer": "word", "words": [1, 2]}, r"words\[0\] must be a str"),
    ({"tinyllm_tokenizer": "word", "words": ["a"], "lower": "no"}, "lower must be true or false"),
    ({"tinyllm_tokenizer": "word", "words": ["a"], "bogus": 1}, "unknown keys"),
    ({"tinyllm_tokenizer": "char", "chars": ["ab"]}, "single character"),
    ({"tinyllm_tokenizer": "wordpiece", "vocab": ["[UNK]"], "max_input_chars_per_word": "9"},
     "max_input_chars_per_word"),
    ({"tinyllm_tokenizer": "wordpiece", "vocab": "[UNK]"}, "vocab must be a list"),
])
def test_malformed_tinyllm_tokenizer_files_name_the_file(tmp_path, payload, words):
    path = _write(tmp_path / "tok.json", payload)
    with pytest.raises((ValueError, TypeError), match=words) as e:
        load_tokenizer(path)
    assert "tok.json" in str(e.value)


def test_specials_as_a_string_is_not_five_specials():
    with pytest.raises(TypeError, match="specials must be a list"):
        WordTokenizer(["a"], specials="[PAD]")
    with pytest.raises(TypeError, match="specials must be a list"):
        BPETokenizer(specials="[PAD]")


def test_word_tokenizer_without_unk_never_returns_none_ids():
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        WordTokenizer(["hello"], specials=["[PAD]"])


@pytest.mark.parametrize("content, words", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8 text"),
    (b"{\"tinyllm_tokenizer\": \"char\", \x00}", "NUL bytes|not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"{\"tinyllm_tokenizer\": ", "not valid JSON"),
    (b"[1, 2]", "not a tokenizer file"),
    (b"null", r"not a tokenizer file|\[UNK\]"),
])
def test_binary_or_broken_tokenizer_files_name_the_file(tmp_path, content, words):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as e:
        load_tokenizer(path)
    assert "tokenizer.json" in str(e.value)


def test_oversized_tokenizer_file_is_refused_before_reading(tmp_path, monkeypatch):
    from tinyllm.data import tokenizer_files

    monkeypatch.setattr(tokenizer_files, "MAX_TOKENIZER_BYTES", 100)
    path = tmp_path / "tok.json"
    path.write_text(" " * 101 + "{}")
    with pytest.raises(ValueError, match="more than the 100"):
        load_tokenizer(path)


def test_merges_txt_is_never_read_as_a_bert_vocab(tmp_path):
    path = tmp_path / "merges.txt"
    path.write_text("#version: 0.2\nĠ t\nh e\n", encoding="utf-8")
    with pytest.raises(ValueError, match="GPT-2 merges file"):
        load_tokenizer(path)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "merges.txt").write_text("Ġ t\n", encoding="utf-8")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    (folder / "x.txt").write_text("a b\nc d\n", encoding="utf-8")
    with pytest.raises(ValueError, match="GPT-2 merges file"):
        load_tokenizer(folder / "x.txt")


def test_bad_hf_tokenizer_json_names_the_file(tmp_path):
    path = _write(tmp_path / "tokenizer.json",
                  {"model": {"type": "Unigram", "vocab": [["a", 0.0]]}, "added_tokens": []})
    with pytest.raises(ValueError, match=r"tokenizer\.json.*(Unigram|vocab)"):
        load_tokenizer(path)
    path = _write(tmp_path / "tokenizer.json",
                  {"model": {"type": "WordPiece", "vocab": {"a": 5}}, "added_tokens": []})
    with pytest.raises(ValueError, match=r"tokenizer\.json.*id 5"):
        load_tokenizer(path)


# ------------------------------------------------------------------------------ config.json


@pytest.fixture
def gpt_folder(tmp_path):
    folder = tmp_path / "gpt"
    GPT(GPTConfig(vocab_size=20, n_layer=1, n_head=1, d_model=8, max_len=8), seed=0).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("content, words", [
    ("[1, 2]", "must hold a JSON object, got array"),
    ("null", "must hold a JSON object, got null"),
    ("not json", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"n_layer": "2"}', "n_layer must be an int"),
    ('{"resid_pdrop": [1]}', "config.json"),
])
def test_bad_config_json_names_the_file(gpt_folder, content, words):
    from tinyllm import zoo

    (gpt_folder / "config.json").write_text(content)
    with pytest.raises((ValueError, TypeError), match=words) as e:
        GPT.from_pretrained(gpt_folder)
    assert "config.json" in str(e.value)
    if "must hold" in words or "JSON" in words or "nested" in words:
        with pytest.raises(ValueError, match="config.json"):
            zoo.load_folder(gpt_folder)


# ------------------------------------------------------------------------------ safetensors


def _safetensors(path, header, data):
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(struct.pack("<Q", len(head)) + head + data)


def _rewrite_header(path, edit):
    """Apply ``edit`` to the header of an existing file (data bytes unchanged)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    edit(header)
    _safetensors(path, header, raw[8 + n:])


def test_aliased_offsets_are_refused(gpt_folder):
    def alias(h):
        h["transformer.wpe.weight"]["data_offsets"] = h["transformer.h.0.attn.c_proj.weight"]["data_offsets"]

    _rewrite_header(gpt_folder / "model.safetensors", alias)
    with pytest.raises(ValueError, match="not a valid safetensors file.*offset"):
        GPT.from_pretrained(gpt_folder)


def test_overlapping_offsets_are_refused(tmp_path):
    from tinyllm.models.safetensors_io import load_file

    path = tmp_path / "m.safetensors"
    _safetensors(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, bytes(16))
    with pytest.raises(ValueError, match="offset"):
        load_file(path)


@pytest.mark.parametrize("dtype", ["I32", "BOOL", "U8"])
def test_integer_or_bool_weights_are_an_error_not_a_cast(gpt_folder, dtype):
    from tinyllm.models.safetensors_io import load_file, save_file

    state, meta = load_file(gpt_folder / "model.safetensors")
    w = state["transformer.wpe.weight"]
    np_dtype = {"I32": np.int32, "BOOL": np.bool_, "U8": np.uint8}[dtype]
    state["transformer.wpe.weight"] = np.ones(w.shape, np_dtype)
    save_file(state, gpt_folder / "model.safetensors", meta)
    with pytest.raises(ValueError, match=r"wpe\.weight.*dtype.*float"):
        GPT.from_pretrained(gpt_folder)


@pytest.mark.parametrize("header", [
    [1, 2],
    {"a": {"shape": [4], "data_offsets": [0, 16]}},
    {"a": {"dtype": "F32", "shape": [4]}},
    {"a": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}},
    {"a": {"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]}},
])
def test_malformed_headers_are_value_errors(tmp_path, header):
    from tinyllm.models.safetensors_io import load_file

    path = tmp_path / "m.safetensors"
    _safetensors(path, header, bytes(16))
    with pytest.raises(ValueError, match="m.safetensors: not a valid safetensors file"):
        load_file(path)


def _shard(gpt_folder, weight_map_value):
    state_file = gpt_folder / "model.safetensors"
    target = gpt_folder.parent / "other"
    target.mkdir(exist_ok=True)
    state_file.rename(target / "model.safetensors")
    from tinyllm.models.safetensors_io import load_file

    names = load_file(target / "model.safetensors")[0]
    (gpt_folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {n: weight_map_value for n in names}}))


@pytest.mark.parametrize("shard", ["../other/model.safetensors", "/etc/passwd.safetensors",
                                   "sub/../../other/model.safetensors"])
def test_sharded_index_cannot_point_outside_the_folder(gpt_folder, shard):
    _shard(gpt_folder, shard)
    with pytest.raises(ValueError, match="not a file inside the checkpoint folder"):
        GPT.from_pretrained(gpt_folder)


def test_sharded_index_that_is_malformed(gpt_folder):
    _shard(gpt_folder, "x.safetensors")
    index = gpt_folder / "model.safetensors.index.json"
    for content, words in [("[]", "must hold a JSON object"), ('{"weight_map": 3}', "weight_map"),
                           ('{"weight_map": {"a": 3}}', "expected a .safetensors file name"),
                           ('{"weight_map": {"a": "missing.safetensors"}}', "does not exist")]:
        index.write_text(content)
        with pytest.raises((ValueError, FileNotFoundError), match=words):
            GPT.from_pretrained(gpt_folder)


def test_a_tensor_in_two_shards_is_refused(gpt_folder):
    from tinyllm.models.safetensors_io import load_file, save_file

    state, _ = load_file(gpt_folder / "model.safetensors")
    (gpt_folder / "model.safetensors").unlink()
    save_file(state, gpt_folder / "a.safetensors")
    save_file({"transformer.wpe.weight": state["transformer.wpe.weight"]}, gpt_folder / "b.safetensors")
    weight_map = {n: "a.safetensors" for n in state}
    weight_map["extra"] = "b.safetensors"
    (gpt_folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ValueError, match="more than one shard"):
        GPT.from_pretrained(gpt_folder)


def test_sharded_checkpoint_inside_the_folder_loads(gpt_folder):
    from tinyllm.models.safetensors_io import load_file, save_file

    ref = GPT.from_pretrained(gpt_folder)
    state, _ = load_file(gpt_folder / "model.safetensors")
    (gpt_folder / "model.safetensors").unlink()
    names = sorted(state)
    half = len(names) // 2
    save_file({n: state[n] for n in names[:half]}, gpt_folder / "model-1.safetensors")
    save_file({n: state[n] for n in names[half:]}, gpt_folder / "model-2.safetensors")
    weight_map = {n: ("model-1.safetensors" if i < half else "model-2.safetensors")
                  for i, n in enumerate(names)}
    (gpt_folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    back = GPT.from_pretrained(gpt_folder)
    for k, v in ref.params.items():
        np.testing.assert_array_equal(back.params[k], v)


# ------------------------------------------------------------------------------ more of the same kind


def test_config_that_needs_more_weights_than_stored_is_refused_before_building(gpt_folder):
    config = json.loads((gpt_folder / "config.json").read_text())
    for key, value in (("n_layer", 10 ** 9), ("n_embd", 2 ** 20), ("vocab_size", 10 ** 12)):
        (gpt_folder / "config.json").write_text(json.dumps({**config, key: value}))
        with pytest.raises(ValueError, match="config.json: describes a model with at least"):
            GPT.from_pretrained(gpt_folder)


def test_config_with_a_huge_integer_literal(gpt_folder):
    (gpt_folder / "config.json").write_text('{"n_layer": ' + "9" * 5000 + "}")
    with pytest.raises(ValueError, match="config.json.*not valid JSON"):
        GPT.from_pretrained(gpt_folder)


def test_model_type_that_is_not_a_string(gpt_folder):
    from tinyllm import zoo

    (gpt_folder / "config.json").write_text('{"model_type": ["gpt2"]}')
    with pytest.raises(ValueError, match="model_type must be a string"):
        zoo.load_folder(gpt_folder)


def test_hf_tokenizer_json_with_wrongly_typed_parts(tmp_path):
    base = {"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}}, "added_tokens": []}
    for key, value in (("pre_tokenizer", [1]), ("normalizer", "Lowercase")):
        path = _write(tmp_path / "tokenizer.json", {**base, key: value})
        with pytest.raises(ValueError, match=rf"tokenizer\.json.*{key} must be an object"):
            load_tokenizer(path)
    path = _write(tmp_path / "tokenizer.json", {**base, "added_tokens": [{"content": 5, "special": True}]})
    with pytest.raises((ValueError, TypeError), match=r"tokenizer\.json"):
        load_tokenizer(path)
    path = _write(tmp_path / "tokenizer.json", {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": "a b"},
                                                "added_tokens": [], "pre_tokenizer": {"type": "ByteLevel"}})
    with pytest.raises(ValueError, match=r"tokenizer\.json.*merges"):
        load_tokenizer(path)


def test_tokens_with_lone_surrogates_are_refused_not_half_saved(tmp_path):
    path = tmp_path / "tok.json"
    path.write_text('{"tinyllm_tokenizer": "word", "words": ["ok", "\\ud800"]}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"words\[1\].*lone surrogate"):
        load_tokenizer(path)


def test_gpt2_files_that_do_not_fit_together(tmp_path):
    from tinyllm.data.bpe_tokenizer import _BYTE_CHAR

    vocab = {c: i for i, c in enumerate(_BYTE_CHAR.values())}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"merges\[0\].*no token 'Ġt'"):
        load_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("Ġ t x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="merges.txt.*line 1"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 0}), encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.json.*id 0"):
        load_tokenizer(tmp_path / "vocab.json")


def test_a_tokenizer_larger_than_the_model_is_refused(gpt_folder):
    from tinyllm import zoo
    from tinyllm.data import CharTokenizer

    CharTokenizer.train(["abc"]).save(gpt_folder)                 # 266 ids for a model of 20
    with pytest.raises(ValueError, match="tokenizer has 266 ids but its model only 20"):
        zoo.load_folder(gpt_folder)


# ------------------------------------------------------------------------------ symbolic links


def _other_model(tmp_path):
    """A second model folder outside gpt_folder, with different weights (seed 1)."""
    other = tmp_path / "elsewhere"
    GPT(GPTConfig(vocab_size=20, n_layer=1, n_head=1, d_model=8, max_len=8), seed=1).save_pretrained(other)
    return other


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_model_file_linked_out_of_the_folder_is_refused(gpt_folder, tmp_path, name):
    # before: the link was followed silently and another folder's weights loaded under this name
    other = _other_model(tmp_path)
    (gpt_folder / name).unlink()
    (gpt_folder / name).symlink_to(other / name)
    with pytest.raises(ValueError, match=rf"{name}' is a symbolic link to .*elsewhere.*outside the folder"):
        GPT.from_pretrained(gpt_folder)


def test_a_shard_linked_out_of_the_folder_is_refused(gpt_folder, tmp_path):
    other = _other_model(tmp_path)
    (gpt_folder / "model.safetensors").unlink()
    (gpt_folder / "model-1.safetensors").symlink_to(other / "model.safetensors")
    from tinyllm.models.safetensors_io import load_file

    names = load_file(other / "model.safetensors")[0]
    (gpt_folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {n: "model-1.safetensors" for n in names}}))
    with pytest.raises(ValueError, match=r"shard of tensor .*model-1\.safetensors' is a symbolic link"):
        GPT.from_pretrained(gpt_folder)


@pytest.mark.parametrize("name", ["tinyllm_tokenizer.json", "vocab.txt", "merges.txt"])
def test_a_tokenizer_file_linked_out_of_the_folder_is_refused(tmp_path, name):
    outside = tmp_path / "secret.txt"
    outside.write_text("[UNK]\nroot:x:0:0\n")
    folder = tmp_path / "tok"
    folder.mkdir()
    if name == "merges.txt":
        (folder / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2}))
    (folder / name).symlink_to(outside)
    with pytest.raises(ValueError, match=rf"{name}' is a symbolic link to .*secret\.txt"):
        load_tokenizer(folder)


def test_links_inside_the_folder_and_into_a_hub_cache_blob_are_followed(gpt_folder, tmp_path):
    ref = GPT.from_pretrained(gpt_folder)
    BPETokenizer.train("abc abd abc", vocab_size=264).save(gpt_folder)
    # inside the folder: fine
    (gpt_folder / "weights").mkdir()
    (gpt_folder / "model.safetensors").rename(gpt_folder / "weights" / "v1.safetensors")
    (gpt_folder / "model.safetensors").symlink_to("weights/v1.safetensors")
    np.testing.assert_array_equal(GPT.from_pretrained(gpt_folder).params["tok_emb"], ref.params["tok_emb"])
    # the layout of huggingface_hub's cache: snapshots/<rev>/<file> -> ../../blobs/<sha>
    repo = tmp_path / "models--someone--tiny"
    snap, blobs = repo / "snapshots" / "0123abcd", repo / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    for i, f in enumerate(sorted(p for p in gpt_folder.iterdir() if p.is_file())):
        (blobs / f"sha{i}").write_bytes(f.read_bytes())
        (snap / f.name).symlink_to(f"../../blobs/sha{i}")
    np.testing.assert_array_equal(GPT.from_pretrained(snap).params["tok_emb"], ref.params["tok_emb"])
    assert load_tokenizer(snap).encode("abd") == load_tokenizer(gpt_folder).encode("abd")
    # but a snapshot's link elsewhere is not
    (snap / "config.json").unlink()
    (snap / "config.json").symlink_to(_other_model(tmp_path) / "config.json")
    with pytest.raises(ValueError, match="symbolic link"):
        GPT.from_pretrained(snap)


def test_a_checkpoint_file_linked_out_of_the_run_is_refused(tmp_path):
    from tinyllm.train.checkpoint import CheckpointError, load_checkpoint_state

    ckpt = tmp_path / "run" / "checkpoints" / "latest"
    ckpt.mkdir(parents=True)
    outside = tmp_path / "trainer_state.json"
    outside.write_text("{}")
    (ckpt / "trainer_state.json").symlink_to(outside)
    with pytest.raises(CheckpointError, match="trainer_state.json' is a symbolic link"):
        load_checkpoint_state(ckpt)


# ------------------------------------------------------------------------------ stored precisions


def _bf16_bits(a):
    """float32 -> the bfloat16 bit patterns (round to nearest even), as torch stores them."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")


@pytest.mark.parametrize("stored", ["float16", "bfloat16"])
def test_half_precision_checkpoints_load_converted_to_the_compute_dtype(gpt_folder, stored):
    from tinyllm.models.safetensors_io import load_file

    state, _ = load_file(gpt_folder / "model.safetensors")
    header, data, expect = {}, b"", {}
    for name in sorted(state):
        v = state[name]
        raw = v.astype("<f2").tobytes() if stored == "float16" else _bf16_bits(v).tobytes()
        header[name] = {"dtype": "F16" if stored == "float16" else "BF16", "shape": list(v.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
        expect[name] = (np.frombuffer(raw, "<f2").astype(np.float64) if stored == "float16" else
                        (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64))
    _safetensors(gpt_folder / "model.safetensors", header, data)
    edit = json.loads((gpt_folder / "config.json").read_text())
    edit["dtype"] = edit["torch_dtype"] = stored
    (gpt_folder / "config.json").write_text(json.dumps(edit))
    for dtype in (np.float32, np.float64, "auto"):
        model = GPT.from_pretrained(gpt_folder, dtype=dtype)
        assert model.dtype == (np.float64 if dtype is np.float64 else np.float32)
        wte = expect["transformer.wte.weight"].reshape(model.params["tok_emb"].shape)
        np.testing.assert_array_equal(model.params["tok_emb"], wte.astype(model.dtype))   # exact widening
        assert np.isfinite(model.forward(np.array([[1, 2, 3]]))).all()


def test_auto_dtype_keeps_a_float64_checkpoint_in_float64(gpt_folder):
    GPT.from_pretrained(gpt_folder).astype(np.float64).save_pretrained(gpt_folder)
    assert GPT.from_pretrained(gpt_folder, dtype="auto").dtype == np.float64
    assert GPT.from_pretrained(gpt_folder).dtype == np.float32          # the default stays float32


def test_float64_weights_beyond_float32_are_refused_not_inf(gpt_folder):
    from tinyllm.models.safetensors_io import load_file, save_file

    state, meta = load_file(gpt_folder / "model.safetensors")
    state = {k: v.astype(np.float64) for k, v in state.items()}
    state["transformer.wpe.weight"][0, 0] = 1e300
    save_file(state, gpt_folder / "model.safetensors", meta)
    with pytest.raises(ValueError, match=r"weight 'pos_emb' \(float64\) has values beyond the range of float32"):
        GPT.from_pretrained(gpt_folder)
    assert GPT.from_pretrained(gpt_folder, dtype=np.float64).params["pos_emb"][0, 0] == 1e300


@pytest.mark.parametrize("edit, words", [
    ({"dtype": "int8"}, "dtype = 'int8' is not a float dtype"),
    ({"torch_dtype": "float8_e4m3fn"}, "torch_dtype = 'float8_e4m3fn' is not a float dtype"),
    ({"dtype": ["float32"]}, "is not a float dtype"),
    ({"quantization_config": {"quant_method": "bitsandbytes"}}, "quantized checkpoint.*bitsandbytes"),
])
def test_config_dtype_that_is_not_a_float_precision_is_refused(gpt_folder, edit, words):
    config = json.loads((gpt_folder / "config.json").read_text())
    (gpt_folder / "config.json").write_text(json.dumps({**config, **edit}))
    with pytest.raises(ValueError, match=words) as e:
        GPT.from_pretrained(gpt_folder)
    assert "config.json" in str(e.value)


def test_float8_tensors_are_refused_by_name(tmp_path, gpt_folder):
    # before: AttributeError: module 'numpy' has no attribute 'float8_e4m3fn'
    def to_f8(h):
        for name, entry in h.items():
            if name != "__metadata__":
                entry["dtype"] = "F8_E4M3"
                entry["shape"] = [int(np.prod(entry["shape"])) * 4]

    _rewrite_header(gpt_folder / "model.safetensors", to_f8)
    with pytest.raises(ValueError, match="has dtype F8_E4M3, which NumPy cannot hold"):
        GPT.from_pretrained(gpt_folder)


def test_cli_evaluates_a_float64_run_in_float64(tmp_path):
    # before: `tinyllm eval` of a --dtype float64 run computed in float32, not reproducing its numbers
    from tinyllm.cli import load_model
    from tinyllm.data import CharTokenizer

    tok = CharTokenizer(list("abcdef"))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=1, d_model=8, max_len=8), dtype=np.float64)
    model.save_pretrained(tmp_path / "run", tokenizer=tok)
    loaded, _ = load_model(str(tmp_path / "run"))
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded.params["tok_emb"], model.params["tok_emb"])
