"""Training through prompts: fit (PET and soft prompts, S12), the PET ensemble and distillation,
save/load of a prompt, AutoPrompt and label search (S13)."""

import json
import os

import numpy as np
import pytest

import prompt_tiny as tiny
from tinyllm.prompt.autoprompt import autoprompt, label_search
from tinyllm.prompt.pet import PETEnsemble, fit
from tinyllm.prompt.prompt_model import NonFiniteError, PromptModel

EXAMPLES = list(zip(tiny.TEXTS, tiny.LABELS))


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_fit_soft_prompt_leaves_the_model_byte_identical_S12(make):
    tok, m = tiny.tokenizer(), make()
    before = {k: v.copy() for k, v in m.params.items()}
    pm = PromptModel(m, tok, "{x} {soft:it was} {soft*2} {mask} .", tiny.LABEL_WORDS)
    start = pm.prompt_params["template.soft"].copy()
    losses = fit(pm, EXAMPLES, steps=30, lr=0.05, batch_size=4)
    assert losses[-1] < losses[0] * 0.5
    assert not np.array_equal(start, pm.prompt_params["template.soft"])
    for k, v in m.params.items():
        assert v.tobytes() == before[k].tobytes(), k


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_pet_fit_trains_the_model_E2_2(make):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    loss0 = pm.loss(tiny.TEXTS, tiny.LABELS)
    losses = fit(pm, EXAMPLES, steps=15, lr=3e-3, batch_size=4, seed=1)
    assert len(losses) == 15 and pm.loss(tiny.TEXTS, tiny.LABELS) < loss0 * 0.5
    assert (pm.predict(tiny.TEXTS) == tiny.LABELS).all()


def test_fit_is_deterministic():
    runs = []
    for _ in range(2):
        tok, m = tiny.tokenizer(), tiny.gpt()
        pm = PromptModel(m, tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS)
        runs.append(fit(pm, EXAMPLES, steps=5, lr=0.01, batch_size=3, seed=4))
    assert runs[0] == runs[1]


def test_pet_auxiliary_mlm_loss_on_bert():
    tok, m = tiny.tokenizer(), tiny.bert()
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    unl = ["the soup was warm", "the service was fast and the food good", "i hated this movie"]
    losses = fit(pm, EXAMPLES, steps=4, lr=1e-3, batch_size=2, unlabeled=unl, mlm_weight=0.5)
    assert len(losses) == 4 and np.isfinite(losses).all()
    with pytest.raises(ValueError, match="needs PET on a BERT"):
        fit(PromptModel(tiny.gpt(), tok, "{x} it was {mask} .", tiny.LABEL_WORDS), EXAMPLES, 1, 1e-3, unlabeled=unl)


def test_fit_bad_inputs_and_non_finite_steps():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS)
    with pytest.raises(ValueError, match="steps"):
        fit(pm, EXAMPLES, steps=-1, lr=0.1)
    with pytest.raises(TypeError, match="pair"):
        fit(pm, tiny.TEXTS, steps=1, lr=0.1)
    trig = PromptModel(m, tok, "{x} {trigger*2} {mask}", tiny.LABEL_WORDS)
    with pytest.raises(ValueError, match="autoprompt"):
        fit(trig, EXAMPLES, steps=1, lr=0.1)
    with pytest.raises(NonFiniteError, match="lower lr"):
        fit(pm, EXAMPLES, steps=3, lr=1e308, batch_size=4)
    assert np.all(np.isfinite(pm.prompt_params["template.soft"]))      # the bad step was not kept


def test_pet_ensemble_averages_label_scores():
    tok = tiny.tokenizer()
    a = PromptModel(tiny.gpt(seed=1), tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    b = PromptModel(tiny.gpt(seed=2), tok, "{x} . this was {mask} .", tiny.LABEL_WORDS)
    ens = PETEnsemble([a, b], weights=[3, 1])
    S = 0.75 * a.label_scores(tiny.TEXTS) + 0.25 * b.label_scores(tiny.TEXTS)
    np.testing.assert_allclose(ens.label_scores(tiny.TEXTS), S, atol=1e-12)
    q = ens.soft_labels(tiny.TEXTS, temperature=2.0)
    np.testing.assert_allclose(q, np.exp(S / 2) / np.exp(S / 2).sum(axis=1, keepdims=True), atol=1e-12)
    with pytest.raises(ValueError, match="weights"):
        PETEnsemble([a, b], weights=[1, -1])
    with pytest.raises(ValueError, match="labels"):
        PETEnsemble([a, PromptModel(tiny.gpt(), tok, "{x} {mask}", {"x": ["awful"], "y": ["great"]})])


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_save_load_round_trip_S12(make, tmp_path):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, "{x} {soft:it was} {trigger*2} {mask} .", tiny.LABEL_WORDS)
    pm.set_triggers([tok.token_to_id("food"), tok.token_to_id("place")])
    fit(pm, EXAMPLES, steps=3, lr=0.05, batch_size=4)
    folder = pm.save_prompt(tmp_path / "p")
    assert sorted(os.listdir(folder)) == ["prompt.json", "prompt.safetensors"]
    assert os.listdir(tmp_path) == ["p"]                                # no temporary folder left
    meta = json.loads((tmp_path / "p" / "prompt.json").read_text())
    assert meta["tensors"] == ["template.soft", "template.trigger"] and meta["model_fingerprint"] == m.fingerprint()
    back = PromptModel.load_prompt(folder, m, tok)
    np.testing.assert_array_equal(back.predict_proba(tiny.TEXTS), pm.predict_proba(tiny.TEXTS))
    assert back.trigger_ids == pm.trigger_ids
    pm.save_prompt(tmp_path / "p")                                       # replacing a saved prompt works
    other = make(max_len=32)
    with pytest.raises(ValueError, match="another model"):
        PromptModel.load_prompt(folder, other, tok)
    with pytest.raises(FileNotFoundError, match="no saved prompt"):
        PromptModel.load_prompt(tmp_path, m, tok)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a saved prompt"):
        pm.save_prompt(tmp_path / "busy")
    assert os.listdir(tmp_path / "busy") == ["notes.txt"]


def test_save_load_pet_builds_a_new_model(tmp_path):
    tok, m = tiny.tokenizer(), tiny.bert()
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    fit(pm, EXAMPLES, steps=3, lr=1e-3, batch_size=4)
    pm.save_prompt(tmp_path / "pet")
    fresh = tiny.bert(seed=5)
    back = PromptModel.load_prompt(tmp_path / "pet", fresh, tok)
    np.testing.assert_array_equal(back.predict_proba(tiny.TEXTS), pm.predict_proba(tiny.TEXTS))
    assert back.model is not fresh and not np.array_equal(fresh.params["tok_emb"], m.params["tok_emb"])


def test_load_with_another_vocabulary_is_an_error(tmp_path):
    tok, m = tiny.tokenizer(), tiny.gpt()
    PromptModel(m, tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS).save_prompt(tmp_path / "p")
    words = list(reversed(tiny.WORDS))
    other = tiny.WordTokenizer(words)
    with pytest.raises(ValueError, match="tokenizer"):
        PromptModel.load_prompt(tmp_path / "p", m, other)


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_autoprompt_never_picks_label_words_or_specials_S13(make):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, "{x} {trigger*3} {mask} .", tiny.LABEL_WORDS)
    before = {k: v.copy() for k, v in m.params.items()}
    loss0 = pm.loss(tiny.TEXTS, tiny.LABELS)
    out = autoprompt(pm, EXAMPLES, iters=6, n_candidates=8, batch_size=4, seed=0, exclude=["the"])
    assert len(out["losses"]) == 6 and out["trigger_ids"] == pm.trigger_ids
    banned = set(pm.verbalizer.label_token_ids()) | set(tok.special_ids)
    assert not banned & set(pm.trigger_ids)
    assert pm.loss(tiny.TEXTS, tiny.LABELS) <= loss0
    np.testing.assert_array_equal(pm.prompt_params["template.trigger"], m.params["tok_emb"][pm.trigger_ids])
    assert all(v.tobytes() == before[k].tobytes() for k, v in m.params.items())
    with pytest.raises(ValueError, match="no {trigger"):
        autoprompt(PromptModel(m, tok, "{x} {mask}", tiny.LABEL_WORDS), EXAMPLES, iters=1)


def test_autoprompt_candidates_follow_the_gradient_S13():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} {trigger*1} {mask} .", tiny.LABEL_WORDS)
    _, g = pm.loss_and_grads(tiny.TEXTS, tiny.LABELS)
    score = -(m.params["tok_emb"] @ g["template.trigger"][0])
    out = autoprompt(pm, EXAMPLES, iters=1, n_candidates=1, batch_size=4)
    banned = set(pm.verbalizer.label_token_ids()) | set(tok.special_ids) | {tok.token_to_id("the")}
    best = max((w for w in range(tok.vocab_size) if w not in banned), key=lambda w: score[w])
    assert out["trigger_ids"][0] in (best, tok.token_to_id("the"))      # taken only if it lowers the loss


@pytest.mark.parametrize("make", [tiny.gpt, tiny.bert])
def test_label_search(make):
    tok, m = tiny.tokenizer(), make()
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    words = label_search(pm, EXAMPLES, top_k=3)
    assert list(words) == ["neg", "pos"] and all(len(w) == 3 for w in words.values())
    flat = [w for ws in words.values() for w in ws]
    assert len(set(flat)) == 6 and not set(flat) & set(tok.specials)
    lp = pm.answer_log_probs(tiny.TEXTS)
    assert lp.shape == (4, tok.vocab_size)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0)


def test_an_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    import safetensors.numpy

    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS)
    pm.save_prompt(tmp_path / "p")
    old = (tmp_path / "p" / "prompt.safetensors").read_bytes()
    pm.prompt_params["template.soft"] += 1.0

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        pm.save_prompt(tmp_path / "p")
    with pytest.raises(OSError, match="disk full"):
        pm.save_prompt(tmp_path / "new")
    assert sorted(os.listdir(tmp_path)) == ["p"]                          # no temporary folder, no "new"
    assert (tmp_path / "p" / "prompt.safetensors").read_bytes() == old    # the old prompt is intact


def test_a_dataset_works_like_pairs():
    from types import SimpleNamespace

    ds = SimpleNamespace(texts=list(tiny.TEXTS), labels=np.array(tiny.LABELS), label_names=["neg", "pos"],
                         fields=[{} for _ in tiny.TEXTS])
    tok = tiny.tokenizer()
    a = PromptModel(tiny.gpt(), tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS)
    b = PromptModel(tiny.gpt(), tok, "{x} {soft*2} {mask}", tiny.LABEL_WORDS)
    assert fit(a, ds, steps=3, lr=0.01, batch_size=2) == fit(b, EXAMPLES, steps=3, lr=0.01, batch_size=2)
    np.testing.assert_array_equal(a.predict_proba(ds), b.predict_proba(tiny.TEXTS))


def test_label_search_bad_input():
    tok, m = tiny.tokenizer(), tiny.gpt()
    pm = PromptModel(m, tok, "{x} it was {mask} .", tiny.LABEL_WORDS)
    with pytest.raises(ValueError, match="not a label name"):
        label_search(pm, [("a movie", "meh"), ("the soup", "pos")])
    with pytest.raises(ValueError, match=r"no example of label\(s\) \['neg'\]"):
        label_search(pm, [("a movie", "pos"), ("the soup", "pos")])
    with pytest.raises(ValueError, match="top_k"):
        label_search(pm, EXAMPLES, top_k=0)
