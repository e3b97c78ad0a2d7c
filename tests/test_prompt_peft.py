"""Parameter-efficient prompts (S12): soft prompts (prompt tuning), prefixes (with and without the MLP
reparameterisation) and P-tuning's prompt encoder (MLP and BiLSTM), on tiny random GPT and BERT in
float64.

Every entry of every module parameter is checked against central differences THROUGH a frozen
model's loss (module -> model -> cross-entropy at a few positions), relative error <= 1e-6, and the
model's weights are byte-identical afterwards (measured: at most 1.6e-7, for BERT's LSTM encoder;
below 1e-8 for the others). Then: initialisations, saved parameters, configs, bad input.
"""

import numpy as np
import pytest

import tinyllm.kernels as kernels
from tinyllm.data.word_tokenizer import WordTokenizer
from tinyllm.gradcheck import check_model
from tinyllm.models import BERT, GPT, BERTConfig, GPTConfig
from tinyllm.ops.losses import cross_entropy_backward, cross_entropy_forward
from tinyllm.prompt.peft import (PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, config_from_dict,
                                 make_peft)

TOL = 1e-6
# Step of the central differences. The LSTM's recurrent weights get gradients of ~1e-4 per entry
# through a random model; with the loss near 3, round-off in f is ~1e-15, so eps = 1e-6 leaves an
# error of ~1e-9 / 1e-4 = 1e-5. eps = 1e-5 (near the optimum ulp^(1/3) of float64) divides the round-off
# by 10 while the truncation error, O(eps^2), stays ~1e-10.
EPS = 1e-5
WORDS = ["it", "was", "great", "awful", "the", "movie", "a", "film", "good", "bad"]
TOK = WordTokenizer(WORDS)                     # 7 specials + 10 words
V = TOK.vocab_size
M = 3                                          # virtual tokens


@pytest.fixture(autouse=True)
def reference_kernel():
    with kernels.use("numpy"):
        yield


def _gpt(seed=0, n_layer=2):
    return GPT(GPTConfig(vocab_size=V, n_layer=n_layer, n_head=2, d_model=8, max_len=12), seed=seed,
               dtype=np.float64).eval()


def _bert(seed=0, n_layer=2):
    return BERT(BERTConfig(vocab_size=V, n_layer=n_layer, n_head=2, d_model=8, max_len=12), seed=seed,
                dtype=np.float64).eval()


CONFIGS = {
    "soft-random": PromptTuningConfig(M, init="random"),
    "soft-text": PromptTuningConfig(M, init="text", init_text="it was"),
    "prefix-mlp": PrefixTuningConfig(M, prefix_projection=True, encoder_hidden_size=6),
    "prefix-direct": PrefixTuningConfig(M, prefix_projection=False),
    "ptuning-mlp": PromptEncoderConfig(M, encoder_hidden_size=5, encoder_type="mlp"),
    "ptuning-lstm": PromptEncoderConfig(M, encoder_hidden_size=3, encoder_type="lstm", encoder_num_layers=2),
}


def prompt_loss_and_grads(module, model, idx, at, labels):
    """module -> frozen model -> mean cross-entropy of `labels` at the (row, time) pairs `at`.

    "embeds" modules go before the input (positions 0..m-1, the text after them); a "past_kv" prefix
    is broadcast over the batch and, for GPT, leaves the text at positions 0..T-1 (pos_offset=0).
    Returns (loss, gradients of module.params): the path p-core's PromptModel takes.
    """
    B = idx.shape[0]
    out, mcache = module.forward()
    if module.kind == "embeds":
        emb = np.concatenate([np.repeat(out[None], B, axis=0), model.embed_tokens(idx)], axis=1)
        kw = dict(inputs_embeds=emb, at=at + np.array([0, module.num_virtual_tokens]))
        wrt = ["inputs_embeds"]
    else:
        kw = dict(idx=idx, past_kv=[(np.repeat(k, B, 0), np.repeat(v, B, 0)) for k, v in out], at=at)
        if isinstance(model, GPT):
            kw["pos_offset"] = 0
        wrt = ["past_kv"]
    logits, cache = model.forward_with_cache(**kw)
    loss, ce = cross_entropy_forward(logits, labels)
    g = model.backward(cross_entropy_backward(1.0, ce), cache, wrt=wrt)
    dout = g["inputs_embeds"][:, :module.num_virtual_tokens] if module.kind == "embeds" else g["past_kv"]
    return float(loss), module.backward(dout, mcache)     # a leading batch axis is summed by the module


@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_S12_module_gradients_through_a_frozen_model(make, name):
    model = make(seed=1)
    frozen = {k: v.tobytes() for k, v in model.params.items()}
    module = make_peft(CONFIGS[name], model, TOK, seed=2)
    rng = np.random.default_rng(3)
    idx = rng.integers(7, V, (2, 4))
    at = np.array([[0, 3], [1, 1], [1, 3]])
    labels = rng.integers(7, V, 3)
    loss, grads = prompt_loss_and_grads(module, model, idx, at, labels)
    assert np.isfinite(loss) and set(grads) == set(module.params)
    assert all(grads[k].shape == module.params[k].shape and grads[k].dtype == np.float64 for k in grads)
    every = max(p.size for p in module.params.values())                   # every entry of every tensor
    errors = check_model(lambda: prompt_loss_and_grads(module, model, idx, at, labels), module.params,
                         n_samples=every, seed=4, eps=EPS)
    assert max(errors.values()) < TOL, errors
    assert all(model.params[k].tobytes() == frozen[k] for k in frozen)   # the model stays frozen


def test_S12_output_shapes_and_kinds():
    model = _gpt()
    for name, cfg in CONFIGS.items():
        module = make_peft(cfg, model, TOK, seed=0)
        out, _ = module.forward()
        assert module.num_virtual_tokens == M
        if name.startswith("prefix"):
            assert module.kind == "past_kv" and len(out) == 2
            assert all(k.shape == v.shape == (1, 2, M, 4) for k, v in out)
        else:
            assert module.kind == "embeds" and out.shape == (M, 8)
        assert all(a.dtype == np.float64 for a in module.params.values())
    assert set(make_peft(CONFIGS["ptuning-lstm"], model, TOK).params) == {
        "encoder.embedding", "encoder.mlp.W_1", "encoder.mlp.b_1", "encoder.mlp.W_2", "encoder.mlp.b_2",
        *(f"encoder.lstm.{d}.{g}" for d in ("l0", "l0_reverse", "l1", "l1_reverse") for g in ("W_x", "W_h", "b"))}


def test_S12_soft_prompt_initialisations():
    model = _gpt(seed=5)
    E = model.params["tok_emb"]
    text = make_peft(PromptTuningConfig(5, init="text", init_text="it was great"), model, TOK).params["soft.P"]
    ids = TOK.encode("it was great")
    np.testing.assert_array_equal(text, E[ids + ids[:2]])               # repeated, then cut to m
    labels = make_peft(PromptTuningConfig(2, init="labels"), model, TOK, init_ids=[9, 10]).params["soft.P"]
    np.testing.assert_array_equal(labels, E[[9, 10]])
    vocab = make_peft(PromptTuningConfig(4, init="vocab"), model, TOK, seed=1).params["soft.P"]
    rows = [int(np.flatnonzero((E == r).all(axis=1))[0]) for r in vocab]
    assert all(r not in TOK.special_ids for r in rows) and len(set(rows)) == 4
    rnd = make_peft(PromptTuningConfig(4), model, TOK, seed=1).params["soft.P"]
    np.testing.assert_array_equal(rnd, make_peft(PromptTuningConfig(4), model, TOK, seed=1).params["soft.P"])
    text[:] = 0
    assert np.abs(E[ids]).sum() > 0                                    # a copy, not a view of E


@pytest.mark.parametrize("make", [_gpt, _bert], ids=["gpt", "bert"])
def test_S12_direct_prefix_starts_from_real_word_activations(make):
    model = make(seed=6)
    ids = [7, 8, 9]
    out, _ = make_peft(PrefixTuningConfig(3, prefix_projection=False), model, TOK, init_ids=ids).forward()
    if isinstance(model, GPT):
        _, present = model.forward_cached(np.array([ids]))
    else:
        present = [b["present"] for b in model.forward_with_cache(idx=np.array([ids]))[1]["enc"]["blocks"]]
    for (k, v), (k2, v2) in zip(out, present):
        np.testing.assert_allclose(k, k2, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v, v2, rtol=0, atol=1e-12)


def test_saved_params_rebuild_the_same_module():
    model = _gpt(seed=7)
    for cfg in CONFIGS.values():
        a = make_peft(cfg, model, TOK, seed=3)
        b = make_peft(config_from_dict(cfg.to_dict()), model, tokenizer=None, params=a.params)
        out_a, out_b = a.forward()[0], b.forward()[0]
        if a.kind == "embeds":
            np.testing.assert_array_equal(out_a, out_b)
        else:
            assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(out_a, out_b))
        assert b.params is not a.params and all(b.params[k] is not a.params[k] for k in a.params)


def test_bad_input_is_a_clear_error():
    model = _gpt()
    for bad in (0, -2, 2.5, True, None):
        with pytest.raises(ValueError, match="num_virtual_tokens must be a positive int"):
            PromptTuningConfig(bad)
    with pytest.raises(ValueError, match="init must be one of"):
        PromptTuningConfig(4, init="words")
    with pytest.raises(ValueError, match="encoder_type must be one of"):
        PromptEncoderConfig(4, encoder_type="gru")
    with pytest.raises(ValueError, match="encoder_hidden_size must be a positive int"):
        PromptEncoderConfig(4, encoder_hidden_size=0)
    with pytest.raises(ValueError, match="prefix_projection must be True or False"):
        PrefixTuningConfig(4, prefix_projection="yes")
    with pytest.raises(ValueError, match='init="text" needs init_text'):
        make_peft(PromptTuningConfig(4, init="text"), model, TOK)
    with pytest.raises(ValueError, match='init="labels" needs init_ids'):
        make_peft(PromptTuningConfig(4, init="labels"), model, TOK)
    with pytest.raises(ValueError, match=r"init_ids must lie in \[0, 17\)"):
        make_peft(PromptTuningConfig(4, init="labels"), model, TOK, init_ids=[3, 99])
    with pytest.raises(TypeError, match="config must be a PromptTuningConfig"):
        make_peft({"num_virtual_tokens": 4}, model, TOK)
    with pytest.raises(TypeError, match="model must be a tinyllm GPT or BERT"):
        make_peft(PromptTuningConfig(4), object(), TOK)
    with pytest.raises(ValueError, match="peft_type must be one of"):
        config_from_dict({"peft_type": "LORA"})
    # a prefix trained for a 2-layer model does not fit a 3-layer one
    saved = make_peft(CONFIGS["prefix-direct"], model, TOK).params
    with pytest.raises(ValueError, match=r"params\['prefix.P'\] must have shape \(3, 48\) .*n_layer=3"):
        make_peft(CONFIGS["prefix-direct"], _gpt(n_layer=3), TOK, params=saved)
    prefix = make_peft(CONFIGS["prefix-mlp"], model, TOK)
    out, cache = prefix.forward()
    with pytest.raises(ValueError, match="dout must be a list of n_layer=2"):
        prefix.backward(out[:1], cache)
    with pytest.raises(ValueError, match="past_kv must be a list of n_layer=3"):
        _gpt(n_layer=3).forward(np.array([[7, 8]]), past_kv=out, pos_offset=0)
    soft = make_peft(CONFIGS["soft-random"], model, TOK)
    with pytest.raises(ValueError, match=r"dout must have shape \(3, 8\)"):
        soft.backward(np.zeros((4, 8)), None)
    with pytest.raises(TypeError, match="model's dtype float64"):
        soft.backward(np.zeros((3, 8), np.float32), None)
