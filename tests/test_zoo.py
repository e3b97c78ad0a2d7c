"""The model zoo: train once on first use, cache under TINYLLM_HOME, load afterwards."""

import json
import shutil

import numpy as np
import pytest

from tinyllm import zoo
from tinyllm.models import BERT, GPT
from tinyllm.train.pretrain import Recipe

TINY = dict(corpus="tinyworld", n_layer=1, n_head=2, d_model=16, max_len=48, steps=3, batch_size=8,
            n_train_docs=64, n_val_docs=16, eval_every=3)


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path))
    monkeypatch.setitem(zoo.RECIPES, "tinyworld-gpt", Recipe(model="gpt", **TINY))
    monkeypatch.setitem(zoo.RECIPES, "tinyworld-bert", Recipe(model="bert", **TINY))
    return tmp_path


def test_trains_once_then_loads(tiny_zoo, monkeypatch):
    model, tok = zoo.pretrained("tinyworld-gpt", progress=False)
    assert isinstance(model, GPT) and model.config.vocab_size == tok.vocab_size
    folder = tiny_zoo / "models" / "tinyworld-gpt"
    assert (folder / "model.safetensors").exists() and not (folder / "checkpoints").exists()
    assert [p.name for p in (tiny_zoo / "models").iterdir()] == ["tinyworld-gpt"]   # no temp folders left

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should be loaded, not retrained")

    monkeypatch.setattr("tinyllm.train.pretrain.pretrain", no_training)
    again, _ = zoo.pretrained("tinyworld-gpt")
    for k in model.params:
        assert np.array_equal(model.params[k], again.params[k])


def test_bert_and_public_name(tiny_zoo):
    import tinyllm

    model, tok = tinyllm.pretrained("tinyworld-bert", progress=False)
    assert isinstance(model, BERT)
    ids = np.array([[tok.cls_id] + tok.encode("facts: Anna") + [tok.sep_id]])
    assert model.forward(ids).shape == (1, ids.shape[1], tok.vocab_size)


def test_unknown_name(tiny_zoo):
    with pytest.raises(ValueError, match="tinyworld-gpt"):
        zoo.pretrained("gpt-17")


def test_failed_build_leaves_nothing(tiny_zoo, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tinyllm.train.pretrain.pretrain", boom)
    with pytest.raises(KeyboardInterrupt):
        zoo.pretrained("tinyworld-gpt")
    models = tiny_zoo / "models"
    assert not models.exists() or list(models.iterdir()) == []


def test_a_build_is_the_same_bits_whatever_the_callers_thread_count(tmp_path, monkeypatch):
    """zoo.build fixes its thread count (BUILD_THREADS): a caller limited to one BLAS thread gets the
    same weights as one with two. Matrices of 2,048 rows x 128, big enough for OpenBLAS
    to split them over threads (without the fix the weights differ after 10 steps)."""
    from threadpoolctl import threadpool_limits

    recipe = Recipe(model="gpt", corpus="tinyworld", n_layer=1, n_head=2, d_model=128, max_len=256, pack=True,
                    steps=10, batch_size=8, n_train_docs=400, n_val_docs=16, eval_every=10)
    monkeypatch.setitem(zoo.RECIPES, "tinyworld-gpt", recipe)
    weights = []
    for home, limit in (("a", 2), ("b", 1)):
        monkeypatch.setenv("TINYLLM_HOME", str(tmp_path / home))
        with threadpool_limits(limit):
            model, _ = zoo.pretrained("tinyworld-gpt", progress=False)
        weights.append(model.params)
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    norms = [json.loads((tmp_path / h / "models" / "tinyworld-gpt" / "metrics.json").read_text())["history"][-1]["grad_norm"]
             for h in "ab"]
    assert norms[0] == norms[1]


def test_build_threads_are_fixed_per_model():
    """Every zoo model has one build thread count; the per-model exceptions name real models."""
    assert set(zoo.RECIPE_THREADS) <= set(zoo.RECIPES)
    assert all(isinstance(n, int) and n >= 1 for n in zoo.RECIPE_THREADS.values())
    assert zoo.build_threads("tinyworld-gpt") == zoo.BUILD_THREADS
    for name, n in zoo.RECIPE_THREADS.items():
        assert zoo.build_threads(name) == n


# ------------------------------------------------------------------ the shipped weights

def test_every_zoo_model_ships_its_weights_and_results_were_computed_on_them():
    """Each recipe in RECIPES has shipped weights that match it (a changed recipe without re-shipping
    fails here), and the prompt grids in results/ name those weights' fingerprints."""
    import pathlib

    manifest = json.loads((zoo.SHIPPED / "manifest.json").read_text())
    assert sorted(manifest["models"]) == sorted(zoo.RECIPES)
    for name in zoo.RECIPES:
        assert zoo.shipped(name) is not None, name
    grids = pathlib.Path(__file__).resolve().parent.parent / "results" / "grid"
    for path in grids.glob("*.json"):
        model = path.stem.split("__")[1]
        if model not in zoo.RECIPES:               # e.g. mr2 on MiniLM + its trained MLM head
            continue
        rows = json.loads(path.read_text())["rows"]
        assert {r["weights"] for r in rows} == {manifest["models"][model]["weights"]}, path.name


def test_first_use_copies_the_shipped_weights_without_training(tmp_path, monkeypatch):
    import io

    from tinyllm.prompt.grid import weights_fingerprint

    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path))
    monkeypatch.setattr(zoo, "build", lambda *a, **k: pytest.fail("shipped weights must not be retrained"))
    stream = io.StringIO()
    model, tok = zoo.pretrained("tinyworld-gpt", stream=stream)
    assert "shipped with tinyllm" in stream.getvalue() and "retrain=True" in stream.getvalue()
    manifest = json.loads((zoo.SHIPPED / "manifest.json").read_text())
    assert weights_fingerprint(model) == manifest["models"]["tinyworld-gpt"]["weights"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tinyworld-gpt"]    # no temp folders
    assert zoo.adopt("tinyworld-gpt", tmp_path / "models" / "tinyworld-gpt") is None      # the shipped win


def test_damaged_shipped_weights_are_not_used(tmp_path, monkeypatch):
    """A shipped file that is not the manifest's (one byte changed; a git-LFS pointer; a symlink) is
    never loaded: the model is built from its recipe instead."""
    shipped = tmp_path / "zoo_weights"
    shutil.copytree(zoo.SHIPPED, shipped)
    monkeypatch.setattr(zoo, "SHIPPED", shipped)
    assert zoo.shipped("tinyworld-gpt") == shipped / "tinyworld-gpt"
    weights = shipped / "tinyworld-gpt" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert zoo.shipped("tinyworld-gpt") is None
    weights.unlink()
    weights.symlink_to(zoo.SHIPPED.parent / "zoo_weights" / "tinyworld-gpt" / "model.safetensors")
    assert zoo.shipped("tinyworld-gpt") is None
    (shipped / "manifest.json").write_text("[1, 2")
    assert zoo.shipped("tinyworld-bert") is None

    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path / "home"))
    built = []
    monkeypatch.setattr(zoo, "build", lambda name, progress=True: built.append(name))
    with pytest.raises(ValueError):             # the stub built nothing: the cache is empty, said clearly
        zoo.pretrained("tinyworld-gpt", progress=False)
    assert built == ["tinyworld-gpt"]


def test_retrain_trains_even_when_weights_are_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path))
    zoo.pretrained("tinyworld-gpt", progress=False)
    built = []

    def build(name, progress=True):
        built.append(name)
        shutil.copytree(zoo.SHIPPED / name, zoo.model_dir(name))

    monkeypatch.setattr(zoo, "build", build)
    zoo.pretrained("tinyworld-gpt", progress=False, retrain=True)
    assert built == ["tinyworld-gpt"]
