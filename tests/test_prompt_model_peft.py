"""Parameter-efficient prompts through PromptModel (S12): placement of virtual tokens and prefixes,
gradients of every module's parameters against central differences, a frozen model, generation
prefixes, save/load; distillation into a classifier (E2.1)."""

import numpy as np
import pytest

import prompt_tiny as tiny
from tinyllm.gradcheck import rel_error
from tinyllm.prompt import peft
from tinyllm.prompt.pet import PETEnsemble, distill, fit
from tinyllm.prompt.prompt_model import PromptModel

EXAMPLES = list(zip(tiny.TEXTS, tiny.LABELS))
TEMPLATE = "{x} it was {mask} ."

CONFIGS = {
    "prompt_tuning": lambda: peft.PromptTuningConfig(num_virtual_tokens=3, init="vocab"),
    "prefix_mlp": lambda: peft.PrefixTuningConfig(num_virtual_tokens=3, prefix_projection=True, encoder_hidden_size=8),
    "prefix": lambda: peft.PrefixTuningConfig(num_virtual_tokens=2, prefix_projection=False),
    "p_tuning_mlp": lambda: peft.PromptEncoderConfig(num_virtual_tokens=3, encoder_hidden_size=8, encoder_type="mlp"),
    "p_tuning_lstm": lambda: peft.PromptEncoderConfig(num_virtual_tokens=3, encoder_hidden_size=6, encoder_type="lstm"),
}


def ids(tok, text):
    return [tok.token_to_id(w) for w in text.split()]


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_peft_gradients_through_prompt_model_S12(make, name):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS, peft=CONFIGS[name](), seed=1)
    assert pm.frozen and set(pm.prompt_params) == set(pm.peft.params)
    texts, labels = tiny.TEXTS[:3], tiny.LABELS[:3]
    loss, grads = pm.loss_and_grads(texts, labels)
    assert set(grads) == set(pm.prompt_params)
    rng = np.random.default_rng(0)
    for k, p in pm.prompt_params.items():
        # central differences along two random directions u of the whole tensor: (f(p + eps u) -
        # f(p - eps u)) / 2 eps against <grad, u> (single entries of the deep LSTM weights have
        # gradients near 1e-5, where round-off in f alone reaches a relative 1e-6)
        for _ in range(2):
            u = rng.standard_normal(p.shape)
            p += 1e-5 * u
            f_plus = pm.loss(texts, labels)
            p -= 2e-5 * u
            f_minus = pm.loss(texts, labels)
            p += 1e-5 * u
            assert rel_error(np.sum(grads[k] * u), (f_plus - f_minus) / 2e-5) <= 1e-6, k


def test_virtual_tokens_go_before_the_input():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, TEMPLATE, {"neg": ["awful"], "pos": ["great"]},
                     peft=peft.PromptTuningConfig(num_virtual_tokens=3))
    P = pm.generation_prefix()["inputs_embeds"]                           # (3, C)
    assert P.shape == (3, 16) and pm.generation_prefix()["past_kv"] is None
    x = [tok.bos_id] + ids(tok, "a movie it was")
    embeds = np.concatenate([P, m.embed_tokens(np.array([x]))[0]])[None]
    lp = tiny.log_softmax(m.forward(inputs_embeds=embeds)[0, -1])
    np.testing.assert_allclose(pm.label_scores(["a movie"])[0], lp[ids(tok, "awful great")], atol=1e-12)


def test_virtual_tokens_fill_soft_slots_of_the_same_count():
    tok, m = tiny.tokenizer(), tiny.gpt()
    cfg = peft.PromptTuningConfig(num_virtual_tokens=2, init="text", init_text="it was")
    pm = PromptModel(m, tok, "{x} {soft*2} {mask} .", tiny.LABEL_WORDS, peft=cfg)
    assert set(pm.prompt_params) == set(pm.peft.params)                   # no separate template.soft
    hard = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS)
    np.testing.assert_allclose(pm.predict_proba(tiny.TEXTS), hard.predict_proba(tiny.TEXTS), atol=1e-12)
    with pytest.raises(ValueError, match="slots"):
        pm.generation_prefix()


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_prefix_takes_no_positions(make):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, TEMPLATE, {"neg": ["awful"], "pos": ["great"]},
                     peft=peft.PrefixTuningConfig(num_virtual_tokens=2))
    prefix = pm.generation_prefix()["past_kv"]
    assert pm.generation_prefix()["inputs_embeds"] is None and prefix[0][0].shape[2] == 2
    if make is tiny.gpt:
        x, at = [tok.bos_id] + ids(tok, "a movie it was"), -1
    else:
        x = [tok.cls_id] + ids(tok, "a movie it was") + [tok.mask_id] + ids(tok, ".") + [tok.sep_id]
        at = 5
    logits, _ = m.forward_with_cache(idx=np.array([x]), past_kv=prefix, pos_offset=0)
    lp = tiny.log_softmax(logits[0, at])
    np.testing.assert_allclose(pm.label_scores(["a movie"])[0], lp[ids(tok, "awful great")], atol=1e-12)


@pytest.mark.parametrize("name", ["prompt_tuning", "prefix_mlp", "p_tuning_lstm"])
def test_fit_with_peft_keeps_the_model_and_round_trips(name, tmp_path):
    tok, m = tiny.tokenizer(), tiny.gpt()
    before = {k: v.copy() for k, v in m.params.items()}
    pm = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS, peft=CONFIGS[name]())
    losses = fit(pm, EXAMPLES, steps=10, lr=0.02, batch_size=4)
    assert losses[-1] < losses[0]
    assert all(v.tobytes() == before[k].tobytes() for k, v in m.params.items())
    pm.save_prompt(tmp_path / "p")
    back = PromptModel.load_prompt(tmp_path / "p", m, tok)
    assert type(back.peft_config) is type(pm.peft_config)
    np.testing.assert_array_equal(back.predict_proba(tiny.TEXTS), pm.predict_proba(tiny.TEXTS))


@pytest.mark.parametrize("kind", ["gpt", "bert"])
def test_distill_into_a_classifier_E2_1(kind):
    from tinyllm import models

    cls = getattr(models, "GPTClassifier" if kind == "gpt" else "BERTClassifier")
    tok = tiny.tokenizer()
    make = tiny.gpt if kind == "gpt" else tiny.bert
    teacher = PETEnsemble([PromptModel(make(seed=1), tok, TEMPLATE, tiny.LABEL_WORDS),
                           PromptModel(make(seed=2), tok, "{x} . this was {mask} .", tiny.LABEL_WORDS)])
    clf = cls.from_model(make(seed=3), 2, seed=0)
    unlabeled = tiny.TEXTS + ["the soup was warm", "i hated this movie", "the service was fast"]
    losses = distill(teacher, clf, unlabeled, tok, steps=25, lr=0.01, batch_size=4, temperature=2.0)
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="labels"):
        distill(teacher, cls.from_model(make(), 3), unlabeled, tok, steps=1, lr=0.01)


@pytest.mark.parametrize("setup", ["hard", "soft_trigger", "virtual", "prefix", "demos", "truncated"])
def test_shared_prefix_scoring_equals_one_row_per_word_E2_2(setup):
    # label_scores on a GPT runs the context once and continues each word from its KV cache; the
    # training path (_scores) runs one row per word: both are the chain rule of S11
    from tinyllm.prompt.demonstrations import Demonstrations

    tok = tiny.tokenizer()
    m = tiny.gpt(max_len=14 if setup == "truncated" else 60)
    words = {"neg": ["awful", "very bad", "not very good"], "pos": ["great", "very good", "fine"]}
    template = "{soft*2} {x} {trigger*1} it was {mask} ." if setup == "soft_trigger" else TEMPLATE
    cfg = {"virtual": CONFIGS["p_tuning_lstm"], "prefix": CONFIGS["prefix_mlp"]}.get(setup)
    pm = PromptModel(m, tok, template, words, peft=cfg() if cfg else None, batch_size=3)
    demos = Demonstrations(EXAMPLES, k=2, seed=0) if setup == "demos" else None
    texts = tiny.TEXTS + ["the soup was warm and the service fast and i liked this place"]
    full = np.concatenate([pm._scores(pm._inputs(texts[i:i + 3]), demos)[0] for i in range(0, 5, 3)])
    np.testing.assert_allclose(pm.label_scores(texts, demos), full, atol=1e-12)


@pytest.mark.parametrize("name", ["prompt_tuning", "prefix_mlp"])
def test_a_trained_prompt_survives_generation_S12(name):
    from tinyllm.generate import generate

    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS, peft=CONFIGS[name]())
    fit(pm, EXAMPLES, steps=3, lr=0.02, batch_size=4)
    x = [tok.bos_id] + ids(tok, "a movie it was")
    new, logits = generate(m, x, max_new_tokens=1, greedy=True, prompt=pm, return_logits=True)
    # generation and scoring see the same prompt: the label words' log-probabilities agree
    lp = tiny.log_softmax(logits[0])
    single = PromptModel(m, tok, TEMPLATE, {"neg": ["awful"], "pos": ["great"]}, peft=CONFIGS[name]())
    for k in single.prompt_params:
        single.prompt_params[k][...] = pm.prompt_params[k]
    np.testing.assert_allclose(single.label_scores(["a movie"])[0], lp[ids(tok, "awful great")], atol=1e-10)
    assert new[0] == int(np.argmax(logits[0]))
