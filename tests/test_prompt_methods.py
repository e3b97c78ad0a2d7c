"""tinyllm.prompt.methods and `tinyllm prompt`: every method of §2 runs the five steps of §3.2 on a
task (E2.1 against E2.2, calibration S11, soft prompts S12, AutoPrompt S13), deterministically, and
never changes the pre-trained model it is given. Tiny random models keep this fast; the numbers that
matter come from the zoo models (README, chapters)."""

import io
import json

import numpy as np
import pytest

from tinyllm.data import tinyworld
from tinyllm.models import BERT, GPT, BERTConfig, GPTConfig
from tinyllm.prompt import methods as M

TOK = tinyworld.tokenizer()
FAST = dict(steps=2)


def tiny(kind):
    cfg = dict(vocab_size=TOK.vocab_size, n_layer=1, n_head=2, d_model=16, max_len=96)
    return GPT(GPTConfig(**cfg), seed=3).eval() if kind == "gpt" else BERT(BERTConfig(**cfg), seed=3).eval()


def snapshot(model):
    return {k: v.tobytes() for k, v in model.params.items()}


@pytest.mark.parametrize("kind", ["bert", "gpt"])
@pytest.mark.parametrize("method", M.METHODS)
def test_every_method_runs_and_leaves_the_model_unchanged(kind, method):
    model = tiny(kind)
    ok, why = M.applies(method, kind)
    if not ok:
        assert why
        with pytest.raises(ValueError, match="does not apply"):
            M.run(method, "tw-sentiment", model, TOK, k=2, seed=0, n_test=8)
        return
    before = snapshot(model)
    hp = FAST if method in M.TRAINED and method != "autoprompt" else ({"iters": 1} if method == "autoprompt" else {})
    row = M.run(method, "tw-sentiment", model, TOK, k=2, seed=5, n_test=8, **hp)
    assert snapshot(model) == before, f"{method} changed the pre-trained model's weights"
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
    assert row["n_test"] == 8 and row["method"] == method and row["k"] == 2
    assert {**M.HYPERPARAMETERS.get(method, {}), **hp} == row["hp"]


@pytest.mark.parametrize("method", ["pet", "head", "soft"])
def test_same_seed_same_result(method):
    model = tiny("bert")
    a = M.run(method, "tw-sentiment", model, TOK, k=2, seed=7, n_test=16, **FAST)
    b = M.run(method, "tw-sentiment", model, TOK, k=2, seed=7, n_test=16, **FAST)
    assert a["accuracy"] == b["accuracy"] and a["macro_f1"] == b["macro_f1"]


def test_training_changes_predictions_with_enough_steps():
    """E2.1 and E2.2 both learn: with a large learning rate the training loss of PET goes down."""
    from tinyllm.prompt import PromptModel, fit, tasks

    shots = tasks.few_shot(tasks.load("tw-sentiment", "train"), 4, seed=0)
    pm = PromptModel(tiny("bert"), TOK, "review: {x} it was {mask}.", {"negative": ["bad"], "positive": ["great"]})
    losses = fit(pm, shots, steps=30, lr=3e-3, batch_size=8, seed=0)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_bad_input_is_a_clear_error():
    model = tiny("bert")
    with pytest.raises(ValueError, match="unknown 'nope'"):
        M.run("nope", "tw-sentiment", model, TOK, k=2, seed=0)
    with pytest.raises(ValueError, match="k >= 1"):
        M.run("pet", "tw-sentiment", model, TOK, k=0, seed=0)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        M.run("pet", "tw-sentiment", model, TOK, k=2, seed=0, stepz=3)
    with pytest.raises(ValueError, match="template must be"):
        M.run("zero-shot", "tw-sentiment", model, TOK, k=0, seed=0, template=9)
    with pytest.raises(ValueError, match="label_words must name"):
        M.run("zero-shot", "tw-sentiment", model, TOK, k=0, seed=0, label_words={"good": ["great"], "bad": ["bad"]})
    with pytest.raises(ValueError, match="generative"):
        M.templates("tw-qa", "bert")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    tiny("bert").save_pretrained(str(folder))
    TOK.save(str(folder))
    return folder


def run_cli(argv):
    from tinyllm.cli import main

    out, err = io.StringIO(), io.StringIO()
    return main(argv, out=out, err=err), out.getvalue(), err.getvalue()


def test_cli_prints_mean_and_std_over_seeds_on_the_last_line(model_folder):
    code, out, err = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder), "--method", "pet",
                              "--k", "2", "--seeds", "1", "2", "--n-test", "8", "--steps", "2", "--json"])
    assert code == 0, err
    lines = out.strip().splitlines()
    rows = [json.loads(l) for l in lines if l.startswith("{")]
    assert [r["seed"] for r in rows] == [1, 2]
    mean = np.mean([r["accuracy"] for r in rows])
    std = np.std([r["accuracy"] for r in rows], ddof=1)
    assert lines[-1] == f"accuracy: {mean:.4f} ± {std:.4f} (2 seeds)"


def test_cli_templates_and_errors(model_folder):
    code, out, _ = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder), "--list-templates"])
    assert code == 0 and out.startswith("0: review: {x} it was {mask}.")
    code, _, err = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder), "--method", "icl"])
    assert code == 2 and "does not apply" in err
    code, _, err = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder),
                            "--label-words", "{bad json"])
    assert code == 2 and "not valid JSON" in err
    code, _, err = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder), "--steps", "3"])
    assert code == 2 and "trains nothing" in err
    code, _, err = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder),
                            "--template-text", "review: {x} it was {mask}.", "--label-words",
                            '{"negative": ["zzzq"], "positive": ["great"]}'])
    assert code == 2 and "zzzq" in err


def test_grid_writes_rows_resumes_and_tabulates(tmp_path):
    from tinyllm.prompt.grid import load_rows, markdown_table, run_grid

    out = tmp_path / "grid.json"
    model = tiny("bert")
    rows = run_grid("tw-sentiment", "tiny", ["zero-shot", "head", "icl"], [0, 2], [1, 2], out=out, n_test=8,
                    model=model, tokenizer=TOK)
    # zero-shot: once per template (K = 0); head: K=2 x 2 seeds; icl does not apply to a BERT
    assert sorted((r["method"], r["k"]) for r in rows) == [("head", 2)] * 2 + [("zero-shot", 0)] * 3
    assert load_rows(out) == rows
    calls = []
    again = run_grid("tw-sentiment", "tiny", ["zero-shot", "head"], [0, 2], [1, 2], out=out, n_test=8,
                     model=model, tokenizer=TOK, progress=calls.append)
    assert calls == [] and again == rows                      # nothing ran twice
    table = markdown_table(rows)
    heads = [r["accuracy"] for r in rows if r["method"] == "head"]
    assert f"| head |  | {100 * np.mean(heads):.1f} ± {100 * np.std(heads, ddof=1):.1f} (2) |" in table
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected"):
        load_rows(tmp_path / "bad.json")


def test_cli_grid(model_folder, tmp_path):
    out = tmp_path / "g.json"
    code, text, err = run_cli(["prompt", "grid", "--task", "tw-sentiment", "--model", str(model_folder),
                               "--methods", "zero-shot", "--ks", "0", "--out", str(out), "--n-test", "8"])
    assert code == 0, err
    assert text.strip().splitlines()[-1].startswith("| zero-shot | ") and out.exists()
