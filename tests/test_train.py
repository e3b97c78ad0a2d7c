"""The trainer: exact resume, atomic checkpoints, NaN guard, Ctrl-C, accumulation, early stopping."""

import io
import json
import math

import numpy as np
import pytest

from tinyllm.data import WordTokenizer, load_tokenizer
from tinyllm.models import GPT, GPTConfig
from tinyllm.train import DocumentBatches, TrainConfig, Trainer, WindowBatches
from tinyllm.train.checkpoint import load_checkpoint_state, resolve_checkpoint

V = 23


def tiny_model(dtype=np.float64, seed=0):
    return GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=16, max_len=24), seed=seed, dtype=dtype)


def docs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(3, 12))
        start = int(rng.integers(3, V))
        out.append([1] + [3 + (start + j) % (V - 3) for j in range(k)] + [2])   # [BOS] text [EOS]
    return out


def make_trainer(out_dir=None, steps=8, dtype=np.float64, callbacks=(), **cfg):
    model = tiny_model(dtype)
    train = DocumentBatches(docs(), batch_size=4, pad_id=0, max_len=24, seed=1)
    val = DocumentBatches(docs(8, seed=5), batch_size=4, pad_id=0, max_len=24).fixed_batches()
    settings = dict(steps=steps, lr=1e-2, warmup=2, eval_every=4, log_every=1, seed=3)
    settings.update(cfg)
    return Trainer(model, train, val, TrainConfig(**settings), tokenizer=WordTokenizer.train(["a b c"]),
                   out_dir=out_dir, callbacks=callbacks, progress=False)


def test_loss_goes_down_and_outputs_written(tmp_path):
    tr = make_trainer(tmp_path, steps=30, eval_every=10, lr=3e-2)
    res = tr.fit()
    assert res.status == "completed" and res.step == 30
    assert tr.history[-1]["loss"] < tr.history[0]["loss"] - 0.5
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "loss_curve.png"):
        assert (tmp_path / name).exists(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "completed" and len(metrics["evals"]) == 3
    assert math.isclose(metrics["evals"][-1]["val_ppl"], math.exp(metrics["evals"][-1]["val_loss"]))  # E4.1
    best = GPT.from_pretrained(tmp_path, dtype=np.float64)      # the top level is the best model
    assert load_tokenizer(tmp_path).vocab_size == 10
    ck = GPT.from_pretrained(tmp_path / "checkpoints" / "best", dtype=np.float64)
    assert all(np.array_equal(best.params[k], ck.params[k]) for k in best.params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resume_is_exact(tmp_path, dtype):
    full = make_trainer(tmp_path / "full", steps=10, dtype=dtype)
    full.fit()

    def stop_at_5(trainer):                     # a Ctrl-C delivered right after step 5
        if trainer.step == 5:
            raise KeyboardInterrupt

    half = make_trainer(tmp_path / "half", steps=10, dtype=dtype, callbacks=[stop_at_5])
    res = half.fit()
    assert res.status == "interrupted" and res.step == 5
    assert "resume" in res.message
    resumed = make_trainer(tmp_path / "half", steps=10, dtype=dtype).restore()
    assert resumed.step == 5
    res2 = resumed.fit()
    assert res2.status == "completed" and res2.step == 10
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert resumed.last_loss == full.last_loss
    for k in full.model.params:
        assert np.array_equal(full.model.params[k], resumed.model.params[k]), k


def test_atomic_save_survives_failure_mid_write(tmp_path):
    tr = make_trainer(tmp_path, steps=4)
    tr.fit()
    latest = tmp_path / "checkpoints" / "latest"
    before = (latest / "model.safetensors").read_bytes()
    state_before, _ = load_checkpoint_state(latest)

    real_save = tr.model.save_pretrained

    def broken_save(folder, **kwargs):          # writes part of the checkpoint, then dies
        real_save(folder, **kwargs)
        (folder / "model.safetensors").write_bytes(b"garbage")
        raise OSError("disk full (simulated)")

    tr.model.save_pretrained = broken_save
    tr.train_step()
    with pytest.raises(OSError, match="simulated"):
        tr.save("latest")
    assert resolve_checkpoint(latest) == latest
    assert (latest / "model.safetensors").read_bytes() == before
    state_after, _ = load_checkpoint_state(latest)
    assert state_after["step"] == state_before["step"] == 4
    GPT.from_pretrained(latest, dtype=np.float64)
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_crash_between_renames_falls_back_to_old_copy(tmp_path):
    tr = make_trainer(tmp_path, steps=4)
    tr.fit()
    latest = tmp_path / "checkpoints" / "latest"
    old = latest.parent / ".latest.old"
    latest.rename(old)                          # the moment between the two os.replace calls
    assert resolve_checkpoint(latest) == old
    assert make_trainer(tmp_path, steps=4).restore().step == 4


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    def poison(trainer):                        # after step 6 the weights turn to NaN
        if trainer.step == 6:
            trainer.model.params["ln_f.gamma"][:] = np.nan

    tr = make_trainer(tmp_path, steps=20, callbacks=[poison], save_every=2)
    res = tr.fit()
    assert res.status == "diverged"
    assert res.step == 6
    assert "loss" in res.message and "last good checkpoint (step 6)" in res.message
    state, _ = load_checkpoint_state(tmp_path / "checkpoints" / "latest")
    assert state["step"] == 6
    good = GPT.from_pretrained(tmp_path / "checkpoints" / "latest", dtype=np.float64)
    assert all(np.isfinite(p).all() for p in good.params.values())
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"


def test_interrupt_without_out_dir_and_progress_text():
    def stop(trainer):
        raise KeyboardInterrupt

    stream = io.StringIO()
    tr = make_trainer(None, steps=5, callbacks=[stop])
    tr.progress, tr.stream = True, stream
    res = tr.fit()
    assert res.status == "interrupted" and res.step == 1
    assert "nothing saved" in res.message
    text = stream.getvalue()
    assert "tok/s" in text and "ETA" in text and "loss" in text


def test_gradient_accumulation_equals_big_batch():
    stream = np.random.default_rng(0).integers(0, V, size=400)

    class Fixed(WindowBatches):
        """Always the same 4 rows: split in two halves when accumulating."""

        def __init__(self, half):
            super().__init__(stream, 4, 8, seed=0)
            rows = super().next_batch()
            self.parts = [{k: v[:2] for k, v in rows.items()}, {k: v[2:] for k, v in rows.items()}]
            self.full, self.half, self.i = rows, half, 0

        def next_batch(self):
            if not self.half:
                return self.full
            self.i += 1
            return self.parts[(self.i - 1) % 2]

    runs = []
    for half, accum in ((False, 1), (True, 2)):
        model = tiny_model()
        tr = Trainer(model, Fixed(half), None, TrainConfig(steps=3, lr=1e-2, accum_steps=accum, warmup=0),
                     progress=False)
        tr.fit()
        runs.append(model.params)
    for k in runs[0]:
        np.testing.assert_allclose(runs[0][k], runs[1][k], rtol=1e-10, atol=1e-10)   # b_K: exact 0 grad, noise


def test_early_stopping(tmp_path):
    tr = make_trainer(tmp_path, steps=40, eval_every=2, patience=2, min_delta=10.0)
    res = tr.fit()
    assert res.status == "early_stopped"
    assert res.step == 6                        # first eval sets the best, two more without progress
    assert "early stop" in res.message


def test_bad_config():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        DocumentBatches(docs(), batch_size=0, pad_id=0, max_len=8)
    with pytest.raises(ValueError, match="docs"):
        DocumentBatches([], batch_size=2, pad_id=0, max_len=8)


def test_document_batches_resume_same_sequence():
    a = DocumentBatches(docs(), batch_size=3, pad_id=0, max_len=24, seed=7)
    for _ in range(17):                         # crosses an epoch boundary (40 docs / 3 per batch)
        a.next_batch()
    sd = json.loads(json.dumps(a.state_dict()))
    b = DocumentBatches(docs(), batch_size=3, pad_id=0, max_len=24, seed=99)
    b.load_state_dict(sd)
    for _ in range(20):
        x, y = a.next_batch(), b.next_batch()
        assert np.array_equal(x["idx"], y["idx"]) and np.array_equal(x["targets"], y["targets"])


def test_causal_rows_frame_documents():
    from tinyllm.train.batches import causal_rows

    idx, targets = causal_rows([[1, 5, 6, 2], [1, 7, 2]], pad_id=0, max_len=10)
    # E3.6: inputs are [BOS] text, targets are text [EOS]; padding is never predicted
    assert idx.tolist() == [[1, 5, 6], [1, 7, 0]]
    assert targets.tolist() == [[5, 6, 2], [7, 2, -100]]
