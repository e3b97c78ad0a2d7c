"""Data-parallel pre-training over MPI: time per step with 1 and 2 ranks, the all-reduce's share,
and a model of the all-reduce at 8, 64 and 512 ranks for GPT-2 124M.

    python benchmarks/bench_distributed.py              # needs the mpi extra; about a minute

It runs, each rank with one BLAS thread:
  1. the default ``tinyllm pretrain`` GPT (TinyWorld, 2 layers, width 128, batch 16) for
     ``--steps`` timed updates as one plain process (no MPI), and under ``mpiexec -n 2`` (the same
     global batch, 8 rows per rank); per step: the wall time, the time inside the gradient
     all-reduce (which includes waiting for the slower rank), a bare all-reduce of the same
     buffer after a barrier (the communication alone), and each process's CPU time outside the
     all-reduce (its computing, which other jobs on a shared machine hardly change);
  2. bare all-reduces on 2 ranks from 8 bytes (the latency) to GPT-2 124M's float32 gradient
     (498 MB), and one float32 matmul of GPT-2 shapes on one thread (this machine's FLOP rate);
  3. ``mpiexec -n 2 tinyllm pretrain`` against one process (default GPT, ``--equality-steps``
     updates, float64 and float32): the relative difference of the saved weights, over all of
     them and per tensor without the attention key bias b_K (whose true gradient is zero, so it
     only ever moves by round-off);
then writes ``benchmarks/distributed.json`` and the "Data-parallel pre-training over MPI" section of
``benchmarks/RESULTS.md`` (replaced in place) from those numbers, with the model

    ring all-reduce of S bytes on p ranks:  t = 2 (p-1)/p * S / BW  +  2 (p-1) * alpha
    compute per rank and step:              6 N + 12 L C T FLOPs per token, tokens / p per rank

(Rabenseifner's halving-doubling variant has the same bandwidth term and 2 log2(p) * alpha).
Numbers are never asserted anywhere; the tests check correctness only.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
JSON_OUT = HERE / "distributed.json"
START, END = "<!-- bench_distributed: start -->", "<!-- bench_distributed: end -->"

GLOBAL_TOKENS = 512 * 1024          # GPT-2 124M's batch: 0.5M tokens per step (as in llm.c)
NETWORKS = {"100 Gb/s InfiniBand": (12.5e9, 2e-6), "400 Gb/s InfiniBand": (50e9, 2e-6)}   # BW (B/s), alpha (s)
GPU_FLOPS = 100e12                  # an assumed sustained rate for a GPU-class rank
RANKS = (8, 64, 512)


# ------------------------------------------------------------------------------ workers (under mpiexec)


def worker_step(steps, warmup, use_mpi):
    import numpy as np

    from tinyllm import distributed
    from tinyllm.train.pretrain import Recipe, build_batches, build_model, load_corpus, train_config
    from tinyllm.train.trainer import Trainer

    recipe = Recipe(n_train_docs=2000, n_val_docs=50).resolved()
    corpus = load_corpus(recipe)
    model = build_model(recipe, corpus.tokenizer.vocab_size)
    train, _ = build_batches(recipe, corpus)
    cfg = train_config(recipe, corpus)
    ctx = distributed.init("on") if use_mpi else None
    trainer = (ctx.trainer if ctx else Trainer)(model, train, None, cfg, progress=False)
    comm_cpu = [0.0]          # CPU seconds inside the all-reduce (Open MPI polls while it waits)
    if ctx:
        reduce = ctx.allreduce_

        def timed(buf):
            c = time.process_time()
            reduce(buf)
            comm_cpu[0] += time.process_time() - c
            return buf

        ctx.allreduce_ = timed
    for _ in range(warmup):
        trainer.train_step()
    if ctx:
        ctx.comm.Barrier()
        trainer.comm_time, comm_cpu[0] = 0.0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.train_step()
    step_s = (time.perf_counter() - t0) / steps
    compute_cpu_s = (time.process_time() - c0 - comm_cpu[0]) / steps
    result = {"ranks": ctx.size if ctx else 1, "mpi": bool(ctx), "step_ms": 1e3 * step_s,
              "compute_cpu_ms": 1e3 * compute_cpu_s,
              "params": model.num_params(), "batch_size": recipe.batch_size,
              "grad_bytes": model.num_params() * np.dtype(recipe.dtype).itemsize}
    if ctx:
        result["allreduce_in_step_ms"] = 1e3 * trainer.comm_time / steps
        result["compute_cpu_ms"] = ctx.comm.allreduce(result["compute_cpu_ms"], op=ctx.MPI.MAX)
        buf = trainer._flat.copy()
        times = []
        for _ in range(steps):
            ctx.comm.Barrier()
            t = time.perf_counter()
            ctx.allreduce_(buf)
            times.append(time.perf_counter() - t)
        result["allreduce_bare_ms"] = 1e3 * float(np.median(times))
        result["step_ms"] = ctx.comm.allreduce(result["step_ms"], op=ctx.MPI.MAX)
        if not ctx.is_root:
            return
    print(json.dumps(result))


def worker_allreduce(sizes, repeat):
    import numpy as np

    from tinyllm import distributed

    ctx = distributed.init("on")
    rows = []
    for nbytes in sizes:
        buf = np.ones(max(1, nbytes // 4), np.float32)
        ctx.allreduce_(buf)                     # warm-up (first touch, connection set-up)
        times = []
        for _ in range(repeat if nbytes < 10 ** 8 else 3):
            ctx.comm.Barrier()
            t = time.perf_counter()
            ctx.allreduce_(buf)
            times.append(time.perf_counter() - t)
        rows.append({"bytes": buf.nbytes, "ms": 1e3 * float(np.median(times))})
        del buf
    if ctx.is_root:
        print(json.dumps(rows))


def matmul_flops():
    """float32 FLOP/s of one GPT-2 MLP matmul, (8192, 768) @ (768, 3072), on this process's threads."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((8192, 768), dtype=np.float32)
    b = rng.standard_normal((768, 3072), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * 8192 * 768 * 3072 / best


# ------------------------------------------------------------------------------ driver


def equality(steps, work):
    """{dtype: relative differences of 2-rank vs 1-process weights} for the default GPT."""
    import numpy as np

    from tinyllm.models.safetensors_io import load_file

    flags = ["pretrain", "--steps", str(steps), "--eval-every", str(steps), "--train-docs", "2000",
             "--val-docs", "100", "--quiet"]
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    out = {}
    for dtype in ("float64", "float32"):
        runs = {}
        for name, prefix in (("one", []), ("two", [mpiexec, "-n", "2", "--oversubscribe"])):
            folder = Path(work) / f"{name}-{dtype}"
            subprocess.run([*prefix, sys.executable, "-m", "tinyllm", *flags, "--dtype", dtype, "--out",
                            str(folder)], check=True, capture_output=True, env=env_one_thread())
            runs[name] = {k: v.astype(np.float64) for k, v in load_file(folder / "model.safetensors")[0].items()}
        a, b = runs["one"], runs["two"]

        def rel(x, y):
            return float(np.sqrt(sum(((x[k] - y[k]) ** 2).sum() for k in x) / sum((x[k] ** 2).sum() for k in x)))

        def without_bk(w):          # GPT-2 layout: c_attn.bias = [b_Q | b_K | b_V]
            return {k: (np.delete(v, np.s_[v.size // 3: 2 * v.size // 3]) if k.endswith("attn.c_attn.bias") else v)
                    for k, v in w.items()}

        a2, b2 = without_bk(a), without_bk(b)
        out[dtype] = {"steps": steps, "all_weights": rel(a, b),
                      "worst_tensor_without_b_K": max(rel({k: a2[k]}, {k: b2[k]}) for k in a2)}
    return out


def env_one_thread():
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                MKL_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(args, n=None):
    """This script with ``args`` as one plain process (n=None) or under ``mpiexec -n n``; its JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    if n is not None:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
        if mpiexec is None:
            sys.exit("bench_distributed: no mpiexec; pip install -e '.[mpi]'")
        cmd = [mpiexec, "-n", str(n), "--oversubscribe", *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env_one_thread()).stdout
    return json.loads(out.strip().splitlines()[-1])


def gpt2_124m():
    """(parameters, layers, width, context) of the GPT-2 124M preset, counted from its shapes."""
    from tinyllm.models import GPTConfig
    from tinyllm.models.gpt import gpt_param_shapes

    import numpy as np

    cfg = GPTConfig.preset("gpt2")
    n = int(sum(np.prod(s) for s in gpt_param_shapes(cfg).values()))
    return n, cfg.n_layer, cfg.d_model, cfg.max_len


def model_rows(n_params, n_layer, width, context, cpu_flops):
    grad_bytes = 4 * n_params                               # float32 gradients
    flops_per_token = 6 * n_params + 12 * n_layer * width * context
    rows = []
    for p in RANKS:
        compute_cpu = flops_per_token * GLOBAL_TOKENS / p / cpu_flops
        compute_gpu = flops_per_token * GLOBAL_TOKENS / p / GPU_FLOPS
        for net, (bw, alpha) in NETWORKS.items():
            band = 2 * (p - 1) / p * grad_bytes / bw
            ring_lat = 2 * (p - 1) * alpha
            tree_lat = 2 * (p - 1).bit_length() * alpha
            comm = band + ring_lat
            rows.append({"ranks": p, "network": net, "bandwidth_term_ms": 1e3 * band,
                         "ring_latency_ms": 1e3 * ring_lat, "halving_doubling_latency_ms": 1e3 * tree_lat,
                         "allreduce_ms": 1e3 * comm, "tokens_per_rank": GLOBAL_TOKENS // p,
                         "compute_cpu_s": compute_cpu, "share_cpu": comm / (comm + compute_cpu),
                         "compute_gpu_ms": 1e3 * compute_gpu, "share_gpu": comm / (comm + compute_gpu)})
    return rows


def markdown(r):
    one, two, ar = r["one_process"], r["two_ranks"], r["allreduce_sizes"]
    free = two["compute_cpu_ms"] + two["allreduce_bare_ms"]
    n, L, C, T = r["gpt2_124m"]["params"], r["gpt2_124m"]["n_layer"], r["gpt2_124m"]["d_model"], r["gpt2_124m"]["max_len"]
    lat = ar[0]["ms"] * 1e3
    big = ar[-1]
    bus = 2 * (2 - 1) / 2 * big["bytes"] / (big["ms"] / 1e3) / 1e9
    lines = [
        START,
        "## Data-parallel pre-training over MPI (`tinyllm.distributed`)",
        "",
        f"Produced by `python benchmarks/bench_distributed.py` (numbers in `benchmarks/distributed.json`); "
        f"load average {r['load_average']:.1f} at the start on the 2-core machine above, shared with other "
        f"jobs, so read the numbers as indications. One BLAS thread per rank; Open MPI {r['mpi_version']} "
        f"from PyPI, ranks on one machine (shared memory).",
        "",
        f"**Time per step, default GPT** ({one['params']:,} parameters, TinyWorld, global batch "
        f"{one['batch_size']} documents, float32, {r['steps']} timed steps):",
        "",
        "| run | wall time per step | all-reduce inside the step | bare all-reduce of the same buffer "
        "| CPU time of the computation per rank | step on free cores (CPU + bare all-reduce) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| 1 process (no MPI) | {one['step_ms']:.1f} ms | — | — | {one['compute_cpu_ms']:.1f} ms "
        f"| {one['compute_cpu_ms']:.1f} ms |",
        f"| `mpiexec -n 2` ({one['batch_size'] // 2} rows per rank) | {two['step_ms']:.1f} ms "
        f"(speed-up {one['step_ms'] / two['step_ms']:.2f}x) | {two['allreduce_in_step_ms']:.2f} ms "
        f"({100 * two['allreduce_in_step_ms'] / two['step_ms']:.1f}% of the step) | "
        f"{two['allreduce_bare_ms']:.3f} ms ({100 * two['allreduce_bare_ms'] / two['step_ms']:.1f}%) "
        f"| {two['compute_cpu_ms']:.1f} ms (slower rank) | {free:.1f} ms (speed-up "
        f"{one['compute_cpu_ms'] / free:.2f}x; all-reduce {100 * two['allreduce_bare_ms'] / free:.1f}%) |",
        "",
        f"The gradient buffer is {two['grad_bytes'] / 1e6:.2f} MB. The wall times depend on what else ran: "
        f"two ranks on two cores that other jobs also use rarely run at once, and the all-reduce measured "
        f"inside the step includes the time a rank waits for the slower one. The bare all-reduce, timed "
        f"after a barrier, is the communication alone, and the CPU time a process spends computing (its "
        f"own time, outside the all-reduce) hardly depends on the other jobs: the slower rank's computing "
        f"time plus the bare all-reduce estimates a step when each rank has a core to itself (it leaves "
        f"out the cache and memory bandwidth the ranks share).",
        "",
        f"**Equal to one process** (`mpiexec -n 2 tinyllm pretrain` against `tinyllm pretrain`, default "
        f"GPT, the same seed and global batch, {r['equality']['float64']['steps']} steps; relative "
        f"difference ‖w₂ − w₁‖ / ‖w₁‖ of the saved weights):",
        "",
        "| dtype | all weights | worst single tensor, without b_K |",
        "|---|---:|---:|",
        *[f"| {dt} | {e['all_weights']:.1e} | {e['worst_tensor_without_b_K']:.1e} |"
          for dt, e in r["equality"].items()],
        "",
        "Only the order of the sums differs. The attention key bias b_K has an exactly zero true "
        "gradient (softmax ignores a shift shared by all keys), so AdamW turns its round-off-only "
        "gradient into small random moves that differ between the runs; it carries most of the "
        "all-weights difference.",
        "",
        "**Bare all-reduce on 2 ranks** (float32 buffers, median):",
        "",
        "| bytes | time | bus bandwidth 2(p-1)/p·S/t |",
        "|---:|---:|---:|",
    ]
    for row in ar:
        bw = 2 * (2 - 1) / 2 * row["bytes"] / (row["ms"] / 1e3) / 1e9
        lines.append(f"| {row['bytes']:,} | {row['ms']:.3f} ms | {bw:.2f} GB/s |")
    lines += [
        "",
        f"So on this machine alpha ≈ {lat:.0f} µs and the GPT-2 124M gradient ({big['bytes'] / 1e6:.0f} MB, "
        f"float32) all-reduces in {big['ms']:.0f} ms ({bus:.1f} GB/s through shared memory).",
        "",
        f"**Model at 8, 64 and 512 ranks, GPT-2 124M** ({n:,} parameters, L={L}, C={C}, T={T}; "
        f"float32 gradients S = {4 * n / 1e6:.0f} MB; global batch {GLOBAL_TOKENS:,} tokens per step split "
        f"over the ranks; compute 6N + 12·L·C·T = {(6 * n + 12 * L * C * T) / 1e9:.2f} GFLOP per token). "
        f"Ring all-reduce t = 2(p−1)/p·S/BW + 2(p−1)·α; Rabenseifner's halving-doubling has the same "
        f"bandwidth term and 2·log2(p)·α. Compute per rank at this machine's measured one-thread "
        f"matmul rate ({r['cpu_flops'] / 1e9:.0f} GFLOP/s, a CPU rank) and at an assumed "
        f"{GPU_FLOPS / 1e12:.0f} TFLOP/s (a GPU rank); no overlap of communication with the backward pass.",
        "",
        "| ranks | network (BW, α) | bandwidth term | ring latency | halving-doubling latency | all-reduce (ring) "
        "| tokens per rank | compute, CPU rank | all-reduce share, CPU | compute, GPU rank | all-reduce share, GPU |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in r["model"]:
        bw, alpha = NETWORKS[m["network"]]
        lines.append(
            f"| {m['ranks']} | {m['network']} ({bw / 1e9:g} GB/s, {alpha * 1e6:g} µs) | {m['bandwidth_term_ms']:.1f} ms | "
            f"{m['ring_latency_ms']:.2f} ms | {m['halving_doubling_latency_ms']:.3f} ms | {m['allreduce_ms']:.1f} ms | "
            f"{m['tokens_per_rank']:,} | {m['compute_cpu_s']:.0f} s | {100 * m['share_cpu']:.2f}% | "
            f"{m['compute_gpu_ms']:.0f} ms | {100 * m['share_gpu']:.0f}% |")
    lines += [
        "",
        "Reading it: the bandwidth term hardly grows with p (2(p−1)/p → 2), because a ring sends every "
        "byte about twice whatever the number of ranks; the latency term grows with p (linearly for "
        "the ring, so large jobs use halving-doubling or trees for it). Meanwhile, at a fixed global "
        "batch, each rank's compute shrinks as 1/p. CPU ranks like this one compute for so long that "
        "the all-reduce stays a small fraction even at 512 ranks; fast GPU ranks reach the point where "
        "communication dominates at a few dozen ranks, which is why real trainers overlap the "
        "all-reduce with the backward pass (bucketed, layer by layer), send bf16 gradients, or shard "
        "optimizer state (ZeRO) instead of replicating it.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_results(text):
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if START in old and END in old:
        a, b = old.index(START), old.index(END) + len(END) + 1
        new = old[:a] + text + old[b:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new, encoding="utf-8")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=40, help="timed updates per run (default 40)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--equality-steps", type=int, default=60, help="updates of the equality runs (default 60)")
    p.add_argument("--worker", choices=("step", "step-mpi", "allreduce"), help=argparse.SUPPRESS)
    p.add_argument("--sizes", type=int, nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "step":
        return worker_step(args.steps, args.warmup, use_mpi=False)
    if args.worker == "step-mpi":
        return worker_step(args.steps, args.warmup, use_mpi=True)
    if args.worker == "allreduce":
        return worker_allreduce(args.sizes, repeat=20)

    from mpi4py import MPI

    n, L, C, T = gpt2_124m()
    load = os.getloadavg()[0]
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    one = run(["--worker", "step", *common])
    two = run(["--worker", "step-mpi", *common], n=2)
    sizes = [8, 2 ** 20, two["grad_bytes"], 64 * 2 ** 20, 4 * n]
    ar = run(["--worker", "allreduce", "--sizes", *map(str, sorted(sizes))], n=2)
    with tempfile.TemporaryDirectory() as work:
        same = equality(args.equality_steps, work)
    cpu = float(subprocess.run([sys.executable, "-c", "import bench_distributed as b; print(b.matmul_flops())"],
                               cwd=HERE, check=True, capture_output=True, text=True,
                               env=env_one_thread()).stdout)
    r = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
         "mpi_version": MPI.Get_library_version().split(",")[0].replace("Open MPI v", ""),
         "load_average": load, "steps": args.steps, "one_process": one, "two_ranks": two,
         "allreduce_sizes": ar, "cpu_flops": cpu, "equality": same,
         "gpt2_124m": {"params": n, "n_layer": L, "d_model": C, "max_len": T},
         "global_tokens": GLOBAL_TOKENS, "gpu_flops_assumed": GPU_FLOPS,
         "model": model_rows(n, L, C, T, cpu)}
    JSON_OUT.write_text(json.dumps(r, indent=1) + "\n")
    text = markdown(r)
    write_results(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
