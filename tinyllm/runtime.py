"""The process-wide policy of a training run: who owns the cores, and memory that stays mapped.

A training step alternates BLAS matmuls (OpenBLAS's thread pool) with C kernels (OpenMP's pool) on
the same cores. Left alone, the two fight: OpenBLAS's workers spin for up to ~0.1 s after each
matmul, and an OpenMP kernel that starts meanwhile shares the cores with them (a 3 ms attention
kernel took 8-10 ms right after a matmul). The policy here:

- one thread count N for both pools (``--threads``; 1 by default, since extra threads that wait for
  a busy core slow a step down);
- OpenBLAS's workers go to sleep right after a call (``OPENBLAS_THREAD_TIMEOUT=4``, its minimum:
  2^4 cycles), and OpenMP's threads wait passively (``OMP_WAIT_POLICY=PASSIVE``), so whichever pool
  runs next finds the cores free;
- these variables are read when the libraries load, so ``configure_threads`` must run before NumPy
  is imported (the CLI and the benchmarks do); later, it changes the pools' sizes through
  threadpoolctl and says so.

Memory: NumPy takes every large temporary (B*T*V logits, B*T*4C activations) fresh from the kernel
with mmap and gives it back on free, so each step page-faults its whole working set again (~50,000
faults and ~0.9 s of system time per step of the M benchmark model). ``keep_freed_memory`` tells
glibc's allocator to serve large blocks from its heap and keep freed memory, so that the next step
reuses the same pages: the allocator becomes the step's workspace. ``page_faults`` measures it.
"""

import contextlib
import os
import sys

POLICY = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}   # set unless the user did
_COUNTS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def configure_threads(n=None):
    """Set the thread policy (see the module docstring) for this process; returns the count N.

    n: threads for BLAS and OpenMP alike; None keeps OMP_NUM_THREADS when set, else 1. Variables
    the user set explicitly (OPENBLAS_THREAD_TIMEOUT, OMP_WAIT_POLICY) are kept. Call it before
    NumPy is imported; if NumPy is already loaded the pool sizes are changed with threadpoolctl
    (the timeout and wait policy then no longer apply).
    """
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"threads: expected a positive int, got {n!r}")
    count = str(n) if n is not None else os.environ.get("OMP_NUM_THREADS", "1")
    for var in _COUNTS:
        if n is not None:
            os.environ[var] = count
        else:
            os.environ.setdefault(var, count)
    for var, value in POLICY.items():
        os.environ.setdefault(var, value)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits
        threadpool_limits(int(count))
    return int(count)


_blas_controller = []   # [the threadpoolctl controller of NumPy's BLAS, or None], found once


def _numpy_blas():
    """threadpoolctl's controller of the BLAS that NumPy uses, or None (looked up once)."""
    if not _blas_controller:
        found = None
        try:
            from threadpoolctl import ThreadpoolController
            libs = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
            mine = [lib for lib in libs if "numpy" in lib.filepath or "scipy_openblas" in lib.filepath]
            found = (mine or libs or [None])[0]
        except Exception:   # no threadpoolctl, or a BLAS it cannot drive: leave BLAS alone
            found = None
        _blas_controller.append(found)
    return _blas_controller[0]


@contextlib.contextmanager
def serial_blas():
    """Run the enclosed matmuls on one BLAS thread, then restore the count (costs ~1 us).

    For products with a long inner dimension and a small result (the weight gradients x^T dy of a
    linear layer): OpenBLAS's threaded path synchronises its threads once per block of the inner
    dimension, and on a busy machine each synchronisation can wait for a descheduled thread; a
    (128 x 2048) @ (2048 x 128) product measured 0.6 ms of CPU on one thread and 50 ms on two.
    """
    lib = _numpy_blas()
    n = lib.get_num_threads() if lib is not None else 1
    if n is None or n <= 1:
        yield
        return
    lib.set_num_threads(1)
    try:
        yield
    finally:
        lib.set_num_threads(n)


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse (no mmap for large blocks, no trimming).

    Returns True when applied, False where the C library is not glibc (macOS, musl), where it is
    a no-op. Process-wide and not undoable: call it in processes that train (the CLI does).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4                          # glibc's <malloc.h>
    ok = mallopt(M_MMAP_MAX, 0) == 1                               # large blocks from the heap
    ok = mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1) == 1 and ok        # never give the top back
    return ok


def page_faults():
    """Minor + major page faults of this process so far (resource.getrusage); -1 without it."""
    try:
        import resource
    except ImportError:
        return -1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


def physical_memory():
    """This machine's physical memory in bytes, or None when the OS does not say. Readers of
    untrusted files and recipes compare what they would allocate with it before allocating."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpuinfo():
    """(model name or None, set of flags) from /proc/cpuinfo's first processor; (None, set()) where
    there is no such file (macOS, Windows)."""
    name, flags = None, set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name is None:
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return name, flags


def cpu_vectors():
    """The CPU's widest vector instructions, the ones the C kernels and BLAS are compiled for:
    ``"AVX-512"``, ``"AVX2"``, ``"x86-64"`` (older) or the machine name (``"arm64"``, ...). Two
    machines that differ here round float32 sums differently, so a training run (a zoo build, a
    PET run of the prompt grid) ends with other bits; an inference-only number does not move."""
    import platform

    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return machine
    flags = _cpuinfo()[1]
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "x86-64"


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    import platform

    return _cpuinfo()[0] or platform.processor() or platform.machine()


def cpu_description():
    """The CPU's model name and its widest vector instructions, e.g. ``"AMD EPYC 7B13 (AVX2)"``."""
    return f"{cpu_name()} ({cpu_vectors()})"
