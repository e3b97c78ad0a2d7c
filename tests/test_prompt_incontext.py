"""Zero- and few-shot in context (article §3.2 step 3): demonstrations and contextual calibration
(S11: divide by P(v(y) | t(content-free)), Zhao et al. 2021)."""

import numpy as np
import pytest

import prompt_tiny as tiny
from tinyllm.prompt.calibration import calibrate
from tinyllm.prompt.demonstrations import Demonstrations
from tinyllm.prompt.prompt_model import PromptModel

EXAMPLES = [("the food was good", 1), ("a movie", 0), ("the soup was cold", 0), ("i liked this place", 1),
            ("the service was slow", 0), ("the soup was warm", 1)]


def ids(tok, text):
    return [tok.token_to_id(w) for w in text.split()]


def test_calibration_on_a_hand_example_S11():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
    p_cf = np.array([0.5, 0.25, 0.25])
    q = calibrate(p, p_cf)
    # row 0: (1.4, 0.8, 0.4) / 2.6 ; row 1: (1.0, 1.2, 0.8) / 3.0
    np.testing.assert_allclose(q, [[1.4 / 2.6, 0.8 / 2.6, 0.4 / 2.6], [1 / 3, 0.4, 0.8 / 3]], atol=1e-15)
    np.testing.assert_allclose(calibrate(p_cf, p_cf), [1 / 3] * 3)      # content-free -> uniform
    assert q[1].argmax() == 1 and p[1].argmax() == 0                  # calibration can flip a prediction


@pytest.mark.parametrize("p, p_cf, match", [
    (np.ones((2, 3)) / 3, np.array([0.5, 0.5]), "p_cf must have shape"),
    (np.ones((2, 3)) / 3, np.array([0.5, 0.5, 0.0]), "positive"),
    (np.array([[np.nan, 0.5]]), np.array([0.5, 0.5]), "finite"),
    (np.zeros((1, 2)), np.array([0.5, 0.5]), "all zeros"),
])
def test_calibration_bad_input(p, p_cf, match):
    with pytest.raises(ValueError, match=match):
        calibrate(p, p_cf)


def test_content_free_probs_average_the_inputs():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    p_cf = pm.content_free_probs()
    expect = np.mean([pm.predict_proba([s])[0] for s in ("N/A", "", "[MASK]")], axis=0)
    np.testing.assert_allclose(p_cf, expect, atol=1e-12)
    mask_row = pm.predict_proba(["[MASK]"])[0]
    x = [tok.bos_id, tok.mask_id] + ids(tok, "it was")                  # "[MASK]" spliced, not 3 [UNK]s
    z = m.forward(np.array([x]))[0, -1]
    assert mask_row[0] > 0 and np.isfinite(z).all()
    q = calibrate(pm.predict_proba(tiny.TEXTS), p_cf)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)


def test_demonstrations_are_deterministic_and_balanced():
    a = Demonstrations(EXAMPLES, k=4, seed=3)
    b = Demonstrations(EXAMPLES, k=4, seed=3)
    assert a.examples == b.examples and len(a) == 4
    assert sorted(y for _, y in a.examples) == [0, 0, 1, 1]
    assert {tuple(Demonstrations(EXAMPLES, k=4, seed=s).examples) for s in range(6)} != {tuple(a.examples)}
    g = Demonstrations(EXAMPLES, k=4, seed=3, order="grouped").examples
    assert [y for _, y in g] in ([0, 0, 1, 1], [1, 1, 0, 0])
    i = Demonstrations(EXAMPLES, k=4, seed=3, order="interleave").examples
    assert [y for _, y in i][0] != [y for _, y in i][1]


def test_gpt_demonstrations_go_before_the_query():
    tok, m = tiny.tokenizer(), tiny.gpt(max_len=40)
    pm = PromptModel(m, tok, "{x} it was {mask} .", {"neg": ["awful"], "pos": ["great"]})
    demos = Demonstrations(EXAMPLES[:2], k=2, order="grouped", seed=0)
    S = pm.label_scores(["a movie"], demonstrations=demos)
    seq = []
    for text, y in demos.examples:
        seq += [tok.bos_id] + ids(tok, text + " it was " + ["awful", "great"][y] + " .") + [tok.eos_id]
    seq += [tok.bos_id] + ids(tok, "a movie it was")
    lp = tiny.log_softmax(m.forward(np.array([seq]))[0, -1])
    np.testing.assert_allclose(S[0], lp[ids(tok, "awful great")], atol=1e-12)


def test_bert_demonstrations_go_after_sep():
    tok, m = tiny.tokenizer(), tiny.bert(max_len=40)
    pm = PromptModel(m, tok, "{x} it was {mask} .", {"neg": ["awful"], "pos": ["great"]})
    demos = Demonstrations(EXAMPLES[:2], k=2, order="grouped", seed=0)
    S = pm.label_scores(["a movie"], demonstrations=demos)
    seq = [tok.cls_id] + ids(tok, "a movie it was") + [tok.mask_id] + ids(tok, ".") + [tok.sep_id]
    for text, y in demos.examples:
        seq += ids(tok, text + " it was " + ["awful", "great"][y] + " .") + [tok.sep_id]
    lp = tiny.log_softmax(m.forward(np.array([seq]))[0, 5])
    np.testing.assert_allclose(S[0], lp[ids(tok, "awful great")], atol=1e-12)


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_demonstrations_longer_than_the_context_are_an_error(make):
    tok, m = tiny.tokenizer(), make(max_len=24)
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    demos = Demonstrations(EXAMPLES, k=4, seed=0)
    with pytest.raises(ValueError, match="demonstrations.*max_len=24.*fewer or shorter"):
        pm.predict_proba(["a movie"], demonstrations=demos)


@pytest.mark.parametrize("kwargs, match", [
    (dict(k=0), "k must be"), (dict(k=7), "k must be"), (dict(k=2, order="sorted"), "order"),
])
def test_demonstrations_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Demonstrations(EXAMPLES, **kwargs)


def test_demonstration_examples_checked():
    with pytest.raises(TypeError, match=r"examples\[0\]"):
        Demonstrations(["a movie"], k=1)
    with pytest.raises(ValueError, match="empty"):
        Demonstrations([], k=1)
