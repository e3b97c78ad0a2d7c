"""tinyllm.apps end to end: every application on a tiny random model (fast), the zoo model (slow),
and the `tinyllm app` command line."""

import io

import numpy as np
import pytest

from tinyllm import apps
from tinyllm.apps import base, classification, code, dialogue, knowledge, qa, summarization, translation
from tinyllm.cli import main
from tinyllm.data import tinyworld
from tinyllm.models import BERT, GPT, BERTConfig, GPTConfig

ALL = apps.NAMES


@pytest.fixture(scope="module")
def tiny():
    tok = tinyworld.tokenizer()
    gpt = GPT(GPTConfig(vocab_size=len(tok), n_layer=1, n_head=2, d_model=16, max_len=64), seed=0)
    bert = BERT(BERTConfig(vocab_size=len(tok), n_layer=1, n_head=2, d_model=16, max_len=64), seed=0)
    return (gpt, tok), (bert, tok)


@pytest.mark.parametrize("name", ALL)
def test_each_app_runs_end_to_end_on_a_tiny_random_model(tiny, name):
    gpt, bert = tiny
    kwargs = {"bert": bert} if name == "knowledge" else {}
    r = apps.run(name, model=gpt, n=2, seed=1, **kwargs)
    assert isinstance(r, base.AppResult) and r.app == name
    assert r.metric in r.metrics and r.value == r.metrics[r.metric]
    assert all(isinstance(v, (int, float)) and np.isfinite(v) for v in r.metrics.values())
    assert r.examples and all(isinstance(e, base.Example) for e in r.examples)
    text = r.report(k=1)
    assert text.splitlines()[-1] == r.summary_line() and "prompt:" in text
    assert r.to_dict()["metrics"] == r.metrics


def test_a_random_model_scores_near_zero_where_the_answer_is_a_choice(tiny):
    gpt, _ = tiny
    assert qa.run(gpt, n=5).value == 0.0
    assert summarization.run(gpt, n=3).metrics["exact_match"] == 0.0


def test_the_unseen_questions_are_two_hop_and_answered_from_the_world():
    w = tinyworld.world()
    for question, answer, shortcut in qa.unseen_questions(20, seed=0):
        name = question.split("friend of ")[1].split()[0].rstrip("?")
        me, friend = w.person[name], w.person[w.person[name].friend]
        k = [friend.city, friend.job, friend.pet, friend.food, w.country_of[friend.city]].index(answer)
        assert shortcut == [me.city, me.job, me.pet, me.food, w.country_of[me.city]][k]
    known = qa.known_questions(20, seed=0)
    assert len(known) == 20 and not {q for q, _ in known} & {q for q, _, _ in qa.unseen_questions(50)}


def test_stated_triples_parse_every_facts_sentence_and_are_true_in_the_world():
    true = set(knowledge.world_facts())
    assert len(true) == 32 * 6 + 16 + 16 + 30
    for d in tinyworld.sample(40, seed=5, split="test", kinds=("facts",)):
        t = knowledge.stated_triples(d.text)
        assert len(t) == len({s for s in d.text.split(".") if s.strip()}) and t <= true, d.text


def test_code_blank_and_check():
    assert code.blank("k = 7; y = k + 9; print y.") == ("k = 7; y = k +", "; print y.")
    assert code.checked("k = 7; y = k + 9; print y.", "16")
    assert not code.checked("k = 7; y = k + 8; print y.", "16")
    assert not code.checked("k = 7; y = k + ; print y.", "16")       # a broken completion is just wrong


def test_dialogue_prompt_ends_at_the_answering_speaker():
    text = "dialogue: Paula: hi Emma! Emma: hi Paula, I am bored. Paula: who is your friend? Emma: my friend is Leo. Paula: thank you."
    assert dialogue.prompt_of(text, "Emma").endswith("who is your friend? Emma:")


def test_noisy_channel_back_translation_keeps_the_pattern(tiny):
    gpt, _ = tiny
    english = translation.from_toy(*gpt, "Adam kesa ka fuma musa", sweeps=1)
    assert english.split()[0] in tinyworld.world().person and english.split()[2] == "the"


def test_bad_arguments_are_clear_errors(tiny):
    gpt, bert = tiny
    with pytest.raises(ValueError, match="unknown application 'poetry'"):
        apps.run("poetry")
    with pytest.raises(ValueError, match="n: expected an int >= 1"):
        qa.run(gpt, n=0)
    with pytest.raises(ValueError, match="needs a GPT, got BERT"):
        qa.run(bert, n=1)
    with pytest.raises(TypeError, match="model: expected a zoo name"):
        qa.run(42, n=1)


def test_cli_prints_the_metric_on_the_last_line(monkeypatch, tiny):
    gpt, _ = tiny
    monkeypatch.setattr(base, "default_model", lambda kind="gpt": gpt)
    out, err = io.StringIO(), io.StringIO()
    assert main(["app", "qa", "--n", "2", "--seed", "3", "--examples", "1"], out=out, err=err) == 0
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("qa: exact_match_known=") and "exact_match_unseen=" in last
    assert main(["app", "qa", "--model", "no/such/folder"], out=out, err=err) == 2
    assert "no/such/folder" in err.getvalue()
    with pytest.raises(SystemExit):
        main(["app", "poetry"], out=out, err=err)


@pytest.mark.slow
def test_zoo_model_knows_its_world():
    r = qa.run("tinyworld-gpt", n=40)
    assert r.metrics["exact_match_known"] >= 0.9
    assert r.metrics["exact_match_unseen"] < r.metrics["exact_match_known"]
    assert translation.run("tinyworld-gpt", n=10).metrics["bleu_into"] >= 80
    m = code.run("tinyworld-gpt", n=20).metrics
    assert m["completion"] > m["completion_greedy"]


def test_classification_inputs_hide_the_label():
    d = tinyworld.sample(1, seed=0, split="test", kinds=("review",))[0]
    x = classification.without_last_sentence(d.text)
    assert d.text.startswith(x) and not any(e in x for e in classification.sentiment_words()[d.label])
    n = tinyworld.sample(1, seed=0, split="test", kinds=("news",))[0]
    assert "said it was" not in classification.news_without_reaction(n.text)
