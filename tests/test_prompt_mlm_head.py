"""The masked-LM head for a frozen encoder (tinyllm.prompt.mlm_head): its hand-written backward
against central differences in float64 (E3.7 through S4, S5 and the tied decoder S8), training on
cached states lowers the loss and beats the unigram baseline, and an attached head makes a BERT that
forward()s exactly the head's logits, saves, reloads and prompts."""

import numpy as np
import pytest

from tinyllm.gradcheck import check_model
from tinyllm.models import BERT
from tinyllm.models.config import BERTConfig
from tinyllm.prompt import mlm_head as MH


def _tiny_encoder(dtype=np.float32):
    cfg = BERTConfig.preset("tiny", vocab_size=60)
    return BERT(cfg, seed=0, dtype=dtype, mlm_head=False).eval()


@pytest.mark.parametrize("activation", ["none", "tanh"])
def test_head_gradients_match_central_differences_E3_7(activation):
    """E3.7's gradient through LayerNorm (S4), GELU (S5) and the tied decoder (S8), float64."""
    rng = np.random.default_rng(0)
    V, C, n = 23, 8, 7
    E = rng.standard_normal((V, C))
    h = rng.standard_normal((n, C))
    y = rng.integers(0, V, n)
    head = MH.init_head(C, V, seed=1, dtype=np.float64, unigram_counts=rng.integers(0, 5, V))
    head["mlm.dense.W"] = rng.standard_normal((C, C)) * 0.5        # away from the near-linear start
    head["mlm.ln.gamma"] = 1 + 0.3 * rng.standard_normal(C)
    head["mlm.ln.beta"] = 0.3 * rng.standard_normal(C)
    errors = check_model(lambda: MH.head_loss_and_grads(head, E, h, y, activation=activation, eps=1e-5),
                         head, n_samples=8, seed=0)
    assert set(errors) == set(MH.HEAD_KEYS)
    assert max(errors.values()) < 1e-6, errors


def test_head_equals_berts_own_head():
    """attach(): the model's forward() at every position equals head_forward on its hidden states."""
    enc = _tiny_encoder(np.float64)
    head = MH.init_head(enc.config.d_model, enc.config.vocab_size, seed=3, dtype=np.float64)
    head["mlm.out_bias"] += np.linspace(-1, 1, enc.config.vocab_size)
    model = MH.attach(enc, head)
    assert model.has_mlm_head and not enc.has_mlm_head
    idx = np.array([[1, 5, 7, 9, 2], [1, 8, 3, 2, 0]])
    am = (idx > 0).astype(np.int64)
    h = enc.encode(idx, attention_mask=am)                                       # (2, 5, C)
    ours, _ = MH.head_forward(head, enc.params["tok_emb"], h.reshape(-1, h.shape[-1]),
                              enc.config.activation, enc.config.layer_norm_eps)
    ref = model.forward(idx, attention_mask=am).reshape(ours.shape)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_training_lowers_the_loss_and_beats_unigram():
    """A head trained on states that carry the token (a noisy copy of its embedding) learns to read
    it: cloze accuracy far above the most-frequent-token baseline."""
    rng = np.random.default_rng(0)
    V, C, n = 50, 16, 3000
    E = rng.standard_normal((V, C)).astype(np.float32)
    y = rng.zipf(1.5, n) % V
    H = (E[y] + 0.3 * rng.standard_normal((n, C))).astype(np.float32)
    head, hist = MH.train_head(H[:2500], y[:2500], E, epochs=4, lr=1e-2, batch_size=64, seed=0)
    assert hist[-1]["loss"] < hist[0]["loss"]
    ours = MH.cloze_scores(head, E, H[2500:], y[2500:])
    base = MH.unigram_scores(y[:2500], y[2500:], V)
    assert ours["accuracy"] > base["accuracy"] + 0.2 and ours["nll"] < base["nll"]


def test_masked_states_follow_S10():
    """S10: about 15% of the ordinary tokens chosen, [CLS]/[SEP]/[PAD] never; 80% become [MASK];
    the targets are the original tokens; deterministic in the seed."""
    from tinyllm.data.wordpiece_tokenizer import WordPieceTokenizer

    words = "the a film was good bad great terrible it movie plot actors story slow fun".split()
    tok = WordPieceTokenizer.train([" ".join(words)] * 3, vocab_size=80)
    enc = BERT(BERTConfig.preset("tiny", vocab_size=tok.vocab_size), seed=0, mlm_head=False).eval()
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(words, 20)) for _ in range(40)]
    H, y, masked = MH.masked_states(enc, tok, texts, seed=0, n_masks=2, batch_size=16)
    n_tokens = sum(len(tok.encode(t)) for t in texts)
    assert H.shape == (len(y), enc.config.d_model) and len(y) == len(masked)
    assert abs(len(y) - 2 * 0.15 * n_tokens) <= 2 * len(texts)
    assert not np.isin(y, sorted(tok.special_ids)).any()
    assert 0.65 < masked.mean() < 0.95
    H2, y2, _ = MH.masked_states(enc, tok, texts, seed=0, n_masks=2, batch_size=16)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(H, H2)


def test_bad_inputs_are_clear_errors():
    E = np.zeros((10, 4), np.float32)
    head = MH.init_head(4, 10)
    with pytest.raises(ValueError, match="h must be"):
        MH.head_forward(head, E, np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="labels must be token ids"):
        MH.head_loss_and_grads(head, E, np.zeros((2, 4), np.float32), np.array([1, 10]))
    with pytest.raises(ValueError, match="missing parameters"):
        MH.head_forward({"mlm.dense.W": head["mlm.dense.W"]}, E, np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        MH.head_forward(MH.init_head(4, 10, dtype=np.float64), E, np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="unigram_counts"):
        MH.init_head(4, 10, unigram_counts=np.ones(3))


def test_build_folder_gives_a_bert_that_loads_and_prompts(tmp_path):
    """The whole recipe on a tiny encoder: a BertModel folder in, a BertForMaskedLM folder out that
    zoo.load_folder and PromptModel accept, with the cloze report beside it."""
    import json

    from tinyllm import zoo
    from tinyllm.data.wordpiece_tokenizer import WordPieceTokenizer
    from tinyllm.prompt import PromptModel

    words = "the a film was good bad great terrible it movie plot actors story slow fun".split()
    tok = WordPieceTokenizer.train([" ".join(words)] * 3, vocab_size=80)
    enc = BERT(BERTConfig.preset("tiny", vocab_size=tok.vocab_size), seed=0, mlm_head=False)
    enc.save_pretrained(tmp_path / "enc", tokenizer=tok)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 12)) for _ in range(60)]
    report = MH.build_folder(tmp_path / "enc", tmp_path / "out", texts[:50], texts[50:], epochs=2, batch_size=32,
                             states_cache=tmp_path / "states.npz")
    assert set(report["cloze"]) == {"all", "mask"} and 0 <= report["cloze"]["all"]["accuracy"] <= 1
    assert json.loads((tmp_path / "out" / "mlm_head.json").read_text())["train_rows"] == report["train_rows"]
    model, tok2 = zoo.load_folder(tmp_path / "out")
    assert model.has_mlm_head and tok2.vocab_size == tok.vocab_size
    np.testing.assert_array_equal(model.params["h.0.attn.W_Q"], enc.params["h.0.attn.W_Q"])   # encoder unchanged
    pm = PromptModel(model, tok2, "{x} it was {mask}", {"negative": ["bad"], "positive": ["great"]})
    assert pm.predict_proba(["the film was fun"]).shape == (1, 2)
    again = MH.build_folder(tmp_path / "enc", tmp_path / "out2", texts[:50], texts[50:], epochs=2, batch_size=32,
                            states_cache=tmp_path / "states.npz")
    assert again["states_from_cache"] and again["cloze"] == report["cloze"]
    # only the head saved, the folder rebuilt from it and the encoder: the same model, no training
    MH.save_head(model.params, tmp_path / "head.safetensors")
    rebuilt = MH.folder_from_head(tmp_path / "enc", tmp_path / "head.safetensors", tmp_path / "out3")
    model3, _ = zoo.load_folder(tmp_path / "out3")
    for m in (rebuilt, model3):
        assert sorted(m.params) == sorted(model.params)
        for k in model.params:
            np.testing.assert_array_equal(m.params[k], model.params[k])


def test_saved_head_bad_files_are_clear_errors(tmp_path):
    from tinyllm.models.safetensors_io import save_file

    head = MH.init_head(4, 10)
    with pytest.raises(ValueError, match="missing parameters"):
        MH.save_head({k: v for k, v in head.items() if k != "mlm.out_bias"}, tmp_path / "h.safetensors")
    save_file({"mlm.dense.W": head["mlm.dense.W"]}, tmp_path / "partial.safetensors")
    with pytest.raises(ValueError, match="exactly the head's parameters"):
        MH.load_head(tmp_path / "partial.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ValueError):
        MH.load_head(tmp_path / "junk.safetensors")
    MH.save_head(MH.init_head(3, 10), tmp_path / "small.safetensors")        # d_model 3, not the encoder's 4
    with pytest.raises(ValueError, match="expected shape"):
        MH.attach(BERT(BERTConfig(vocab_size=10, n_layer=1, n_head=1, d_model=4, max_len=8, d_ff=8), seed=0,
                       mlm_head=False), MH.load_head(tmp_path / "small.safetensors"))
