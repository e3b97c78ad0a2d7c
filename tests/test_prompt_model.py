"""PromptModel (E2.2, S11, S12, S13): label-word scores against the chain rule computed by hand,
the soft template at step 0, gradients against central differences, PET gradients, bad inputs."""

import numpy as np
import pytest

import prompt_tiny as tiny
from tinyllm.gradcheck import numerical_grad, rel_error
from tinyllm.prompt.prompt_model import NonFiniteError, PromptModel
from tinyllm.prompt.verbalizer import Verbalizer

TEMPLATE = "{x} it was {mask} ."


def ids(tok, text):
    return [tok.token_to_id(w) for w in text.split()]


def test_gpt_multi_token_scores_equal_the_chain_rule_E2_2_S11():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, TEMPLATE, {"neg": ["very bad"], "pos": ["great"]})
    S = pm.label_scores(tiny.TEXTS[:2])
    for n, text in enumerate(tiny.TEXTS[:2]):
        ctx = [tok.bos_id] + ids(tok, text + " it was")
        lp = tiny.log_softmax(m.forward(np.array([ctx + ids(tok, "very")]))[0])
        chain = lp[len(ctx) - 1, tok.token_to_id("very")] + lp[len(ctx), tok.token_to_id("bad")]
        assert S[n, 0] == pytest.approx(chain, abs=1e-12)              # sum_k log P(v_k | t(x), v_<k)
        assert S[n, 1] == pytest.approx(lp[len(ctx) - 1, tok.token_to_id("great")], abs=1e-12)


@pytest.mark.parametrize("decoding", ["left_to_right", "parallel"])
def test_bert_multi_token_scores_by_hand_S11(decoding):
    tok, m = tiny.tokenizer(), tiny.bert()
    m.eval()
    pm = PromptModel(m, tok, TEMPLATE, Verbalizer({"neg": ["very bad"], "pos": ["great"]}, tok, decoding=decoding))
    S = pm.label_scores(tiny.TEXTS[:2])
    very, bad, great = ids(tok, "very bad great")
    for n, text in enumerate(tiny.TEXTS[:2]):
        before = [tok.cls_id] + ids(tok, text + " it was")
        two = before + [tok.mask_id, tok.mask_id] + ids(tok, ".") + [tok.sep_id]
        lp = tiny.log_softmax(m.forward(np.array([two]))[0])
        filled = list(two)
        filled[len(before)] = very
        lp2 = tiny.log_softmax(m.forward(np.array([filled]))[0]) if decoding == "left_to_right" else lp
        assert S[n, 0] == pytest.approx(lp[len(before), very] + lp2[len(before) + 1, bad], abs=1e-12)
        one = before + [tok.mask_id] + ids(tok, ".") + [tok.sep_id]
        lp1 = tiny.log_softmax(m.forward(np.array([one]))[0])
        assert S[n, 1] == pytest.approx(lp1[len(before), great], abs=1e-12)


@pytest.mark.parametrize("combine", ["logsumexp", "mean", "max"])
def test_several_words_per_label_combine_S11(combine):
    tok, m = tiny.tokenizer(), tiny.gpt()
    single = PromptModel(m, tok, TEMPLATE, {"a": ["awful"], "b": ["very bad"], "c": ["great"], "d": ["very good"]})
    s = single.label_scores(tiny.TEXTS)
    pm = PromptModel(m, tok, TEMPLATE, Verbalizer(tiny.LABEL_WORDS, tok, combine=combine))
    S = pm.label_scores(tiny.TEXTS)
    f = {"logsumexp": np.logaddexp, "mean": lambda a, b: (a + b) / 2, "max": np.maximum}[combine]
    np.testing.assert_allclose(S, np.stack([f(s[:, 0], s[:, 1]), f(s[:, 2], s[:, 3])], axis=1), atol=1e-12)
    p = pm.predict_proba(tiny.TEXTS)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p, np.exp(S) / np.exp(S).sum(axis=1, keepdims=True), atol=1e-12)
    assert (pm.predict(tiny.TEXTS) == p.argmax(axis=1)).all()


def test_batching_does_not_change_scores():
    tok, m = tiny.tokenizer(), tiny.bert()
    a = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS).predict_proba(tiny.TEXTS)
    b = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS, batch_size=1).predict_proba(tiny.TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_soft_words_at_step_0_equal_the_hard_template_S12(make):
    tok, m = tiny.tokenizer(), make()
    hard = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS).predict_proba(tiny.TEXTS)
    soft = PromptModel(m, tok, "{x} {soft:it was} {mask} .", tiny.LABEL_WORDS)
    assert list(soft.prompt_params) == ["template.soft"] and soft.frozen
    np.testing.assert_array_equal(soft.predict_proba(tiny.TEXTS), hard)


def check_prompt_grads(pm, texts, labels):
    loss, grads = pm.loss_and_grads(texts, labels)
    assert loss == pytest.approx(pm.loss(texts, labels), abs=1e-12)
    assert set(grads) == set(pm.prompt_params)
    for name, p in pm.prompt_params.items():
        assert grads[name].shape == p.shape
        num = numerical_grad(lambda: pm.loss(texts, labels), p)
        assert rel_error(grads[name], num) <= 1e-6, name


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_soft_and_trigger_gradients_S12_S13(make):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, "{soft*2} {x} {trigger*2} {soft:it was} {mask} .", tiny.LABEL_WORDS)
    pm.set_triggers(ids(tok, "food movie"))
    assert set(pm.prompt_params) == {"template.soft", "template.trigger"}
    check_prompt_grads(pm, tiny.TEXTS, tiny.LABELS)


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_pet_gradients_on_model_params_E2_2(make):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS)
    assert not pm.frozen and pm.prompt_params is m.params
    loss, grads = pm.loss_and_grads(tiny.TEXTS, tiny.LABELS)
    assert set(grads) == set(m.params)
    rng = np.random.default_rng(0)
    for name in ["tok_emb", "h.0.attn.W_Q", "h.1.mlp.W_2" if "h.1.mlp.W_2" in m.params else "h.1.attn.W_O",
                 sorted(m.params)[-1]]:
        p = m.params[name]
        idx = rng.choice(p.size, size=min(5, p.size), replace=False)
        num = numerical_grad(lambda: pm.loss(tiny.TEXTS, tiny.LABELS), p, indices=idx)
        assert rel_error(grads[name].reshape(-1)[idx], num.reshape(-1)[idx]) <= 1e-6, name


def test_pet_loss_is_the_softmax_restricted_to_the_label_words():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, TEMPLATE, {"neg": ["awful"], "pos": ["great"]})
    x = [tok.bos_id] + ids(tok, "a movie it was")
    z = m.forward(np.array([x]))[0, -1][ids(tok, "awful great")]      # logits of the label words only
    assert pm.loss(["a movie"], [1]) == pytest.approx(-tiny.log_softmax(z)[1], abs=1e-12)


def test_truncation_keeps_the_template():
    tok, m = tiny.tokenizer(), tiny.gpt(max_len=12)
    pm = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS)
    long = " ".join(["the food was good"] * 10)
    # the longest row, [BOS] x it was very, has 4 tokens besides x: x keeps its first 8
    np.testing.assert_allclose(pm.predict_proba([long]), pm.predict_proba(["the food was good the food was good"]),
                               atol=1e-12)
    tiny_ctx = PromptModel(tiny.gpt(max_len=3), tok, TEMPLATE, tiny.LABEL_WORDS)
    with pytest.raises(ValueError, match="max_len=3"):
        tiny_ctx.predict_proba(["a movie"])


def test_named_fields():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} , {y} it was {mask}", tiny.LABEL_WORDS)
    p = pm.predict_proba([{"x": "a movie", "y": "the soup"}])
    q = PromptModel(m, tok, "{x} it was {mask}", tiny.LABEL_WORDS).predict_proba(["a movie , the soup"])
    np.testing.assert_allclose(p, q, atol=1e-12)
    with pytest.raises(ValueError, match="field"):
        pm.predict_proba(["a movie"])
    with pytest.raises(ValueError, match=r"lacks the template's field\(s\) \['y'\]"):
        pm.predict_proba([{"x": "a movie"}])


def test_bad_inputs():
    tok, m = tiny.tokenizer(), tiny.gpt()
    with pytest.raises(ValueError, match="no {mask}"):
        PromptModel(m, tok, "{x} it was", tiny.LABEL_WORDS)
    with pytest.raises(ValueError, match="no input slot"):
        PromptModel(m, tok, "it was {mask}", tiny.LABEL_WORDS)
    with pytest.raises(TypeError, match="GPT or BERT"):
        PromptModel(object(), tok, TEMPLATE, tiny.LABEL_WORDS)
    with pytest.raises(TypeError, match="tokenizer"):
        PromptModel(m, "tok", TEMPLATE, tiny.LABEL_WORDS)
    other = tiny.WordTokenizer(tiny.WORDS[:-3])
    with pytest.raises(ValueError, match="vocab_size"):
        PromptModel(m, other, TEMPLATE, tiny.LABEL_WORDS)
    pm = PromptModel(m, tok, TEMPLATE, tiny.LABEL_WORDS)
    with pytest.raises(ValueError, match="labels must lie in"):
        pm.loss(tiny.TEXTS, [0, 1, 2, 0])
    with pytest.raises(ValueError, match="not a label name"):
        pm.loss(tiny.TEXTS, ["neg", "pos", "meh", "neg"])
    with pytest.raises(ValueError, match="4 ints"):
        pm.loss(tiny.TEXTS, [0, 1])
    with pytest.raises(ValueError, match="non-empty list"):
        pm.predict_proba([])
    assert pm.loss(tiny.TEXTS, ["pos", "neg", "neg", "pos"]) == pm.loss(tiny.TEXTS, tiny.LABELS)


def test_non_finite_prompt_parameters_are_a_clear_error():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS)
    pm.prompt_params["template.soft"][0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="'template.soft'.*learning rate"):
        pm.loss_and_grads(tiny.TEXTS, tiny.LABELS)
