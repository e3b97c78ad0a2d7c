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
    if method == "pet-distill":
        hp = {**FAST, "distill_steps": 2, "n_unlabeled": 16}
    k = 1 if method in ("icl", "icl-cal") else 2          # ICL shows all K per class: 2 x 1 fit in 96 tokens
    row = M.run(method, "tw-sentiment", model, TOK, k=k, seed=5, n_test=8, **hp)
    assert snapshot(model) == before, f"{method} changed the pre-trained model's weights"
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
    assert row["n_test"] == 8 and row["method"] == method and row["k"] == k
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


def test_grid_rows_carry_the_weights_and_refuse_other_weights(tmp_path):
    from tinyllm.prompt.grid import run_grid, weights_fingerprint

    out = tmp_path / "grid.json"
    model = tiny("bert")
    rows = run_grid("tw-sentiment", "tiny", ["zero-shot"], [0], [1], out=out, n_test=8, model=model, tokenizer=TOK)
    assert {r["weights"] for r in rows} == {weights_fingerprint(model)} and all(r["peak_mb"] > 0 for r in rows)
    other = tiny("bert")
    other.params["tok_emb"] = other.params["tok_emb"] + 1e-3          # another build of "the same" model
    assert weights_fingerprint(other) != weights_fingerprint(model)
    with pytest.raises(ValueError, match="other weights"):
        run_grid("tw-sentiment", "tiny", ["zero-shot"], [0], [1], out=out, n_test=8, model=other, tokenizer=TOK)
    run_grid("tw-sentiment", "tiny", ["head"], [1], [1], out=out, n_test=8, model=model, tokenizer=TOK)
    with pytest.raises(ValueError, match="n_test=6"):               # never two test-set sizes in one table
        run_grid("tw-sentiment", "tiny", ["zero-shot"], [0], [1], out=out, n_test=6, model=model, tokenizer=TOK)
    old = dict(M.HYPERPARAMETERS["head"])
    try:
        M.HYPERPARAMETERS["head"]["lr"] = 1.0                     # the method's setting changed since
        with pytest.raises(ValueError, match="other hyper-parameters"):
            run_grid("tw-sentiment", "tiny", ["head"], [1], [1], out=out, n_test=8, model=model, tokenizer=TOK)
    finally:
        M.HYPERPARAMETERS["head"] = old


def test_dev_set_is_k_per_class_and_disjoint_from_the_training_shots():
    from tinyllm.prompt import tasks as T

    train = T.load("tw-sentiment", "train")
    for seed in (13, 21):
        shots, dev = T.few_shot(train, 8, seed), T.dev_set(train, 8, seed)
        assert np.bincount(dev.labels).tolist() == [8, 8]
        assert not set(shots.texts) & set(dev.texts)
        assert T.dev_set(train, 8, seed).texts == dev.texts           # seeded
    row = M.run("head", "tw-sentiment", tiny("bert"), TOK, 2, 1, split="dev")
    assert row["n_test"] == 4 and row["split"] == "dev"
    with pytest.raises(ValueError, match="split"):
        M.run("head", "tw-sentiment", tiny("bert"), TOK, 2, 1, split="train")


def test_icl_shows_all_k_examples_and_refuses_more_than_fit():
    with pytest.raises(ValueError, match="max_per_class"):
        M.run("icl", "tw-sentiment", tiny("gpt"), TOK, k=5, seed=0, n_test=4)
    assert M.run("icl", "tw-sentiment", tiny("gpt"), TOK, k=1, seed=0, n_test=4)["k"] == 1


def test_cli_quick_grid_fixes_methods_ks_and_seeds(model_folder, tmp_path):
    code, text, err = run_cli(["prompt", "grid", "--quick", "--task", "tw-sentiment", "--model", str(model_folder),
                               "--ks", "0", "--out", str(tmp_path / "q.json")])
    assert code == 2 and "--quick" in err and "--ks" in err
    code, text, err = run_cli(["prompt", "--quick", "--task", "tw-sentiment", "--model", str(model_folder)])
    assert code == 2 and "grid" in err


def test_grid_with_no_applicable_method_is_a_clear_error():
    from tinyllm.prompt.grid import run_grid

    with pytest.raises(ValueError, match="no method.*applies.*causal LM"):
        run_grid("tw-sentiment", "tiny", ["icl", "icl-cal"], [1], [1], n_test=4, model=tiny("bert"), tokenizer=TOK)


def test_markdown_table_shows_no_spread_for_a_single_run():
    from tinyllm.prompt.grid import markdown_table

    rows = [{"method": "head", "k": 4, "seed": 1, "accuracy": 0.5},
            {"method": "pet", "k": 4, "seed": 1, "accuracy": 0.75}, {"method": "pet", "k": 4, "seed": 2, "accuracy": 0.25}]
    table = markdown_table(rows)
    assert "| head | 50.0 (1) |" in table and "nan" not in table
    assert "50.0 ± 35.4 (2)" in table


def test_cli_zero_shot_methods_record_k_0(model_folder):
    """Every zero-shot method (grid.ZERO_SHOT, zero-shot-sim included) is recorded at K = 0 whatever --k says."""
    import json as _json

    for method in ("zero-shot", "zero-shot-sim"):
        code, text, err = run_cli(["prompt", "--task", "tw-sentiment", "--model", str(model_folder), "--method",
                                   method, "--k", "16", "--seeds", "1", "--n-test", "8", "--json"])
        assert code == 0, err
        rows = [_json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert rows and all(r["k"] == 0 for r in rows), (method, rows)
