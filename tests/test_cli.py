"""The command line: --help for every subcommand, a tiny pretrain/resume/generate/eval run, errors."""

import io
import json

import numpy as np
import pytest

from tinyllm.cli import build_parser, main

TINY = ["--corpus", "tinyworld", "--n-layer", "1", "--n-head", "2", "--d-model", "16", "--max-len", "48",
        "--train-docs", "64", "--val-docs", "16", "--batch-size", "8", "--eval-every", "2", "--quiet"]


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command, words", [
    ("pretrain", ["ten steps", "E3.6", "E3.7", "S9", "E4.1", "--resume", "--force"]),
    ("generate", ["S14", "temperature", "top-k", "top-p", "KV cache"]),
    ("eval", ["step 9", "E4.1", "entropy floor"]),
    ("fetch", ["step 1", "shakespeare", "TINYLLM_HOME"]),
    ("demo", ["TinyWorld", "entropy floor", "loss curve"]),
])
def test_every_subcommand_has_teaching_help(command, words, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for w in words:
        assert w in text, (command, w)


def test_top_level_help_lists_subcommands():
    code, out, _ = run([])
    assert code == 0
    for name in ("pretrain", "generate", "eval", "fetch", "demo", "section 3.2"):
        assert name in out
    sub = build_parser()._subparsers._group_actions[0].choices
    assert {"pretrain", "generate", "eval", "fetch", "demo", "prompt", "app"} <= set(sub)


def test_tiny_pretrain_resume_generate_eval(tmp_path):
    out = tmp_path / "run"
    code, _, err = run(["pretrain", "--out", str(out), "--steps", "4"] + TINY)
    assert code == 0, err
    assert "entropy floor" in err and "perplexity" in err
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "loss_curve.png",
                 "recipe.json"):
        assert (out / name).exists(), name
    from tinyllm.data import load_tokenizer
    from tinyllm.models import GPT

    model = GPT.from_pretrained(out)                    # what an independent check does
    tok = load_tokenizer(out)
    assert model.config.vocab_size == tok.vocab_size

    # not empty and no --resume/--force: a clear refusal
    code, _, err = run(["pretrain", "--out", str(out), "--steps", "4"] + TINY)
    assert code == 2 and "not empty" in err and "--resume" in err

    code, _, err = run(["pretrain", "--out", str(out), "--steps", "6", "--resume", "--quiet"])
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 6 and metrics["status"] == "completed"

    code, text, err = run(["generate", str(out), "--prompt", "facts: Anna", "--max-new-tokens", "5",
                           "-n", "2", "--seed", "1"])
    assert code == 0, err
    assert len(text.strip().splitlines()) == 2 and text.startswith("facts: Anna")

    code, text, err = run(["eval", str(out), "--docs", "20"])
    assert code == 0, err
    assert "cross-entropy" in text and "entropy floor" in text and "perplexity" in text

    code, _, err = run(["pretrain", "--out", str(out), "--steps", "2", "--force"] + TINY)
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["step"] == 2


def test_tiny_bert_pretrain(tmp_path):
    out = tmp_path / "bert"
    code, _, err = run(["pretrain", "--model", "bert", "--out", str(out), "--steps", "3"] + TINY)
    assert code == 0, err
    code, text, err = run(["eval", str(out), "--docs", "20"])
    assert code == 0, err
    assert "masked-token accuracy" in text
    code, _, err = run(["generate", str(out)])
    assert code == 2 and "BERT" in err


def test_clear_errors(tmp_path):
    code, _, err = run(["pretrain", "--out", str(tmp_path / "a"), "--corpus", str(tmp_path / "missing.txt")])
    assert code == 2 and "missing.txt" in err
    code, _, err = run(["pretrain", "--out", str(tmp_path / "b"), "--preset", "huge"])
    assert code == 2 and "preset" in err and "tiny" in err
    code, _, err = run(["pretrain", "--out", str(tmp_path / "c"), "--resume"])
    assert code == 2 and "no checkpoint" in err
    stranger = tmp_path / "d"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    code, _, err = run(["pretrain", "--out", str(stranger), "--force"])
    assert code == 2 and "refusing" in err and (stranger / "notes.txt").exists()
    code, _, err = run(["pretrain", "--out", str(tmp_path / "f")] + TINY + ["--n-head", "3"])
    assert code == 2 and "divisible" in err and not (tmp_path / "f").exists()   # nothing written
    code, _, err = run(["generate", str(tmp_path / "nothing")])
    assert code == 2 and "zoo name" in err
    code, _, err = run(["pretrain", "--out", str(tmp_path / "e"), "--backend", "fortran"] + TINY + ["--steps", "1"])
    assert code == 2 and "backend" in err
    for bad in (["--temperature", "0"], ["--top-k", "0"], ["--max-new-tokens", "-1"]):
        with pytest.raises(SystemExit) as e:
            main(["generate", "x"] + bad)
        assert e.value.code == 2


def test_generate_rejects_top_p_above_one(tmp_path):
    from tinyllm.data import tinyworld
    from tinyllm.models import GPT, GPTConfig

    tok = tinyworld.tokenizer()
    folder = tmp_path / "m"
    GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=1, d_model=8, max_len=16)).save_pretrained(folder)
    tok.save(folder / "tokenizer.json")
    code, _, err = run(["generate", str(folder), "--top-p", "1.5"])
    assert code == 2 and "top-p" in err
    code, text, _ = run(["generate", str(folder), "--greedy", "--max-new-tokens", "3", "--prompt", "Anna"])
    assert code == 0 and text.startswith("Anna")
    assert np.isfinite(GPT.from_pretrained(folder).params["tok_emb"]).all()


def test_pretrain_on_a_text_file(tmp_path):
    text = tmp_path / "poem.txt"
    text.write_text(("the quick brown fox jumps over the lazy dog. 你好, 世界!\n" * 40), encoding="utf-8")
    out = tmp_path / "chars"
    code, _, err = run(["pretrain", "--corpus", str(text), "--out", str(out), "--steps", "3", "--n-layer", "1",
                        "--n-head", "2", "--d-model", "16", "--max-len", "32", "--batch-size", "4", "--quiet"])
    assert code == 0, err
    assert "characters" in err
    code, result, err = run(["eval", str(out), "--corpus", str(text), "--docs", "8"])
    assert code == 0, err
    assert "cross-entropy" in result and "entropy floor" not in result
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait".encode("latin-1"))
    code, _, err = run(["pretrain", "--corpus", str(bad), "--out", str(tmp_path / "x")])
    assert code == 2 and "UTF-8" in err


def test_quiet_run_still_reports_an_interruption(tmp_path, monkeypatch):
    """Ctrl-C during a --quiet run: exit 130, and the message says where it saved and how to resume."""
    import tinyllm.train.pretrain as pretrain_module

    real = pretrain_module.pretrain

    def ctrl_c_after_step_2(trainer):
        if trainer.step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(pretrain_module, "pretrain",
                        lambda *a, **kw: real(*a, **{**kw, "callbacks": [ctrl_c_after_step_2]}))
    code, _, err = run(["pretrain", "--out", str(tmp_path / "run"), "--steps", "6"] + TINY)
    assert code == 130
    assert "interrupted at step 2" in err and "--resume" in err


def test_fetch_command_calls_the_fetcher(tmp_path, monkeypatch):
    """`tinyllm fetch NAME` reaches tinyllm.data.fetch.fetch (no network: the fetcher is replaced)."""
    import tinyllm.data.fetch as fetch_module

    calls = []
    monkeypatch.setattr(fetch_module, "fetch", lambda name, home=None, progress=None: calls.append(name) or tmp_path / name)
    code, text, err = run(["fetch", "shakespeare"])
    assert code == 0, err
    assert calls == ["shakespeare"] and str(tmp_path / "shakespeare") in text
