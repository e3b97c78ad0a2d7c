"""Source of chapters/07_distributed.ipynb. Build: python chapters/_build.py chapters/src/07_distributed.py"""

# %% [markdown]
# # Chapter 7 — Beyond one machine: data parallelism over MPI (§7 工具与资源)
#
# Section 7 of the article points to the tools for going further. The first one a learner needs
# once a laptop is too slow is the one clusters already run: **MPI**, the Message Passing Interface.
# `mpiexec -n P program` starts P copies of a program (the *ranks*, numbered 0 … P−1) that can
# send each other arrays. llm.c trains GPT-2 this way; tinyllm does the same in NumPy:
#
# ```bash
# mpiexec -n 2 tinyllm pretrain --out runs/dp2      # pip install -e ".[mpi]": mpi4py + Open MPI from PyPI
# ```
#
# This chapter shows why that changes nothing but the speed:
#
# 1. **data parallelism on paper**: how the loss and its gradient split over the ranks;
# 2. **the all-reduce by hand**, with NumPy arrays standing for the ranks;
# 3. **a training step on pretend ranks**, and why their weights never drift apart;
# 4. **the real thing**: a 2-rank run launched with `mpiexec` from this notebook, equal to one process;
# 5. **what it costs at 8, 64 and 512 ranks** for GPT-2 124M.

# %%
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tinyllm.distributed import scored_targets, shard_batch, shard_rows
from tinyllm.models import GPT, GPTConfig
from tinyllm.models.gpt import gpt_param_shapes
from tinyllm.models.safetensors_io import load_file
from tinyllm.train import AdamW
from tinyllm.train.pretrain import Recipe, pretrain

np.set_printoptions(precision=4, suppress=True)
WORK = Path(tempfile.mkdtemp())          # every file this chapter writes goes here

# %% [markdown]
# ## 1. Data parallelism on paper
#
# A GPT's loss (E3.6) is the mean negative log-likelihood over the N targets of a batch that are
# not ignored (padding has target −100):
#
# $$L = \frac1N \sum_{i=1}^{N} \ell_i, \qquad \ell_i = -\log P(x_i \mid x_{<i}).$$
#
# Give each rank r a block of the batch's rows; it holds $n_r$ of the targets and computes its own
# mean $L_r = \frac{1}{n_r}\sum_{i \in r} \ell_i$. Then
#
# $$L = \sum_r \frac{n_r}{N}\, L_r \qquad\Longrightarrow\qquad \nabla L = \sum_r \frac{n_r}{N}\, \nabla L_r. \tag{D1}$$
#
# The weights $n_r/N$ matter: rows have different lengths, so ranks hold different numbers of
# targets, and the plain average of the ranks' means, $\frac1P\sum_r L_r$, is a different number.
# Every rank can compute N itself, because every rank reads the *whole* global batch (from the same
# seeded source) and only then keeps its rows: `shard_rows` gives contiguous blocks, the first
# $B \bmod P$ ranks one row more.

# %%
print("7 rows on 2 ranks:", [shard_rows(7, r, 2) for r in range(2)])
print("5 rows on 3 ranks:", [shard_rows(5, r, 3) for r in range(3)])
print("2 rows on 3 ranks:", [shard_rows(2, r, 3) for r in range(3)], "(rank 2 gets nothing)")

rng = np.random.default_rng(0)
B, T, V = 5, 12, 40
idx = rng.integers(0, V, size=(B, T))
targets = rng.integers(0, V, size=(B, T))
for b in range(B):                                        # rows of different lengths: padding at the end
    targets[b, T - 2 * b:] = -100
batch = {"idx": idx, "targets": targets}
model = GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=16, max_len=T), seed=0, dtype=np.float64)

loss, grads = model.loss_and_grads(**batch)              # one process: the whole batch
P, N = 3, scored_targets(batch)
weighted, plain = 0.0, 0.0
sum_grads = {k: np.zeros_like(g) for k, g in grads.items()}
for r in range(P):
    part = shard_batch(batch, r, P)                      # rank r's rows
    n_r = scored_targets(part)
    loss_r, grads_r = model.loss_and_grads(**part)
    print(f"rank {r}: rows {shard_rows(B, r, P)}, n_r = {n_r:2d}, L_r = {loss_r:.6f}")
    weighted += n_r / N * loss_r                         # D1
    plain += loss_r / P
    for k in sum_grads:
        sum_grads[k] += n_r / N * grads_r[k]


def rel(a, b):
    """‖b − a‖ / ‖a‖ over every array of two dicts together."""
    return np.sqrt(sum(((a[k] - b[k]) ** 2).sum() for k in a) / sum((a[k] ** 2).sum() for k in a))


print(f"one process L = {loss:.12f}\nD1: Σ (n_r/N) L_r = {weighted:.12f}\nplain mean of L_r = {plain:.12f}")
print(f"gradients: relative difference {rel(grads, sum_grads):.1e}")
assert abs(weighted - loss) <= 1e-12 * loss and rel(grads, sum_grads) <= 1e-12
assert abs(plain - loss) > 1e-3 * loss                   # the unweighted mean is wrong

# %% [markdown]
# ## 2. The all-reduce by hand
#
# Each rank now holds its weighted gradient $g_r = \frac{n_r}{N}\nabla L_r$, and every rank needs
# the sum $\sum_r g_r$. That operation — everyone contributes an array, everyone receives the sum —
# is an **all-reduce**. The obvious way sends everything to rank 0, which adds and sends the sum
# back: rank 0 receives and sends $(P-1)\,S$ bytes for gradients of S bytes, growing with P.
#
# The **ring all-reduce** cuts each array into P chunks and passes chunks around a ring (rank r
# sends to r+1). In P−1 *reduce-scatter* steps each rank adds the chunk it receives to its own, so
# that afterwards rank r holds the complete sum of one chunk; in P−1 *all-gather* steps those
# finished chunks travel once around the ring. Every rank sends $2\frac{P-1}{P}S$ bytes — about
# twice the gradient, **whatever P is**. Here the ranks are a Python list of NumPy arrays and a
# "send" is a copy that we count.

# %%
def ring_allreduce(arrays):
    """Sum a list of equal-shape 1-D arrays (one per pretend rank) in place, the ring way.
    Returns the number of bytes each rank sent."""
    P = len(arrays)
    chunks = [np.array_split(a, P) for a in arrays]      # chunks[r][c]: views into rank r's array
    sent = [0] * P
    for step in range(P - 1):                            # reduce-scatter
        msgs = [(r, (r - step) % P, chunks[r][(r - step) % P].copy()) for r in range(P)]
        for r, c, data in msgs:                          # rank r sends chunk c to rank r + 1
            chunks[(r + 1) % P][c] += data
            sent[r] += data.nbytes
    for step in range(P - 1):                            # all-gather: finished chunks go round
        msgs = [(r, (r + 1 - step) % P, chunks[r][(r + 1 - step) % P].copy()) for r in range(P)]
        for r, c, data in msgs:
            chunks[(r + 1) % P][c][...] = data
            sent[r] += data.nbytes
    return sent


for P in (2, 4, 8):
    ranks = [np.random.default_rng(r).standard_normal(1000) for r in range(P)]
    expected = np.sum(ranks, axis=0)
    sent = ring_allreduce(ranks)
    S = ranks[0].nbytes
    assert all(np.allclose(a, expected, rtol=1e-12, atol=1e-12) for a in ranks)   # every rank has the sum
    assert all(np.array_equal(a, ranks[0]) for a in ranks)                         # ... the same bits
    print(f"P={P}: each rank sent {sent[0] / S:.3f} S  (2(P-1)/P = {2 * (P - 1) / P:.3f});"
          f"  via rank 0 it would handle {P - 1} S")

# %% [markdown]
# Every rank ends with the *same bits*, not just the same value: each chunk is summed once, on
# one rank, and then copied. That is what keeps the ranks' weights identical below. (MPI libraries
# pick among ring, tree and halving-doubling algorithms by message size; Open MPI's give every rank
# the same result too.)
#
# ## 3. A training step on pretend ranks
#
# Now the whole update: each rank computes its weighted gradient, writes every parameter's
# gradient end to end into **one flat buffer** (one all-reduce per step instead of one per tensor:
# MPI pays a latency per call), the buffer is all-reduced, and each rank takes the optimizer step
# (AdamW, S9) on its own copy of the model. The ranks start from the same seed and apply the same
# update to the same numbers, so their weights stay bit-for-bit identical without ever being sent.

# %%
P, steps = 3, 4
ranks = [GPT(model.config, seed=0, dtype=np.float64) for _ in range(P)]
opts = [AdamW(m.params, lr=1e-2) for m in ranks]
solo = GPT(model.config, seed=0, dtype=np.float64)       # the one-process run
solo_opt = AdamW(solo.params, lr=1e-2)
names = list(solo.params)
for step in range(steps):
    b = {"idx": np.roll(idx, step, axis=1), "targets": np.roll(targets, step, axis=1)}
    N = scored_targets(b)
    flats = []
    for r in range(P):
        part = shard_batch(b, r, P)
        _, g = ranks[r].loss_and_grads(**part)
        w = scored_targets(part) / N                                       # n_r / N (D1)
        flats.append(np.concatenate([w * g[k].ravel() for k in names]))    # the flat buffer
    ring_allreduce(flats)                                                  # one call per step
    for r in range(P):
        sizes = np.cumsum([0] + [ranks[r].params[k].size for k in names])
        g = {k: flats[r][sizes[i]: sizes[i + 1]].reshape(ranks[r].params[k].shape) for i, k in enumerate(names)}
        opts[r].step(g)
    _, g = solo.loss_and_grads(**b)
    solo_opt.step(g)

same = all(np.array_equal(ranks[0].params[k], ranks[r].params[k]) for r in range(P) for k in names)
print(f"after {steps} steps the {P} ranks hold identical weights: {same}")
for k in sorted(names, key=lambda k: -rel({k: solo.params[k]}, {k: ranks[0].params[k]}))[:3]:
    print(f"ranks vs one process, {k:12s}: relative difference {rel({k: solo.params[k]}, {k: ranks[0].params[k]}):.1e}"
          f"   largest |w| {np.abs(solo.params[k]).max():.1e}")
others = [k for k in names if not k.endswith("b_K")]
worst = max(rel({k: solo.params[k]}, {k: ranks[0].params[k]}) for k in others)
print(f"every tensor but b_K: largest relative difference {worst:.1e}")
assert same and worst <= 1e-12

# %% [markdown]
# The ranks differ from the one-process run only by the order in which the sums are taken: ~1e-16
# relative in float64 — except one tensor, the attention key bias $b_K$. Adding the same vector
# to every key adds the same number to all the scores of a query, and softmax ignores that (S1),
# so $\partial L/\partial b_K = 0$ exactly. Its computed gradient is pure round-off (~1e-17), which
# AdamW divides by that gradient's own tiny running size (plus ε): $b_K$ wanders by ~1e-12 per step
# from zero, differently for every summation order. It is round-off either way, but it is all of
# that parameter, so comparisons of whole runs below are made over all weights together (and
# element by element without $b_K$).
#
# That is all `tinyllm.distributed` does, with `mpi4py`'s
# `Allreduce` instead of our list of arrays. Two more details make a whole run behave like one
# process: **rank 0 alone writes** checkpoints, `metrics.json` and the progress bar, and
# **validation** batches are dealt out round robin, each rank scoring its own and the per-batch
# sums all-reduced and added in batch order — so even the validation loss is bit-for-bit the
# one-process number. The checkpoint holds nothing that depends on the number of ranks, so a run
# can resume on any number of them.
#
# ## 4. The real thing: `mpiexec -n 2`
#
# We launch two real processes from this notebook, training a small GPT on TinyWorld in float64
# with a batch of 7 documents (4 rows on rank 0, 3 on rank 1), and train the same recipe in this
# process. (Open MPI refuses to run as root unless told it may; containers and CI run as root.)

# %%
RECIPE = dict(n_layer=1, n_head=2, d_model=32, max_len=48, steps=20, batch_size=7, n_train_docs=300,
              n_val_docs=40, eval_every=10, warmup=2, dtype="float64")
FLAGS = ["--n-layer", "1", "--n-head", "2", "--d-model", "32", "--max-len", "48", "--steps", "20",
         "--batch-size", "7", "--train-docs", "300", "--val-docs", "40", "--eval-every", "10",
         "--warmup", "2", "--dtype", "float64", "--quiet"]

mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
assert mpiexec, "no mpiexec: pip install -e '.[mpi]'"
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
cmd = [mpiexec, "-n", "2", "--oversubscribe", sys.executable, "-m", "tinyllm", "pretrain",
       "--out", str(WORK / "two-ranks"), *FLAGS]
print("$", " ".join(["mpiexec", "-n", "2", "--oversubscribe", "tinyllm", "pretrain", "--out", "two-ranks", *FLAGS]))
run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
print(run.stderr)
assert run.returncode == 0

pretrain(Recipe(**RECIPE), WORK / "one-process", progress=False)      # the same recipe, one process
one = load_file(WORK / "one-process" / "model.safetensors")[0]
two = load_file(WORK / "two-ranks" / "model.safetensors")[0]
print(f"weights after {RECIPE['steps']} steps, 2 ranks vs 1 process: relative difference {rel(one, two):.1e}")
assert rel(one, two) <= 1e-12

val = [[e["val_loss"] for e in json.loads((WORK / run_ / "metrics.json").read_text())["evals"]]
       for run_ in ("one-process", "two-ranks")]
print("validation losses, 1 process:", val[0], "\n                   2 ranks:  ", val[1])
assert val[0] == val[1]                                  # bit for bit

# %% [markdown]
# Element by element, $b_K$ (in GPT-2's layout the middle third of `c_attn.bias`) stands out, as
# in section 3; every other weight agrees to round-off.

# %%
C = RECIPE["d_model"]
for k in sorted(one, key=lambda k: -rel({k: one[k]}, {k: two[k]}))[:3]:
    print(f"{k:35s} relative difference {rel({k: one[k]}, {k: two[k]}):.1e}   largest |w| {np.abs(one[k]).max():.1e}")
bk = "transformer.h.0.attn.c_attn.bias"
print(f"b_K (c_attn.bias[{C}:{2 * C}]): largest |w| {np.abs(one[bk][C:2 * C]).max():.1e}  (it starts at 0)")
without_bk = lambda w: {**w, bk: np.delete(w[bk], np.s_[C:2 * C])}      # noqa: E731
a, b = without_bk(one), without_bk(two)
worst = max(rel({k: a[k]}, {k: b[k]}) for k in a)
print(f"every tensor without b_K: largest relative difference {worst:.1e}")
assert worst <= 1e-12

# %% [markdown]
# ## 5. What it costs at 8, 64 and 512 ranks
#
# Each step now pays for one all-reduce of the gradients. With the ring algorithm, S bytes of
# gradients on P ranks, a network bandwidth BW and a per-message latency α:
#
# $$t_{\text{all-reduce}} = 2\frac{P-1}{P}\,\frac{S}{BW} + 2(P-1)\,\alpha .$$
#
# The bandwidth term barely grows with P; the latency term does (large jobs switch to tree or
# halving-doubling algorithms with $2\log_2 P$ latencies). Meanwhile, at a fixed global batch,
# each rank's share of the compute (≈ $6N + 12LCT$ FLOPs per token for a GPT with N parameters)
# shrinks as 1/P. For GPT-2 124M with its 0.5M-token batch, float32 gradients, a 100 Gb/s network
# (12.5 GB/s, α = 2 µs), and ranks computing at 100 GFLOP/s (a CPU node) or 100 TFLOP/s (a GPU):
# `benchmarks/RESULTS.md` has the same model beside measurements on a 2-core machine
# (`benchmarks/bench_distributed.py`).

# %%
cfg = GPTConfig.preset("gpt2")
n_params = int(sum(np.prod(s) for s in gpt_param_shapes(cfg).values()))
S, BW, alpha, tokens = 4 * n_params, 12.5e9, 2e-6, 512 * 1024
flops_per_token = 6 * n_params + 12 * cfg.n_layer * cfg.d_model * cfg.max_len
Ps = 2 ** np.arange(1, 11)                                                # 2 … 1024 ranks
comm = 2 * (Ps - 1) / Ps * S / BW + 2 * (Ps - 1) * alpha
print(f"GPT-2 124M: {n_params:,} parameters, S = {S / 1e6:.0f} MB of float32 gradients")
print(" ranks | all-reduce | compute, CPU rank | share | compute, GPU rank | share")
for P_, c in zip(Ps, comm):
    cpu, gpu = flops_per_token * tokens / P_ / 100e9, flops_per_token * tokens / P_ / 100e12
    if P_ in (8, 64, 512):
        print(f"{P_:6d} | {1e3 * c:7.1f} ms | {cpu:13.0f} s   | {100 * c / (c + cpu):4.1f}% |"
              f" {1e3 * gpu:12.1f} ms   | {100 * c / (c + gpu):3.0f}%")

fig, ax = plt.subplots(figsize=(6, 3.2))
for rate, label in ((100e9, "CPU rank, 100 GFLOP/s"), (100e12, "GPU rank, 100 TFLOP/s")):
    compute = flops_per_token * tokens / Ps / rate
    ax.plot(Ps, 100 * comm / (comm + compute), marker="o", label=label)
ax.set_xscale("log", base=2)
ax.set_xlabel("ranks P")
ax.set_ylabel("all-reduce share of a step (%)")
ax.set_title("GPT-2 124M, 0.5M-token batch, 100 Gb/s ring all-reduce")
ax.legend()
plt.tight_layout()
plt.show()
assert comm[-1] < 2.2 * S / BW                           # the bandwidth term stays below 2 S / BW

# %% [markdown]
# Slow ranks hide the all-reduce; fast ones expose it within a few dozen ranks, and then what
# matters is overlapping it with the backward pass (sending each layer's gradients as soon as they
# are ready), sending fewer bytes (bf16 gradients), or not replicating the optimizer state at all
# (ZeRO, FSDP). tinyllm keeps the plain version, so that every line of it can be read: one
# `Allreduce` per step, in `tinyllm/distributed.py`.
