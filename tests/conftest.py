"""Shared pytest set-up: the thread policy, the CUDA simulator, deterministic Hypothesis.

Numba's CUDA simulator must be switched on before ``numba.cuda`` is first imported. On a machine
without a CUDA driver we switch it on here, so the cuda kernel backend runs (slowly, on the CPU) in
the normal test run; with a driver the tests use the real GPU.
"""

import ctypes.util
import os

from tinyllm.runtime import configure_threads

# Threads chosen deliberately: one BLAS/OpenMP thread unless OMP_NUM_THREADS says otherwise. The
# tests' matrices are small, and on a busy machine extra threads make them slower, not faster.
configure_threads()


def _has_cuda_driver():
    return ctypes.util.find_library("cuda") is not None or os.path.exists("/dev/nvidia0")


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _has_cuda_driver():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"


# Property tests draw the same examples on every run (same seed, same result); set
# HYPOTHESIS_PROFILE=explore to search new random examples instead.
from hypothesis import settings  # noqa: E402

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
