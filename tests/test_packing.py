"""Packed documents (pretrain's ``pack=True``): windows for a GPT, whole-document rows for a BERT."""

import json

import numpy as np
import pytest

from tinyllm.data import tinyworld
from tinyllm.train.batches import (PackedCausalBatches, PackedMaskedLMBatches, causal_windows,
                                   pack_rows)
from tinyllm.train.pretrain import Recipe, build_batches, load_corpus, pretrain

BOS, EOS, PAD = 1, 2, 0


def framed_docs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [[BOS] + list(rng.integers(10, 50, size=rng.integers(1, 12))) + [EOS] for _ in range(n)]


@pytest.mark.parametrize("T", [1, 5, 16, 64, 1000])
def test_causal_windows_keep_every_document_and_shift_inside_the_window(T):
    docs = framed_docs(30)
    stream = np.concatenate(docs)
    x, y = causal_windows(docs, T, PAD)
    assert x.shape == y.shape and x.shape[1] == T
    # the windows overlap by one token: window k's last target is window k+1's first input
    assert np.array_equal(y[:-1, -1], x[1:, 0])
    # inside a window, the targets are the window's own tokens shifted by one (no label from elsewhere)
    real = y != -100
    assert np.array_equal(y[:, :-1][real[:, :-1]], x[:, 1:][real[:, :-1]])
    # reading the windows back gives the whole stream: every document intact, nothing dropped
    back = np.concatenate([x[:1, 0], y[real]])
    assert np.array_equal(back, stream)
    assert real.sum() == len(stream) - 1               # every token after the first is a target once
    # past the last target only padding (and the stream's last token, read as an input, if it fits)
    assert np.sum(x[~real] != PAD) == (0 if (len(stream) - 1) % T == 0 else 1)


def test_pack_rows_keeps_documents_whole():
    docs = [list(range(10, 10 + n)) for n in (3, 7, 1, 12, 5, 5, 9, 2)]
    rows = pack_rows(docs, 16, cls_id=5, sep_id=6)
    found = []
    for row in rows:
        assert row[0] == 5 and row[-1] == 6 and len(row) <= 16
        parts, cur = [], []
        for t in row[1:]:
            if t == 6:
                parts.append(cur)
                cur = []
            else:
                cur.append(t)
        found += parts
    assert found == docs                                  # in order, whole, each exactly once
    for a, b in zip(rows, rows[1:]):                      # greedy: the next document did not fit
        first_next = b[1:b.index(6)]
        assert len(a) + len(first_next) + 1 > 16
    assert pack_rows([list(range(40))], 10, 5, 6) == [[5] + list(range(8)) + [6]]   # too long: cut


def test_packed_causal_batches_cover_an_epoch_and_are_deterministic():
    docs = framed_docs(50)
    a = PackedCausalBatches(docs, 3, PAD, max_len=8, seed=4)
    b = PackedCausalBatches(docs, 3, PAD, max_len=8, seed=4)
    n_rows = len(a.plan)
    seen = []
    while len(seen) < n_rows:
        ba, bb = a.next_batch(), b.next_batch()
        assert np.array_equal(ba["idx"], bb["idx"]) and np.array_equal(ba["targets"], bb["targets"])
        seen += [tuple(r) for r in ba["idx"]]
    assert len(seen) == n_rows and a.epoch == 0
    assert sorted(seen) == sorted(tuple(r) for r in a.rows[0])      # every window once per epoch
    # the epoch's stream is the documents in some order, each whole: split it at [BOS]
    x, y = a.rows
    stream = np.concatenate([x[:1, 0], y[y != -100]]).tolist()
    starts = [i for i, t in enumerate(stream) if t == BOS] + [len(stream)]
    pieces = [stream[i:j] for i, j in zip(starts, starts[1:])]
    assert sorted(pieces) == sorted(docs)
    c = PackedCausalBatches(docs, 3, PAD, max_len=8, seed=5)
    assert not np.array_equal(c.next_batch()["idx"], PackedCausalBatches(docs, 3, PAD, 8, seed=4).next_batch()["idx"])


@pytest.mark.parametrize("cls", ["causal", "mlm"])
def test_packed_sources_resume_exactly(cls):
    tok = tinyworld.tokenizer()
    docs = [tok.encode(d.text) for d in tinyworld.sample(60, seed=1)]

    def make():
        if cls == "causal":
            return PackedCausalBatches([[tok.bos_id] + d + [tok.eos_id] for d in docs], 4, tok.pad_id, 64, seed=2)
        return PackedMaskedLMBatches(docs, 4, tok, max_len=64, mask_prob=0.4, seed=2)

    a = make()
    for _ in range(7):                                    # past an epoch boundary
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))        # as a checkpoint stores it
    want = [a.next_batch() for _ in range(5)]
    b = make()
    b.load_state_dict(state)
    for w in want:
        got = b.next_batch()
        for k in w:
            assert np.array_equal(w[k], got[k])


def test_packed_mlm_labels_stay_in_their_row():
    tok = tinyworld.tokenizer()
    docs = [tok.encode(d.text) for d in tinyworld.sample(200, seed=3)]
    src = PackedMaskedLMBatches(docs, 4, tok, max_len=128, mask_prob=0.4, seed=0)
    rows = src.rows
    plan = src.plan[:4]
    batch = src.next_batch()
    specials = set(tok.special_ids)
    chosen = 0
    for b, r in enumerate(plan):
        row = rows[r]
        n = len(row)
        assert batch["attention_mask"][b, :n].all() and not batch["attention_mask"][b, n:].any()
        lab = batch["labels"][b]
        where = np.flatnonzero(lab != -100)
        assert where.max() < n                             # nothing chosen in the padding
        assert np.array_equal(lab[where], np.asarray(row)[where])   # each label is this row's own token
        assert not specials & set(np.asarray(row)[where].tolist())  # [CLS] / [SEP] never masked
        ordinary = sum(t not in specials for t in row)
        assert where.size == max(1, round(0.4 * ordinary))
        chosen += where.size
    assert not batch["token_type_ids"].any() and chosen > 0
    assert sum(len(r) - 1 - sum(t == tok.sep_id for t in r) for r in rows) == sum(map(len, docs))


def test_pretrain_pack_recipes_tiny(tmp_path):
    tiny = dict(corpus="tinyworld", n_layer=1, n_head=2, d_model=16, max_len=64, steps=3, batch_size=2,
                n_train_docs=64, n_val_docs=16, eval_every=3, pack=True)
    r = Recipe(model="gpt", **tiny).resolved()
    train, val = build_batches(r, load_corpus(r))
    assert isinstance(train, PackedCausalBatches) and train.next_batch()["idx"].shape == (2, 64)
    assert all(v["idx"].shape[0] <= 2 for v in val)     # validation: one document per row
    for model in ("gpt", "bert"):
        result, summary, _ = pretrain(Recipe(model=model, mask_prob=0.4, **tiny), tmp_path / model, progress=False)
        assert result.status == "completed" and np.isfinite(summary["val_loss"])
        saved = json.loads((tmp_path / model / "recipe.json").read_text())
        assert saved["pack"] is True and saved["mask_prob"] == 0.4


def test_pack_needs_documents_and_sane_mask_prob(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello world. " * 200)
    with pytest.raises(ValueError, match="pack"):
        pretrain(Recipe(corpus=str(text), pack=True, steps=1, max_len=16), tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="mask_prob"):
        Recipe(model="bert", mask_prob=1.5).resolved()
    assert not (tmp_path / "a").exists()


def test_cli_pack_flag(tmp_path):
    from tinyllm.cli import main
    import io

    err = io.StringIO()
    code = main(["pretrain", "--model", "bert", "--pack", "--mask-prob", "0.4", "--out", str(tmp_path / "b"),
                 "--steps", "2", "--corpus", "tinyworld", "--n-layer", "1", "--n-head", "2", "--d-model", "16",
                 "--max-len", "64", "--train-docs", "64", "--val-docs", "16", "--batch-size", "2",
                 "--eval-every", "2", "--quiet"], out=io.StringIO(), err=err)
    assert code == 0, err.getvalue()
    saved = json.loads((tmp_path / "b" / "recipe.json").read_text())
    assert saved["pack"] is True and saved["mask_prob"] == 0.4


def test_pack_mix_alternates_and_resumes(tmp_path):
    from tinyllm.train.batches import AlternatingBatches, MaskedLMBatches

    tiny = dict(corpus="tinyworld", n_layer=1, n_head=2, d_model=16, max_len=64, steps=3, batch_size=2,
                n_train_docs=64, n_val_docs=16, eval_every=3, pack=True, pack_mix=True, single_batch_size=5)
    r = Recipe(model="bert", **tiny).resolved()
    train, _ = build_batches(r, load_corpus(r))
    assert isinstance(train, AlternatingBatches)
    assert isinstance(train.sources[0], MaskedLMBatches) and isinstance(train.sources[1], PackedMaskedLMBatches)
    first = [train.next_batch()["idx"].shape[0] for _ in range(4)]
    assert first == [5, 2, 5, 2]                           # one-document batches, packed rows, ...
    state = json.loads(json.dumps(train.state_dict()))
    want = [train.next_batch() for _ in range(3)]
    again, _ = build_batches(r, load_corpus(r))
    again.load_state_dict(state)
    for w in want:
        got = again.next_batch()
        assert all(np.array_equal(w[k], got[k]) for k in w)
    result, _, _ = pretrain(Recipe(model="gpt", **tiny), tmp_path / "g", progress=False)
    assert result.status == "completed"
    with pytest.raises(ValueError, match="pack_mix"):
        Recipe(model="gpt", pack_mix=True).resolved()


def test_zoo_recipes_for_prompting():
    from tinyllm import zoo

    assert {"tinyworld-gpt", "tinyworld-bert"} <= set(zoo.RECIPES)           # the old ones stay
    assert zoo.RECIPES["tinyworld-gpt"] == Recipe(model="gpt", corpus="tinyworld", seed=0)
    for name, model in (("tinyworld-gpt-256", "gpt"), ("tinyworld-bert-256", "bert")):
        r = zoo.RECIPES[name].resolved()
        assert r.model == model and r.max_len == 256 and r.pack
    assert zoo.RECIPES["tinyworld-bert-256"].resolved().mask_prob == 0.4
