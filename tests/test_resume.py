"""Interrupted, damaged and concurrent runs: a resume is exact or refused with a clear message.

Each test reproduces one attack on a run folder (a checkpoint file deleted or truncated, flags that
contradict the run, a second process on the same folder, leftovers of a killed run, a non-finite
hyper-parameter) and checks the outcome: the right result, or exit status 2 with a message that
says what to do; never a traceback, a silent reset or a claim about files that do not exist.
"""

import io
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tinyllm.cli import main, print_summary
from tinyllm.train import TrainConfig
from tinyllm.train.checkpoint import CheckpointError, load_checkpoint_state
from tinyllm.train.runlock import LOCK_FILE, RunLock

TINY = ["--corpus", "tinyworld", "--n-layer", "1", "--n-head", "2", "--d-model", "16", "--max-len", "48",
        "--train-docs", "64", "--val-docs", "16", "--batch-size", "8", "--eval-every", "2", "--quiet"]


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped by Ctrl-C after step 3 of 6: checkpoints/best at step 2, latest at step 3."""
    import tinyllm.train.pretrain as pretrain_module
    from tinyllm.train.pretrain import Recipe

    folder = tmp_path_factory.mktemp("base") / "run"

    def ctrl_c_after_step_3(trainer):
        if trainer.step == 3:
            raise KeyboardInterrupt

    given = {"corpus": "tinyworld", "n_layer": 1, "n_head": 2, "d_model": 16, "max_len": 48, "steps": 6,
             "n_train_docs": 64, "n_val_docs": 16, "batch_size": 8, "eval_every": 2, "lr": 1e-2, "warmup": 1}
    result, _, _ = pretrain_module.pretrain(Recipe(**given), folder, progress=False,
                                            callbacks=[ctrl_c_after_step_3])
    assert result.status == "interrupted" and result.step == 3
    return folder


@pytest.fixture
def run_dir(stopped_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(stopped_run, folder)
    return folder


def latest(folder):
    return folder / "checkpoints" / "latest"


def test_config_json_is_written_at_the_first_checkpoint(stopped_run):
    # the run was stopped before its end: the top level is already a usable model (best, step 2)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (stopped_run / name).exists(), name
    assert not (stopped_run / LOCK_FILE).exists()            # the lock went with the process


def test_missing_optimizer_file_is_refused_and_best_is_offered(run_dir):
    (latest(run_dir) / "optimizer.npz").unlink()
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume"])
    assert code == 2, err
    assert "optimizer.npz is missing" in err and "cannot resume exactly" in err
    assert "checkpoints/best (step 2)" in err and "--resume best" in err
    assert "Traceback" not in err
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "best", "--quiet"])
    assert code == 0, err
    assert "continuing from checkpoints/best (step 2)" in err
    assert json.loads((run_dir / "metrics.json").read_text())["step"] == 6


@pytest.mark.parametrize("name", ["optimizer.npz", "trainer_state.json"])
def test_truncated_checkpoint_file_is_refused(run_dir, name):
    path = latest(run_dir) / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        load_checkpoint_state(latest(run_dir))
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume"])
    assert code == 2 and "damaged" in err and name in err and "--resume best" in err
    assert json.loads((run_dir / "recipe.json").read_text())["steps"] == 6    # nothing rewritten


def test_optimizer_file_with_moments_missing_is_refused(run_dir):
    path = latest(run_dir) / "optimizer.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.pop(sorted(arrays)[0])
    np.savez(path, **arrays)
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume"])
    assert code == 2 and "optimizer arrays" in err


def test_conflicting_flags_are_refused(run_dir):
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--d-model", "64", "--dtype", "float64",
                        "--model", "bert"])
    assert code == 2
    assert "--d-model 64 (the run has 16)" in err and "--dtype float64" in err and "--model bert" in err
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--d-model", "16", "--quiet"])
    assert code == 0, err                                    # the same value is no conflict


def test_flags_that_may_change_are_applied_and_reported(run_dir):
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--steps", "8", "--lr", "0.005",
                        "--quiet"])
    assert code == 0, err
    assert "--steps 8 replaces 6" in err and "--lr 0.005 replaces 0.01" in err
    assert "schedule is recomputed" in err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["step"] == 8 and metrics["train_config"]["lr"] == 0.005
    assert json.loads((run_dir / "recipe.json").read_text())["steps"] == 8


def test_resume_and_force_together_are_refused(run_dir):
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--force"])
    assert code == 2 and "choose one" in err


def test_second_process_is_refused_with_the_holders_pid(run_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tinyllm.train.runlock import RunLock; "
                               "lock = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); "
                               "time.sleep(60)", str(run_dir)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline().strip() == "locked"
        for extra in (["--resume"], ["--force"] + TINY):
            code, _, err = run(["pretrain", "--out", str(run_dir)] + extra)
            assert code == 2 and f"in use by another tinyllm process (PID {holder.pid})" in err, err
        assert (run_dir / "recipe.json").exists()           # --force deleted nothing
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed without releasing: its lock file (with a dead PID) is stale, not a block
    assert (run_dir / LOCK_FILE).read_text().strip() == str(holder.pid)
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--quiet"])
    assert code == 0, err


def test_lock_is_exclusive_within_a_process(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(FileExistsError, match=f"PID {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):                                  # released, so free again
        pass


def test_leftovers_of_a_killed_save_are_removed(run_dir):
    tmp = run_dir / "checkpoints" / ".latest.tmp-999999"      # a save killed half-way
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"half")
    (run_dir / ".metrics.json.tmp-999999").write_text("{")
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume"])
    assert code == 0, err
    assert "removed checkpoints/.latest.tmp-999999" in err
    assert not tmp.exists() and not (run_dir / ".metrics.json.tmp-999999").exists()


@pytest.mark.parametrize("flag, value", [("--weight-decay", "nan"), ("--weight-decay", "-1"),
                                         ("--dropout", "inf"), ("--dropout", "1.5"), ("--lr", "nan")])
def test_non_finite_numbers_are_rejected_up_front(tmp_path, flag, value):
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--out", str(tmp_path / "x"), flag, value] + TINY)
    assert e.value.code == 2 and not (tmp_path / "x").exists()


@pytest.mark.parametrize("field", ["weight_decay", "min_lr", "grad_clip", "eps", "momentum"])
def test_train_config_rejects_non_finite_numbers(field):
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: bad})


def test_summary_lists_only_files_that_exist(tmp_path):
    summary = {"corpus": "c", "params": 10, "steps": 0, "train_time_s": 0.0, "tokens_per_s": None,
               "val_loss": None, "entropy_floor": None}
    err = io.StringIO()
    print_summary(summary, tmp_path, err)
    assert "nothing saved" in err.getvalue() and "model.safetensors" not in err.getvalue()
    (tmp_path / "metrics.json").write_text("{}")
    err = io.StringIO()
    print_summary(summary, tmp_path, err)
    assert "(metrics.json)" in err.getvalue()


def test_python_recipe_with_a_non_finite_number_touches_nothing(tmp_path):
    from tinyllm.train.pretrain import Recipe, pretrain

    recipe = Recipe(corpus="tinyworld", n_layer=1, n_head=2, d_model=16, max_len=48, steps=2,
                    n_train_docs=16, n_val_docs=8, batch_size=4, weight_decay=float("nan"))
    with pytest.raises(ValueError, match="weight_decay"):
        pretrain(recipe, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
