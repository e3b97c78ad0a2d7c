"""The process policy of a training run (tinyllm.runtime): thread variables and kept memory."""

import subprocess
import sys

import pytest

from tinyllm import runtime


def test_configure_threads_sets_one_count_and_the_policy(monkeypatch):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")               # a user's explicit choice is kept
    monkeypatch.delitem(sys.modules, "numpy", raising=False)       # as if NumPy were not loaded yet
    assert runtime.configure_threads(None) == 1
    import os
    assert os.environ["OPENBLAS_NUM_THREADS"] == os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "4"
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_configure_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="threads"):
        runtime.configure_threads(bad)


def test_kept_memory_means_no_page_faults_on_reuse():
    """A 64 MB temporary made, touched and freed twice: the second time costs page faults only
    without keep_freed_memory (checked in a fresh process, since the setting is process-wide)."""
    code = """
import numpy as np
from tinyllm import runtime
keep = runtime.keep_freed_memory() if KEEP else False
def step():
    a = np.ones(8 * 2 ** 20)          # 64 MB, touched
    del a
step()
f0 = runtime.page_faults()
step()
print(keep, runtime.page_faults() - f0)
"""
    out = {}
    for keep in (True, False):
        res = subprocess.run([sys.executable, "-c", code.replace("KEEP", str(keep))],
                             capture_output=True, text=True, check=True)
        applied, faults = res.stdout.split()
        out[keep] = (applied == "True", int(faults))
    if not out[True][0]:
        pytest.skip("not glibc: keep_freed_memory is a no-op here")
    assert out[True][1] < 10, out           # the pages are reused
    assert out[False][1] >= 30, out         # 64 MB: 16,384 faults of 4 KB pages, or 32 huge pages


def test_import_tinyllm_sets_the_wait_policy_before_numpy_unless_the_user_did():
    """Python users (tinyllm.pretrained in a notebook) get the CLI's thread policy too: OpenBLAS and
    OpenMP threads that spin against each other made a zoo build several times slower."""
    import os

    code = "import os, sys, tinyllm; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('OPENBLAS_THREAD_TIMEOUT'), 'numpy' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k not in runtime.POLICY}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["PASSIVE", "4", "False"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "ACTIVE"
