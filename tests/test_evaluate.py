"""tinyllm.train.evaluate, the source of every cross-entropy and "above the floor" figure (E4.1).

``evaluate`` is checked against a hand computation over every scored position (the first one
included, padding excluded); ``evaluate_corpus`` against the token count the floors use; and
TinyWorld's two floors against each other (the exact floor of a split is lower by ln(1/share) per
document).
"""

import math

import numpy as np
import pytest

from tinyllm.data import tinyworld
from tinyllm.models import BERT, GPT, BERTConfig, GPTConfig
from tinyllm.train.evaluate import evaluate, evaluate_corpus

V = 11


def hand_metrics(model, batches, key):
    """E4.1 by hand: -log softmax(logits)[target] at every position whose target is not -100."""
    nll, correct, n = 0.0, 0, 0
    for batch in batches:
        inputs = {k: v for k, v in batch.items() if k != key}
        logits = model.forward(**inputs).astype(np.float64)          # (B, T, V)
        for b, t in zip(*np.nonzero(batch[key] != -100)):
            z = logits[b, t]
            p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            nll -= math.log(p[batch[key][b, t]])
            correct += int(np.argmax(z) == batch[key][b, t])
            n += 1
    return nll / n, correct / n, n


def test_evaluate_gpt_matches_a_hand_computation_E4_1():
    model = GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=8, max_len=6, dropout=0.3), seed=1,
                dtype=np.float64)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(3):
        idx = rng.integers(0, V, (2, 6))
        targets = rng.integers(0, V, (2, 6))
        targets[1, 4:] = -100                                        # padding: never scored
        batches.append({"idx": idx, "targets": targets})
    batches.append({"idx": idx, "targets": np.full((2, 6), -100)})  # nothing to score: no effect
    model.train()
    r = evaluate(model, batches)
    assert model.training                                            # the mode is restored
    model.eval()
    loss, acc, n = hand_metrics(model, batches, "targets")
    assert r["tokens"] == n == 3 * (12 - 2)                          # position 0 counts too
    assert r["loss"] == pytest.approx(loss, rel=1e-12)
    assert r["ppl"] == pytest.approx(math.exp(loss), rel=1e-12)
    assert r["accuracy"] == acc


def test_evaluate_scores_the_first_position():
    """Only position 0 is scored: a change that skips the first scored token gives 0 tokens."""
    model = GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=1, d_model=4, max_len=3), seed=0, dtype=np.float64)
    targets = np.full((1, 3), -100)
    targets[0, 0] = 5
    batch = {"idx": np.array([[1, 2, 3]]), "targets": targets}
    r = evaluate(model, [batch])
    assert r["tokens"] == 1
    assert r["loss"] == pytest.approx(hand_metrics(model, [batch], "targets")[0], rel=1e-12)


def test_evaluate_bert_scores_only_labelled_positions_E3_7():
    model = BERT(BERTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=8, max_len=6), seed=2, dtype=np.float64)
    idx = np.array([[1, 4, 5, 6, 2, 0], [1, 7, 8, 2, 0, 0]])
    labels = np.full_like(idx, -100)
    labels[0, 1], labels[0, 3], labels[1, 2] = 9, 3, 4
    mask = (np.arange(6) < np.array([[5], [4]])).astype(np.int64)
    batch = {"idx": idx, "labels": labels, "attention_mask": mask}
    r = evaluate(model, [batch])
    loss, acc, n = hand_metrics(model, [batch], "labels")
    assert r["tokens"] == n == 3 and r["loss"] == pytest.approx(loss, rel=1e-12) and r["accuracy"] == acc


def test_evaluate_with_nothing_to_score_is_nan():
    model = GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=1, d_model=4, max_len=3), seed=0, dtype=np.float64)
    r = evaluate(model, [{"idx": np.zeros((1, 3), int), "targets": np.full((1, 3), -100)}])
    assert r["tokens"] == 0 and math.isnan(r["loss"])


def test_evaluate_corpus_scores_the_tokens_the_floor_counts():
    tok = tinyworld.tokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=16, max_len=48), seed=0)
    docs = tinyworld.sample(40, seed=7, split="test")
    r = evaluate_corpus(model, tok, "tinyworld", split="test", n_docs=40, seed=7, batch_size=16)
    assert r["tokens"] == sum(len(tok.encode(d.text)) + 1 for d in docs)    # text + [EOS]
    assert r["entropy_floor"] == pytest.approx(tinyworld.entropy_floor(docs, tok), rel=1e-12)
    gap = (r["entropy_floor"] - r["entropy_floor_split"]) * r["tokens"]
    assert gap == pytest.approx(40 * math.log(10), rel=1e-9)             # ln(10) per test document


@pytest.mark.parametrize("split, share", [("train", 0.8), ("validation", 0.1), ("test", 0.1)])
def test_split_floor_is_lower_by_log_inverse_share_per_document(split, share):
    tok = tinyworld.tokenizer()
    docs = tinyworld.sample(30, seed=3, split=split)
    n_tokens = sum(len(tok.encode(d.text)) + 1 for d in docs)
    practical = tinyworld.entropy_floor(docs, tok)
    exact = tinyworld.split_entropy_floor(docs, tok, split)
    assert tinyworld.split_share(split) == share
    assert practical - exact == pytest.approx(30 * math.log(1 / share) / n_tokens, rel=1e-12)
    with pytest.raises(ValueError, match="split"):
        tinyworld.split_entropy_floor(docs, tok, "dev")
