"""Benchmark the kernel backends against the NumPy reference and PyTorch, in one run.

    python benchmarks/bench_kernels.py                 # B=8, H=4, D=64, T in 128..1024, float32
    python benchmarks/bench_kernels.py --threads 2 --repeat 5 --causal

For each T it times, per backend and for torch.nn.functional.scaled_dot_product_attention (when
torch is installed), with the same number of threads for everyone:
  attention forward, attention forward+backward (E3.2, E3.3), the fused matmul-softmax forward
  (E3.2; numpy's is ``scores = q @ k^T * scale; softmax(scores)``) and the row softmax (S1) of a
  (B, H, T, T) score array, forward+backward;
and prints the best of 2 x ``--repeat`` runs, ratios to numpy and to torch, and the attention
forward+backward throughput against the machine's measured float32 matmul peak. Then, at the
largest T, the peak extra memory of one attention forward+backward per backend, measured twice:
  tracemalloc  -- the arrays NumPy allocates (inputs excluded; outputs and caches included);
  RSS          -- the resident high-water mark of a fresh process (reset through
                  /proc/self/clear_refs after a small warm-up), which also sees C and Numba scratch
                  memory and torch's allocator; Linux only.
Numbers are never asserted anywhere; the tests check correctness only.
"""

import argparse
import os
import platform
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every backend")
    p.add_argument("--T", type=int, nargs="+", default=[128, 256, 512, 1024])
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--H", type=int, default=4)
    p.add_argument("--D", type=int, default=64)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per case (best is reported)")
    p.add_argument("--causal", action="store_true", help="causal attention (default: full)")
    p.add_argument("--backends", nargs="+", default=["numpy", "cython", "numba"])
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--memory-child", metavar="BACKEND", help=argparse.SUPPRESS)
    return p.parse_args()


ARGS = _parse()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)   # before numpy, numba or torch start their pools

import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import tinyllm.kernels as K  # noqa: E402

try:
    if ARGS.no_torch:
        raise ImportError
    import torch  # noqa: E402
    torch.set_num_threads(ARGS.threads)
    SDPA = torch.nn.functional.scaled_dot_product_attention
except ImportError:
    torch = None


def best_time(fn, repeat):
    """Best wall time of ``repeat`` calls after one warm-up call (which also compiles Numba)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def best_times(cases, repeat, rounds=2):
    """Best wall time per case. Each case runs one warm-up call and then ``repeat`` timed calls in a
    row (so the thread pools of the other libraries in this process, still spinning after their
    last call, do not steal its cores), and the whole sweep runs ``rounds`` times (so a burst of
    load from elsewhere on the machine does not decide one backend's number alone)."""
    best = {key: float("inf") for key in cases}
    for _ in range(rounds):
        for key, fn in cases.items():
            best[key] = min(best[key], best_time(fn, repeat))
    return best


def matmul_peak(threads, repeat):
    """Measured float32 matmul throughput (GFLOP/s) of NumPy's BLAS: the machine's practical peak."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    t = best_time(lambda: a @ a, repeat)
    return 2 * 2048 ** 3 / t / 1e9


def _rss_kib():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                fields[line.split(":")[0]] = int(line.split()[1])
    return fields


def rss_peak_extra(fn):
    """Resident high-water mark above the current RSS while fn() runs, in MiB (None if unsupported)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _rss_kib()["VmRSS"]
    except (OSError, KeyError):
        return None
    fn()
    return (_rss_kib()["VmHWM"] - before) / 1024


def memory_child(name, B, H, T, D, causal):
    """In a fresh process: warm up at a tiny T (compiles Numba), then report the RSS peak of one
    attention forward+backward at T. Prints one number (MiB) or 'n/a'."""
    rng = np.random.default_rng(0)
    for t in (8, T):
        q, k, v, dout = (rng.standard_normal((B, H, t, D)).astype(np.float32) for _ in range(4))
        if name == "torch":
            fb = torch_functions(q, k, v, dout, q, q, causal)["attn fwd+bwd"]
        else:
            fb = case_functions(name, q, k, v, dout, q, q, causal)["attn fwd+bwd"]
        if t == 8:
            fb()
    rss = rss_peak_extra(fb)
    print("n/a" if rss is None else f"{rss:.0f}")


def rss_in_fresh_process(name, T):
    """Run memory_child for ``name`` in a new interpreter with the same settings."""
    import subprocess
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", name, "--T", str(T),
           "--B", str(ARGS.B), "--H", str(ARGS.H), "--D", str(ARGS.D), "--threads", str(ARGS.threads)]
    if ARGS.causal:
        cmd.append("--causal")
    res = subprocess.run(cmd, capture_output=True, text=True)
    return res.stdout.strip().splitlines()[-1] if res.returncode == 0 and res.stdout.strip() else "n/a"


def traced_peak_extra(fn):
    """Peak of NumPy-visible allocations while fn() runs, in MiB."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2 ** 20


def case_functions(backend, q, k, v, dout, x, dy, causal):
    """The timed closures for one backend: attention fwd, fwd+bwd, matmul-softmax fwd, softmax fwd+bwd."""
    def with_backend(f):
        def run():
            with K.use(backend):
                return f()
        return run

    def attn_fb():
        out, cache = K.attention_forward(q, k, v, causal=causal)
        return K.attention_backward(dout, cache)

    def softmax_fb():
        y, cache = K.softmax_forward(x)
        return K.softmax_backward(dy, cache)

    return {
        "attn fwd": with_backend(lambda: K.attention_forward(q, k, v, causal=causal)),
        "attn fwd+bwd": with_backend(attn_fb),
        "matmul-softmax fwd": with_backend(lambda: K.matmul_softmax_forward(q, k, causal=causal)),
        "softmax fwd+bwd": with_backend(softmax_fb),
    }


def torch_functions(q, k, v, dout, x, dy, causal):
    tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
    tdout, tx, tdy = torch.from_numpy(dout), torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)
    scale = 1.0 / np.sqrt(q.shape[-1])

    def attn_f():
        with torch.no_grad():
            return SDPA(tq, tk, tv, is_causal=causal)

    def attn_fb():
        tq.grad = tk.grad = tv.grad = None
        SDPA(tq, tk, tv, is_causal=causal).backward(tdout)

    def ms_f():
        with torch.no_grad():
            s = (tq @ tk.transpose(-1, -2)) * scale
            if causal:
                s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool).triu(1), float("-inf"))
            return torch.softmax(s, dim=-1)

    def softmax_fb():
        tx.grad = None
        torch.softmax(tx, dim=-1).backward(tdy)

    return {"attn fwd": attn_f, "attn fwd+bwd": attn_fb, "matmul-softmax fwd": ms_f,
            "softmax fwd+bwd": softmax_fb}


def main():
    B, H, D = ARGS.B, ARGS.H, ARGS.D
    if ARGS.memory_child:
        memory_child(ARGS.memory_child, B, H, ARGS.T[0], D, ARGS.causal)
        return
    backends = [b for b in ARGS.backends if b in K.available()]
    missing = sorted(set(ARGS.backends) - set(backends))
    peak = matmul_peak(ARGS.threads, ARGS.repeat)
    print(f"# tinyllm kernel benchmark: B={B} H={H} D={D} float32, "
          f"{'causal' if ARGS.causal else 'full (non-causal)'} attention, {ARGS.threads} thread(s), "
          f"best of 2 x {ARGS.repeat}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else ", torch absent"))
    print(f"# measured float32 matmul peak (numpy 2048^3): {peak:.0f} GFLOP/s")
    if missing:
        print(f"# skipped (not available): {', '.join(missing)}")
    print()
    print("| T | op | backend | time (ms) | vs numpy | vs torch | attn GFLOP/s (% of peak) |")
    print("|---|---|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for T in ARGS.T:
        q, k, v, dout = (rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(4))
        x = rng.standard_normal((B, H, T, T)).astype(np.float32)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        cases = {}
        for name in backends:
            for op, fn in case_functions(name, q, k, v, dout, x, dy, ARGS.causal).items():
                cases[op, name] = fn
        if torch is not None:
            for op, fn in torch_functions(q, k, v, dout, x, dy, ARGS.causal).items():
                cases[op, "torch"] = fn
        times = best_times(cases, ARGS.repeat)
        # model FLOPs: forward = two products of 2 B H T^2 D each, backward = twice the forward
        flops = {"attn fwd": 4 * B * H * T * T * D, "attn fwd+bwd": 12 * B * H * T * T * D}
        if ARGS.causal:
            flops = {op: f / 2 for op, f in flops.items()}
        for op in ("attn fwd", "attn fwd+bwd", "matmul-softmax fwd", "softmax fwd+bwd"):
            for name in backends + (["torch"] if torch is not None else []):
                t = times[op, name]
                vs_np = times[op, "numpy"] / t if ("numpy" in backends) else float("nan")
                vs_t = times[op, "torch"] / t if torch is not None else float("nan")
                rate = ""
                if op in flops:
                    g = flops[op] / t / 1e9
                    rate = f"{g:.0f} ({100 * g / peak:.0f}%)"
                label = "torch SDPA" if name == "torch" and op.startswith("attn") else name
                print(f"| {T} | {op} | {label} | {1e3 * t:.1f} | {vs_np:.2f}x | {vs_t:.2f}x | {rate} |")
        sys.stdout.flush()

    T = max(ARGS.T)
    q, k, v, dout = (rng.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(4))
    out_mib = (4 * q.nbytes + B * H * T * 4) / 2 ** 20
    print()
    print(f"Peak extra memory of one attention forward+backward at T={T} (MiB; inputs excluded; "
          f"the outputs out, dq, dk, dv and lse alone are {out_mib:.0f} MiB):")
    print()
    print("| backend | tracemalloc (NumPy arrays) | RSS high-water (everything) |")
    print("|---|---:|---:|")
    for name in backends:
        fb = case_functions(name, q, k, v, dout, q, q, ARGS.causal)["attn fwd+bwd"]
        fb()   # warm-up: compile Numba before tracing
        print(f"| {name} | {traced_peak_extra(fb):.0f} | {rss_in_fresh_process(name, T)} |")
    if torch is not None:
        print(f"| torch SDPA | n/a (own allocator) | {rss_in_fresh_process('torch', T)} |")

if __name__ == "__main__":
    main()
