"""`tinyllm pretrain --help` reads its defaults from the recipe (one source of truth)."""

import io

import pytest

from tinyllm.cli import main
from tinyllm.train import pretrain


def help_text(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"], out=io.StringIO(), err=io.StringIO())
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_the_recipe_defaults(capsys, monkeypatch):
    text = help_text(capsys)
    d = pretrain.DEFAULTS
    assert f"optimizer updates (default {d['gpt']['steps']})" in text
    assert f"(default {d['gpt']['batch_size']} (GPT), {d['bert']['batch_size']} (BERT))" in text
    assert "{recipe:" not in text
    monkeypatch.setitem(pretrain.DEFAULTS["gpt"], "steps", 1234)
    monkeypatch.setitem(pretrain.DEFAULTS["bert"], "steps", 1234)
    assert "optimizer updates (default 1234)" in help_text(capsys)
