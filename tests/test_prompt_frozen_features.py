"""Frozen-feature methods of tinyllm.prompt: sentence embeddings (mean pooling, the cache), zero-shot
by similarity to label descriptions, the logistic-regression probe (E2.1 on frozen features, its
gradient S2 checked against central differences), and the per-model hyper-parameters of methods.run."""

import numpy as np
import pytest

from tinyllm.data import tinyworld
from tinyllm.gradcheck import numerical_grad, rel_error
from tinyllm.models import BERT, GPT, BERTConfig, GPTConfig
from tinyllm.prompt import linear_probe as LP
from tinyllm.prompt import methods as M
from tinyllm.prompt import sentence_embed as SE

TOK = tinyworld.tokenizer()


def tiny_bert(seed=3):
    cfg = BERTConfig(vocab_size=TOK.vocab_size, n_layer=1, n_head=2, d_model=16, max_len=96)
    return BERT(cfg, seed=seed).eval()


def test_embeddings_are_unit_mean_pooled_states_independent_of_the_batch():
    model = tiny_bert()
    texts = ["the film was great .", "anna lives in fennick and she likes to eat soup every day ."]
    e = SE.embed(model, TOK, texts, cache=False)
    assert e.shape == (2, 16) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-6)
    ids = [TOK.cls_id] + TOK.encode(texts[0]) + [TOK.sep_id]
    h = model.encode(np.array([ids]))[0]                                  # (T, C), no padding
    ref = h.mean(axis=0) / np.linalg.norm(h.mean(axis=0))
    np.testing.assert_allclose(e[0], ref, atol=1e-5)                      # padded batch == alone
    np.testing.assert_allclose(SE.embed(model, TOK, texts[:1], cache=False)[0], e[0], atol=1e-5)


def test_cache_computes_each_text_once_per_weights(monkeypatch):
    model = tiny_bert()
    calls = []
    real = model.encode
    monkeypatch.setattr(model, "encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = SE.embed(model, TOK, ["a cached text .", "another one ."])
    n = len(calls)
    b = SE.embed(model, TOK, ["another one .", "a cached text ."])
    assert len(calls) == n and np.array_equal(a[::-1], b)
    other = tiny_bert(seed=4)                                             # other weights: not the cache's
    assert not np.allclose(SE.embed(other, TOK, ["a cached text ."])[0], a[0])


def test_similarity_picks_the_description_equal_to_the_text():
    model = tiny_bert()
    descriptions = ["the soup was cold .", "anna lives in fennick ."]
    assert SE.predict_by_similarity(model, TOK, descriptions[::-1], descriptions).tolist() == [1, 0]
    with pytest.raises(ValueError, match="descriptions"):
        SE.similarity_scores(model, TOK, ["x"], ["", "y"])
    gpt = GPT(GPTConfig(vocab_size=TOK.vocab_size, n_layer=1, n_head=2, d_model=16, max_len=96), seed=0)
    with pytest.raises(TypeError, match="BERT"):
        SE.embed(gpt, TOK, ["x"])


def test_probe_gradient_matches_central_differences_S2():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    _, dW, db = LP.probe_loss_and_grads(W, b, X, y, l2=0.3)
    assert rel_error(dW, numerical_grad(lambda: LP.probe_loss_and_grads(W, b, X, y, 0.3)[0], W)) < 1e-7
    assert rel_error(db, numerical_grad(lambda: LP.probe_loss_and_grads(W, b, X, y, 0.3)[0], b)) < 1e-7


def test_probe_separates_and_l2_shrinks():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    X = rng.standard_normal((40, 6)) + 3 * np.eye(6)[y]
    W, b = LP.fit_probe(X, y, 2, l2=1e-3)
    assert (LP.predict_probe(W, b, X) == y).all()
    W2, _ = LP.fit_probe(X, y, 2, l2=1.0)
    assert np.linalg.norm(W2) < np.linalg.norm(W)
    with pytest.raises(ValueError, match="labels in"):
        LP.fit_probe(X, y + 1, 2)


def test_label_descriptions_follow_the_template_index():
    _, words = M.templates("mr2", "bert")[0]
    texts = [t for t, _ in M.templates("mr2", "bert")]
    assert M.label_descriptions("mr2", texts[0], words) == ["a negative movie review", "a positive movie review"]
    assert M.label_descriptions("mr2", texts[1], words) == ["a bad movie", "a good movie"]
    assert M.label_descriptions("mr2", "{x} Overall: {mask}!", words) == ["Overall: terrible!", "Overall: great!"]
    assert M.label_descriptions("tw-sentiment", "review: {x} it was {mask}.",
                                {"negative": ["bad"], "positive": ["great"]}) == ["review: it was bad.", "review: it was great."]


def test_encoder_methods_refuse_a_gpt_and_need_examples():
    assert not M.applies("zero-shot-sim", "gpt")[0] and not M.applies("head-lr", "gpt")[0]
    assert M.applies("zero-shot-sim", "bert")[0]
    with pytest.raises(ValueError, match="k >= 1"):
        M.run("head-lr", "tw-sentiment", tiny_bert(), TOK, k=0, seed=0)


def test_model_specific_hyperparameters_reach_the_row():
    assert M.hyperparameters("pet")["lr"] == M.HYPERPARAMETERS["pet"]["lr"]
    assert M.hyperparameters("pet", "minilm-mlm")["lr"] == M.MODEL_HYPERPARAMETERS["minilm-mlm"]["pet"]["lr"]
    assert M.hyperparameters("pet", "/some/cache/minilm-mlm") == M.hyperparameters("pet", "minilm-mlm")
    assert M.hyperparameters("head", "minilm-mlm") == M.HYPERPARAMETERS["head"]
    row = M.run("pet", "tw-sentiment", tiny_bert(), TOK, k=1, seed=0, n_test=4, model_name="minilm-mlm", steps=1)
    assert row["hp"] == {**M.hyperparameters("pet", "minilm-mlm"), "steps": 1}


def test_grid_runs_zero_shot_sim_per_template_and_keeps_model_settings(tmp_path):
    from tinyllm.prompt.grid import load_rows, run_grid

    out = tmp_path / "g.json"
    rows = run_grid("tw-sentiment", "tiny", ["zero-shot-sim", "head-lr"], ks=[0, 1], seeds=[0], out=out, n_test=8,
                    model=tiny_bert(), tokenizer=TOK)
    sims = [r for r in rows if r["method"] == "zero-shot-sim"]
    assert [r["k"] for r in sims] == [0] * len(M.templates("tw-sentiment", "bert"))
    assert [(r["method"], r["k"]) for r in rows if r["method"] == "head-lr"] == [("head-lr", 1)]
    assert len(load_rows(out)) == len(rows)
