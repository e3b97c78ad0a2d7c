"""The zoo on first use: it says that training will take minutes before it starts, and a finished
run with exactly a zoo recipe (the demo's) is adopted into the cache instead of trained again."""

import io
import json

import numpy as np
import pytest

from tinyllm import zoo
from tinyllm.train.pretrain import Recipe, pretrain

TINY = dict(corpus="tinyworld", n_layer=1, n_head=2, d_model=16, max_len=48, steps=3, batch_size=8,
            n_train_docs=64, n_val_docs=16, eval_every=3)


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(zoo.RECIPES, "tinyworld-gpt", Recipe(model="gpt", **TINY))
    return tmp_path


def test_first_use_says_it_will_train_before_training(tiny_zoo, monkeypatch):
    stream = io.StringIO()
    real_build = zoo.build

    def build(name, progress=True):
        assert "training it once now (3 steps" in stream.getvalue()        # said before, not after
        assert "a few minutes" in stream.getvalue()
        return real_build(name, progress=False)

    monkeypatch.setattr(zoo, "build", build)
    zoo.pretrained("tinyworld-gpt", stream=stream)
    stream2 = io.StringIO()
    zoo.pretrained("tinyworld-gpt", stream=stream2)                       # cached: nothing to say
    assert stream2.getvalue() == ""


def test_a_run_with_the_zoo_recipe_is_adopted(tiny_zoo, monkeypatch):
    run = tiny_zoo / "demo"
    pretrain(Recipe(model="gpt", **TINY), run, progress=False)
    other = tiny_zoo / "other"
    pretrain(Recipe(model="gpt", **{**TINY, "seed": 1}), other, progress=False)
    assert zoo.adopt("tinyworld-gpt", other) is None                      # another recipe: not the zoo's
    cached = zoo.adopt("tinyworld-gpt", run)
    assert cached == zoo.model_dir("tinyworld-gpt")
    assert not (cached / "checkpoints").exists() and not any(p.name.startswith(".") for p in cached.iterdir())
    assert zoo.adopt("tinyworld-gpt", run) is None                        # already cached

    monkeypatch.setattr(zoo, "build", lambda *a, **k: pytest.fail("the adopted model should be loaded"))
    model, _ = zoo.pretrained("tinyworld-gpt")
    mine, _ = zoo.load_folder(run)
    assert all(np.array_equal(model.params[k], mine.params[k]) for k in model.params)


def test_an_unfinished_run_is_not_adopted(tiny_zoo):
    run = tiny_zoo / "demo"
    pretrain(Recipe(model="gpt", **TINY), run, progress=False)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "interrupted"}))
    assert zoo.adopt("tinyworld-gpt", run) is None
