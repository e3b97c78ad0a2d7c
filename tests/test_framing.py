"""Framing (§3.2 steps 3-4): the causal-LM shift (E3.6), BERT framing, and masked-LM corruption
(S10) whose labels feed E3.7. The batch sources built on them are tested in test_train and
test_packing."""

import numpy as np
import pytest

from tinyllm.data import tinyworld
from tinyllm.data.framing import IGNORE_INDEX, bert_inputs, causal_batch, frame_causal
from tinyllm.data.masking import mlm_mask

BOS, EOS, PAD = 5, 6, 0


def _docs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return [frame_causal(rng.integers(7, 50, size=rng.integers(1, 12)).tolist(), BOS, EOS)
            for _ in range(n)]


# ------------------------------------------------------------------------------- E3.6 shift
def test_causal_batch_shifts_targets_e3_6():
    docs = _docs()
    x, y = causal_batch(docs, pad_id=PAD)
    assert x.shape == y.shape == (len(docs), max(map(len, docs)) - 1)
    for b, d in enumerate(docs):
        n = len(d) - 1
        assert x[b, :n].tolist() == d[:-1] and y[b, :n].tolist() == d[1:]  # y_i = x_{i+1}
        assert (x[b, n:] == PAD).all() and (y[b, n:] == IGNORE_INDEX).all()
    # the number of predicted tokens is text + [EOS] per document (what the floor counts)
    assert (y != IGNORE_INDEX).sum() == sum(len(d) - 1 for d in docs)


def test_causal_batch_on_tinyworld_counts_the_floor_tokens():
    tok = tinyworld.tokenizer()
    docs = tinyworld.sample(64, seed=0)
    seqs = [frame_causal(tok.encode(d.text), tok.bos_id, tok.eos_id) for d in docs]
    x, y = causal_batch(seqs, pad_id=tok.pad_id)
    assert (y != IGNORE_INDEX).sum() == sum(len(tok.encode(d.text)) + 1 for d in docs)
    assert (x[:, 0] == tok.bos_id).all()


def test_framing_errors():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        causal_batch([[BOS]], pad_id=PAD)
    with pytest.raises(TypeError, match="1-D sequence of ints"):
        causal_batch([[0.5, 1.5]], pad_id=PAD)
    with pytest.raises(TypeError, match="list of token-id sequences"):
        causal_batch("abc", pad_id=PAD)
    with pytest.raises(ValueError, match="b_seqs must have one entry"):
        bert_inputs([[1]], [[1], [2]], cls_id=2, sep_id=3, pad_id=0)


# ------------------------------------------------------------------------------ BERT framing
def test_bert_inputs_framing_segments_and_mask():
    out = bert_inputs([[10, 11], [12]], [[20], [21, 22, 23]], cls_id=2, sep_id=3, pad_id=0)
    assert out["input_ids"].tolist() == [[2, 10, 11, 3, 20, 3, 0], [2, 12, 3, 21, 22, 23, 3]]
    assert out["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 0], [1] * 7]
    single = bert_inputs([[10, 11, 12]], cls_id=2, sep_id=3, pad_id=0)
    assert single["input_ids"].tolist() == [[2, 10, 11, 12, 3]]
    assert single["token_type_ids"].tolist() == [[0] * 5]


def test_bert_inputs_truncates_longest_first():
    out = bert_inputs([list(range(10, 20))], [[30, 31]], cls_id=2, sep_id=3, pad_id=0, max_len=8)
    assert out["input_ids"].tolist() == [[2, 10, 11, 12, 3, 30, 31, 3]]


# --------------------------------------------------------------------------------- S10 / E3.7
V, MASK, CLS, SEP = 1000, 4, 2, 3
SPECIAL = (0, 1, 2, 3, 4, 5, 6)


def _bert_batch(B=400, T=64, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(7, V, size=(B, T))
    ids[:, 0] = CLS
    lengths = rng.integers(3, T + 1, size=B)
    attention = np.arange(T)[None, :] < lengths[:, None]
    ids[np.arange(B), lengths - 1] = SEP
    ids[~attention] = 0
    return ids, attention


def test_mlm_mask_proportions_s10():
    ids, attention = _bert_batch()
    corrupted, labels = mlm_mask(ids, np.random.default_rng(1), vocab_size=V, mask_id=MASK,
                                 special_ids=SPECIAL, attention_mask=attention)
    chosen = labels != IGNORE_INDEX
    candidates = ~np.isin(ids, SPECIAL) & attention
    # 15% of the ordinary positions of every row (rounded, at least one)
    expected = np.maximum(1, np.rint(0.15 * candidates.sum(1)))
    assert (chosen.sum(1) == expected).all()
    assert not (chosen & ~candidates).any()  # never [CLS], [SEP], padding
    assert (labels[chosen] == ids[chosen]).all()  # E3.7 predicts the original token
    n = chosen.sum()
    frac_mask = (corrupted[chosen] == MASK).mean()
    frac_same = (corrupted[chosen] == ids[chosen]).mean()
    frac_random = 1 - frac_mask - frac_same
    # binomial bounds at 5 standard deviations; a random token equals the original w.p. ~1/V
    for frac, p in ((frac_mask, 0.8), (frac_random, 0.1), (frac_same, 0.1 + 0.1 / V)):
        assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n), (frac, p)
    randoms = corrupted[chosen & (corrupted != MASK) & (corrupted != ids)]
    assert not np.isin(randoms, SPECIAL).any()
    assert (corrupted[~chosen] == ids[~chosen]).all()


def test_mlm_mask_seeded_and_at_least_one():
    ids, attention = _bert_batch(B=20, T=6)
    a = mlm_mask(ids, np.random.default_rng(3), vocab_size=V, mask_id=MASK, special_ids=SPECIAL,
                 attention_mask=attention)
    b = mlm_mask(ids, np.random.default_rng(3), vocab_size=V, mask_id=MASK, special_ids=SPECIAL,
                 attention_mask=attention)
    assert all((u == v).all() for u, v in zip(a, b))
    has_candidates = (~np.isin(ids, SPECIAL) & attention).any(1)
    assert ((a[1] != IGNORE_INDEX).sum(1)[has_candidates] >= 1).all()
    only_special = np.array([[CLS, SEP, 0]])
    _, labels = mlm_mask(only_special, np.random.default_rng(0), vocab_size=V, mask_id=MASK,
                         special_ids=SPECIAL)
    assert (labels == IGNORE_INDEX).all()


def test_mlm_mask_errors():
    ids = np.array([[7, 8]])
    kw = dict(vocab_size=V, mask_id=MASK, special_ids=SPECIAL)
    with pytest.raises(TypeError, match="np.random.Generator"):
        mlm_mask(ids, 0, **kw)
    with pytest.raises(TypeError, match="2-D integer array"):
        mlm_mask(np.array([7, 8]), np.random.default_rng(0), **kw)
    with pytest.raises(ValueError, match="vocab_size"):
        mlm_mask(np.array([[V]]), np.random.default_rng(0), **kw)
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        mlm_mask(ids, np.random.default_rng(0), attention_mask=np.ones((1, 3)), **kw)
    with pytest.raises(ValueError, match="mask_prob"):
        mlm_mask(ids, np.random.default_rng(0), mask_prob=1.5, **kw)
