"""Soft prompt + head (S12 read by an E2.1 head, tinyllm.prompt.soft_head): its gradient against
central differences in float64 (relative error < 1e-6, every parameter: the soft vectors, W, b),
the features without a soft prompt's influence, the frozen encoder, training, and bad input."""

import numpy as np
import pytest

from tinyllm.gradcheck import numerical_grad, rel_error
from tinyllm.prompt import methods as M
from tinyllm.prompt import soft_head as SH
from tinyllm.prompt import tasks

from prompt_tiny import LABELS, TEXTS, bert, gpt, tokenizer


def make(seed=0, m=3, init_text="it was", l2=0.1):
    tok = tokenizer()
    model = bert(seed=1).eval()
    sph = SH.SoftPromptHead(model, tok, num_labels=2, num_virtual_tokens=m, init_text=init_text, seed=seed, l2=l2)
    rng = np.random.default_rng(seed)
    sph.params[SH.W_NAME][...] = rng.standard_normal(sph.params[SH.W_NAME].shape)
    sph.params[SH.B_NAME][...] = rng.standard_normal(2)
    return model, tok, sph


@pytest.mark.parametrize("name", [SH.P_NAME, SH.W_NAME, SH.B_NAME])
def test_gradient_matches_central_differences_S12_E2_1(name):
    _, _, sph = make()
    _, grads = sph.loss_and_grads(TEXTS, LABELS)
    num = numerical_grad(lambda: sph.loss_and_grads(TEXTS, LABELS)[0], sph.params[name])
    assert rel_error(grads[name], num) < 1e-6


def test_encoder_stays_frozen_and_padding_does_not_change_a_text():
    model, tok, sph = make()
    before = {k: v.copy() for k, v in model.params.items()}
    SH.fit(sph, tasks.Dataset("t", "classification", TEXTS, np.array(LABELS), ["neg", "pos"], None, None),
           steps=3, lr=1e-2, batch_size=2)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)
    alone = sph.features(TEXTS[:1])
    batched = sph.features(TEXTS)                                  # padded to the longest text
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-10)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1)


def test_init_text_embeddings_and_random_init():
    model, tok, sph = make(init_text="it was")
    ids = tok.encode("it was")
    E = model.params["tok_emb"]
    np.testing.assert_array_equal(sph.params[SH.P_NAME], E[np.resize(ids, 3)])   # repeated and cut to m
    r = SH.SoftPromptHead(model, tok, 2, num_virtual_tokens=3, init_text=None, seed=5)
    assert r.params[SH.P_NAME].shape == (3, 16) and not np.allclose(r.params[SH.P_NAME], sph.params[SH.P_NAME])


def test_training_fits_the_few_shot_examples():
    model, tok, sph = make(l2=1e-3)
    ds = tasks.Dataset("t", "classification", TEXTS, np.array(LABELS), ["neg", "pos"], None, None)
    losses = SH.fit(sph, ds, steps=40, lr=3e-2, batch_size=4)
    assert losses[-1] < losses[0]
    assert (sph.predict(TEXTS) == np.array(LABELS)).all()


def test_bad_input_is_a_clear_error():
    model, tok, sph = make()
    with pytest.raises(TypeError, match="BERT"):
        SH.SoftPromptHead(gpt(), tok, 2)
    with pytest.raises(ValueError, match="num_virtual_tokens"):
        SH.SoftPromptHead(model, tok, 2, num_virtual_tokens=0)
    with pytest.raises(ValueError, match="labels"):
        sph.loss_and_grads(TEXTS, [0, 1, 2, 0])
    with pytest.raises(TypeError, match="strings"):
        sph.predict([3])
    with pytest.raises(ValueError, match="lr"):
        SH.fit(sph, tasks.Dataset("t", "classification", TEXTS, np.array(LABELS), ["n", "p"], None, None), 1, -1.0)


def test_soft_head_method_runs_on_a_bert_only():
    assert M.applies("soft-head", "bert")[0] and not M.applies("soft-head", "gpt")[0]
    from tinyllm.data import tinyworld
    from tinyllm.models import BERT, BERTConfig

    tok = tinyworld.tokenizer()
    model = BERT(BERTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=16, max_len=96), seed=3).eval()
    row = M.run("soft-head", "tw-sentiment", model, tok, k=2, seed=0, n_test=8, steps=2)
    assert row["method"] == "soft-head" and row["hp"]["steps"] == 2 and 0 <= row["accuracy"] <= 1
