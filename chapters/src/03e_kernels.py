"""Source of chapters/03e_kernels.ipynb. Build: python chapters/_build.py chapters/src/03e_kernels.py"""

# %% [markdown]
# # Chapter 3e — Making attention fast: from three NumPy lines to a tiled kernel (§3.1)
#
# Section 3.1 of the article defines attention with two formulas:
#
# $$A = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt d}\right) \quad\text{(E3.2)}\qquad\qquad
#   \mathrm{Attention}(Q,K,V) = AV \quad\text{(E3.3)}$$
#
# with the softmax of S1 taken row by row and, in a decoder or a padded batch, the masks of S3
# (a score becomes $-\infty$ where a query may not look). These two lines are where a Transformer
# spends most of its time and, worse, its memory: $A$ has one entry per (query, key) pair, so it
# grows with $T^2$.
#
# This chapter walks from the formulas to the kernels in `tinyllm.kernels`:
#
# 1. E3.2/E3.3 as three NumPy lines (the reference, `tinyllm.ops.attention`);
# 2. the same thing as a naive loop, one query row at a time;
# 3. the **tiled online softmax**: visit the keys in tiles, keep a running max and sum, never store
#    a row of $A$ (the FlashAttention idea) — and its backward pass, which recomputes $A$;
# 4. the compiled versions (C through Cython, Numba on the CPU, Numba CUDA), checked against the
#    reference, with a small speed and memory comparison;
# 5. how to read the C kernel next to the equations, and how to debug the Numba one;
# 6. a whole training step, kernel by kernel: the fused LayerNorm, GELU, cross-entropy and AdamW,
#    memory that stays mapped, one thread policy, and the comparison with PyTorch.
#
# The contract all four backends keep (shapes, masks, NaN in → NaN out, tolerances) is written
# out in `docs/KERNELS.md`.

# %%
from tinyllm.runtime import configure_threads

configure_threads()   # BLAS and OpenMP threads chosen on purpose: 1, or OMP_NUM_THREADS (tinyllm.runtime)

import ctypes.util
import os
import pathlib
import time

# Without a GPU, let numba.cuda run on its CPU simulator (must happen before numba.cuda is imported).
if ctypes.util.find_library("cuda") is None and "NUMBA_ENABLE_CUDASIM" not in os.environ:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
import tinyllm.kernels as K
from tinyllm import ops

rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)
REPO = pathlib.Path(tinyllm.__file__).resolve().parent.parent
print("backends available here:", K.available(), "| default:", K.default())

# %% [markdown]
# ## 1. E3.2 and E3.3 in three lines (with S1 and S3)
#
# For one batch of heads, $Q$ is `(B, H, Tq, D)`, $K$ and $V$ are `(B, H, Tk, D)`. The masks of S3
# turn a score into $-\infty$, so its weight $e^{-\infty} = 0$:
# causal — query $i$ may see key $j$ only if $j \le i + (T_k - T_q)$; padding — a key marked absent
# is hidden from every query. The softmax (S1) subtracts the row maximum before exponentiating.

# %%
B, H, Tq, Tk, D = 2, 3, 7, 7, 16
Q = rng.standard_normal((B, H, Tq, D))
Kx = rng.standard_normal((B, H, Tk, D))   # K: the keys (the name K is the kernel module here)
V = rng.standard_normal((B, H, Tk, D))
key_mask = np.ones((B, Tk), bool)
key_mask[1, -2:] = False                   # the last two keys of batch row 1 are padding

S = Q @ Kx.swapaxes(-1, -2) / np.sqrt(D)                                   # scores, E3.2
S = np.where(ops.attention_mask(B, Tq, Tk, causal=True, key_mask=key_mask), S, -np.inf)   # S3
A = np.exp(S - S.max(-1, keepdims=True)); A /= A.sum(-1, keepdims=True)   # softmax, S1
out = A @ V                                                                 # E3.3

ref, cache = ops.attention_forward(Q, Kx, V, causal=True, key_mask=key_mask)
assert np.allclose(out, ref, atol=1e-12)
print("three lines == tinyllm.ops.attention_forward; A is", A.shape, "=", A.size, "numbers")

# %% [markdown]
# ## 2. The naive loop
#
# Written one query row at a time, the same computation shows where the work is: for every query
# $i$, a dot product with every key (E3.2), a softmax over those scores (S1), and a weighted sum of
# the values (E3.3). The full score row `s` exists for a moment; NumPy's version above keeps all of
# them, for all rows, heads and batches, because its backward pass needs $A$.

# %%
def attention_loop(q, k, v, causal, keep):
    """One head: q (Tq, D), k and v (Tk, D), keep (Tk,) bool -> out (Tq, D). E3.2, E3.3, S1, S3."""
    Tq, Tk = len(q), len(k)
    out = np.zeros((Tq, v.shape[1]))
    for i in range(Tq):
        s = np.full(Tk, -np.inf)
        for j in range(Tk):
            if keep[j] and (not causal or j <= i + Tk - Tq):
                s[j] = q[i] @ k[j] / np.sqrt(q.shape[1])       # E3.2 (S3 leaves -inf)
        if s.max() == -np.inf:
            continue                                           # fully masked row: zeros
        p = np.exp(s - s.max())                                # S1
        out[i] = (p / p.sum()) @ v                             # E3.3
    return out


loop = np.stack([np.stack([attention_loop(Q[b, h], Kx[b, h], V[b, h], True, key_mask[b])
                           for h in range(H)]) for b in range(B)])
assert np.allclose(loop, ref, atol=1e-12)
print("naive loop == reference")

# %% [markdown]
# ## 3. Tiles and an online softmax
#
# To avoid ever holding a full row of scores, visit the keys in **tiles** of $b$ keys and keep
# three running numbers per query row: the largest score so far $m$, the sum
# $\ell = \sum_j e^{s_j - m}$ and the unnormalised output $o = \sum_j e^{s_j - m} v_j$.
#
# When a new tile brings scores $s'_j$, the maximum may grow to $m' = \max(m, \max_j s'_j)$. Every
# term summed so far used the old $m$; since $e^{s - m'} = e^{m - m'}\,e^{s - m}$, one factor
# $\alpha = e^{m - m'}$ fixes them all at once:
#
# $$\ell' = \alpha\,\ell + \sum_j e^{s'_j - m'},\qquad o' = \alpha\,o + \sum_j e^{s'_j - m'}\,v_j .$$
#
# After the last tile, $o/\ell = \sum_j A_j v_j$: exactly E3.3 with the softmax of S1, computed
# without storing $A$. The subtraction of the running max keeps every exponent $\le 0$, so nothing
# overflows. For the backward pass we keep a single number per row, the log-sum-exp
# $\mathrm{lse} = m + \log \ell$, because then any weight can be recomputed as $A_{ij} = e^{s_{ij} - \mathrm{lse}_i}$.

# %%
def attention_tiled(q, k, v, causal, keep, tile=3):
    """One head with key tiles and the online softmax; returns out (Tq, D) and lse (Tq,)."""
    Tq, Tk = len(q), len(k)
    out, lse = np.zeros((Tq, v.shape[1])), np.full(Tq, -np.inf)
    for i in range(Tq):
        m, l, o = -np.inf, 0.0, np.zeros(v.shape[1])
        for j0 in range(0, Tk, tile):
            j = np.arange(j0, min(j0 + tile, Tk))
            s = k[j] @ q[i] / np.sqrt(q.shape[1])                         # E3.2 on one tile
            s[~keep[j] | (causal & (j > i + Tk - Tq))] = -np.inf           # S3
            if s.max() == -np.inf:
                continue
            m_new = max(m, s.max())
            alpha = np.exp(m - m_new)                                      # rescale the past
            p = np.exp(s - m_new)
            l, o, m = alpha * l + p.sum(), alpha * o + p @ v[j], m_new
        if l > 0:
            out[i], lse[i] = o / l, m + np.log(l)
    return out, lse


tiled = np.stack([np.stack([attention_tiled(Q[b, h], Kx[b, h], V[b, h], True, key_mask[b])[0]
                            for h in range(H)]) for b in range(B)])
assert np.allclose(tiled, ref, atol=1e-12)
print("tiled online softmax == reference (no row of A was ever stored)")

# %% [markdown]
# ### The backward pass, recomputing $A$
#
# In the forward pass $\mathrm{out}_i = \sum_j A_{ij} v_j$, so $\partial v_j = \sum_i A_{ij}\,\partial\mathrm{out}_i$
# and $\partial A_{ij} = \partial\mathrm{out}_i \cdot v_j$. Through the softmax (S1),
# $\partial s_{ij} = A_{ij}\,(\partial A_{ij} - \sum_k A_{ik}\partial A_{ik})$, and the row sum is the
# same number $\Delta_i = \partial\mathrm{out}_i \cdot \mathrm{out}_i$ (because $\sum_k A_{ik} v_k = \mathrm{out}_i$).
# Then $\partial q_i = \tfrac{1}{\sqrt d}\sum_j \partial s_{ij} k_j$ and $\partial k_j = \tfrac{1}{\sqrt d}\sum_i \partial s_{ij} q_i$.
# Each term needs only $q_i$, $k_j$, $v_j$, $\mathrm{lse}_i$ and $\Delta_i$: memory $O(T)$ per row instead of $O(T^2)$.

# %%
def attention_tiled_backward(q, k, v, keep, causal, out, lse, dout):
    """Backward of one head from q, k, v, out and lse only (A recomputed per entry)."""
    Tq, Tk = len(q), len(k)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    scale = 1 / np.sqrt(q.shape[1])
    for i in range(Tq):
        if lse[i] == -np.inf:
            continue                                    # fully masked row: no gradient
        delta = dout[i] @ out[i]
        for j in range(Tk):
            if not keep[j] or (causal and j > i + Tk - Tq):
                continue
            a = np.exp(scale * q[i] @ k[j] - lse[i])    # A_ij recomputed
            dv[j] += a * dout[i]
            ds = a * (dout[i] @ v[j] - delta)           # S1
            dq[i] += scale * ds * k[j]
            dk[j] += scale * ds * q[i]
    return dq, dk, dv


dout = rng.standard_normal(ref.shape)
dq_ref, dk_ref, dv_ref = ops.attention_backward(dout, cache)
b, h = 1, 2
o_bh, lse_bh = attention_tiled(Q[b, h], Kx[b, h], V[b, h], True, key_mask[b])
mine = attention_tiled_backward(Q[b, h], Kx[b, h], V[b, h], key_mask[b], True, o_bh, lse_bh, dout[b, h])
for name, g, r in zip(("dq", "dk", "dv"), mine, (dq_ref[b, h], dk_ref[b, h], dv_ref[b, h])):
    assert np.allclose(g, r, atol=1e-12), name
print("recomputing backward == reference backward (which stored A)")

# %% [markdown]
# ## 4. The compiled versions
#
# `tinyllm.kernels` puts four backends behind one dispatch with the signatures of `tinyllm.ops`:
# `numpy` (the reference above), `cython` (C99 in `csrc/`, OpenMP over heads and query blocks),
# `numba` (`@njit(parallel=True)`) and `cuda` (Numba CUDA, one thread block per query tile, keys and
# values staged in shared memory). `with K.use(name):` picks one; the cache of a forward pass
# remembers its backend, so the backward always runs where the forward did. Every backend must
# match the reference — here on a causal, padded batch whose first batch row is fully masked (S3):
# its output must be zeros, not NaN.

# %%
Bc, Hc, Tc, Dc = 2, 4, 150, 32
q, k, v = (rng.standard_normal((Bc, Hc, Tc, Dc)).astype(np.float32) for _ in range(3))
g = rng.standard_normal((Bc, Hc, Tc, Dc)).astype(np.float32)
mask = rng.random((Bc, Tc)) > 0.2
mask[0] = False
small = dict(q=q[:, :1, :6, :4], k=k[:, :1, :6, :4], v=v[:, :1, :6, :4], g=g[:, :1, :6, :4])

with K.use("numpy"):
    o_np, c_np = K.attention_forward(q, k, v, causal=True, key_mask=mask)
    grads_np = K.attention_backward(g, c_np)
for name in K.available():
    if name == "numpy":
        continue
    args = (q, k, v, g, mask) if name != "cuda" else (*small.values(), mask[:, :6])  # simulator: tiny
    with K.use(name):
        o, c = K.attention_forward(*args[:3], causal=True, key_mask=args[4])
        grads = K.attention_backward(args[3], c)
    with K.use("numpy"):
        o_ref, c_ref = K.attention_forward(*args[:3], causal=True, key_mask=args[4])
        grads_ref = K.attention_backward(args[3], c_ref)
    err = max(float(np.max(np.abs(a - r))) for a, r in zip((o, *grads), (o_ref, *grads_ref)))
    assert err < 1e-4 and not np.any(o[0]) and np.all(np.isfinite(o)), name
    kept = sorted(key for key, val in c.items() if isinstance(val, np.ndarray))
    print(f"{name:7s} max |difference| from numpy {err:.1e}   cache keeps: {kept}")
print("numpy   cache keeps the weights A:", c_np["A"].shape)

# %% [markdown]
# ### Speed and memory
#
# A quick comparison at a few lengths (float32, B=2, H=4, D=64, forward + backward, best of 3; the
# numbers move with the machine and its load — `benchmarks/bench_kernels.py` is the careful
# version). Memory is what a forward pass keeps for its backward: the numpy reference keeps $A$,
# which grows as $T^2$; the tiled kernels keep the log-sum-exp, which grows as $T$.

# %%
def fwd_bwd_time(name, q, k, v, g, repeat=3):
    with K.use(name):
        best = float("inf")
        for _ in range(repeat + 1):          # the first run also compiles Numba
            t0 = time.perf_counter()
            _, c = K.attention_forward(q, k, v, causal=True)
            K.attention_backward(g, c)
            best = min(best, time.perf_counter() - t0)
    return best, sum(val.nbytes for key, val in c.items()
                     if isinstance(val, np.ndarray) and key not in ("q", "k", "v", "out", "keep"))


cpu = [name for name in K.available() if name != "cuda"]
lengths = [64, 128, 256, 512]
times, kept = {n: [] for n in cpu}, {n: [] for n in cpu}
for T in lengths:
    q, k, v, g = (rng.standard_normal((2, 4, T, 64)).astype(np.float32) for _ in range(4))
    for name in cpu:
        t, nbytes = fwd_bwd_time(name, q, k, v, g)
        times[name].append(1e3 * t)
        kept[name].append(nbytes / 2 ** 20)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
for name in cpu:
    ax1.plot(lengths, times[name], "o-", label=name)
    ax2.plot(lengths, kept[name], "o-", label=name)
ax1.set(xscale="log", yscale="log", xlabel="T", ylabel="forward + backward (ms)", title="time")
ax2.set(xscale="log", yscale="log", xlabel="T", ylabel="kept for backward (MiB)",
        title="memory beyond q, k, v, out")
for ax in (ax1, ax2):
    ax.set_xticks(lengths, [str(t) for t in lengths])
    ax.legend()
plt.tight_layout()
plt.show()
for name in cpu:
    print(f"{name:7s}", "  ".join(f"T={T}: {t:7.1f} ms" for T, t in zip(lengths, times[name])))

# %% [markdown]
# ## 5. Reading the C kernel next to the equations
#
# `csrc/attention.c` is written once for a generic `REAL` (float or double; `kernels_f32.c` and
# `kernels_f64.c` include it with the type set) and keeps the symbols of section 3 above:
#
# | in the C code | in the math |
# |---|---|
# | `gemm(ST, ..., kh + j0 * D, ..., qt, ...)` | scores of one tile, $s = K_{\text{tile}}\,(\tfrac{1}{\sqrt d}Q_{\text{block}})^\top$ (E3.2), stored transposed |
# | `mask_tile_t(...)` | S3: $-\infty$ for padding keys and keys after $i + T_k - T_q$ |
# | `m[i]`, `l[i]`, `alpha[i]` | $m$, $\ell$, $\alpha = e^{m - m'}$ of the online softmax |
# | `exp_cols(ST, ..., ms, sum)` | $p_j = e^{s_j - m'}$ and $\sum_j p_j$ (S1) |
# | `gemm(ob, ..., ST, 1, TL_BQ, vh + j0 * Dv, ...)` | $o \mathrel{+}= \sum_j p_j v_j$ (E3.3) |
# | `lse[...] = m[i] + LOG(l[i])` | the only number per row kept for backward |
#
# The scores of a tile are stored transposed (keys down, queries across) so that the max, the exp
# and the sums run along contiguous memory for 64 queries at once, which the compiler turns into
# vector instructions; `gemm` keeps a 6 x 64 block of its result in registers (6 x 16 on a CPU
# with AVX2 but no AVX-512: half as many registers, half as wide). Here is the heart of
# the forward loop:

# %%
src = (REPO / "csrc" / "attention.c").read_text()
start = src.index("for (int64_t j0 = 0; j0 < jend; j0 += TL_BK)")
print(src[start:src.index("for (int64_t i = 0; i < nq; i++) {\n                REAL *o = ob", start)])

# %% [markdown]
# ## Debugging the Numba kernels: `NUMBA_DISABLE_JIT=1`
#
# With the environment variable `NUMBA_DISABLE_JIT=1` set before Numba is imported, `@njit`
# returns the plain Python function: the kernels in `tinyllm/kernels/numba_backend.py` then run as
# ordinary Python (slowly), so `pdb`, `print` and a debugger's breakpoints work inside them, and an
# index error is a normal Python exception. `prange` becomes `range`. Below, a fresh interpreter
# with the variable set runs the numba backend and checks that its kernels are plain functions.

# %%
import subprocess
import sys

probe = r"""
import numpy as np, tinyllm.kernels as K, tinyllm.kernels.numba_backend as nb
q = np.random.default_rng(0).standard_normal((1, 1, 5, 4))
with K.use("numba"):
    out, cache = K.attention_forward(q, q, q, causal=True)
with K.use("numpy"):
    ref, _ = K.attention_forward(q, q, q, causal=True)
kernel = nb._attention_fwd._compiled[False]
print(type(kernel).__name__, "| max difference from numpy:", float(abs(out - ref).max()))
"""
env = dict(os.environ, NUMBA_DISABLE_JIT="1")
result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
print(result.stdout.strip() or result.stderr[-2000:])
assert result.returncode == 0 and result.stdout.startswith("function")

# %% [markdown]
# ## 6. A whole training step, kernel by kernel
#
# Attention is one part of a GPT training step. The rest — LayerNorm (S4), GELU (S5), the
# projections of E3.1/E3.4 with their biases, the cross-entropy over the vocabulary (S1, S2) and the
# AdamW update (S9) — is where NumPy loses to PyTorch: each NumPy expression is one pass over
# memory and one fresh temporary, so LayerNorm's five lines read and write its (B·T, C) input
# about ten times, and the cross-entropy makes six (B·T, V) temporaries. The matmuls themselves are
# not the problem (NumPy's BLAS runs them as fast as PyTorch's).
#
# `tinyllm.kernels.fused` has the same functions as `tinyllm.ops` with the same signatures,
# written in C (`csrc/fused.c`) as one pass per row. Version 1 is the reference, version 2 the
# fused kernel; each pair is timed below on the shapes of one step of a small GPT, forward +
# backward, in CPU time of one thread (CPU time, because wall time on a shared machine measures the
# neighbours too). `tinyllm.kernels.use("numpy")` switches the whole model back to the reference.

# %%
from tinyllm import GPT, GPTConfig
from tinyllm.kernels import fused
from tinyllm.ops.losses import causal_lm_targets
from tinyllm.train.optim import AdamW


def cpu_ms(fn, repeat=5):
    """Best CPU time of fn() in ms (process_time: what this process computed, whatever the load)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return 1e3 * best


Bs, Ts, Vs, Cs, Ls = 8, 128, 2048, 128, 2
cfg = GPTConfig(vocab_size=Vs, n_layer=Ls, n_head=4, d_model=Cs, max_len=Ts)
gpt = GPT(cfg, seed=0)
idx = rng.integers(0, Vs, (Bs, Ts))
targets = causal_lm_targets(idx)
N = Bs * Ts
x32 = rng.standard_normal((N, Cs)).astype(np.float32)
h32 = rng.standard_normal((N, 4 * Cs)).astype(np.float32)
z32 = rng.standard_normal((N, Vs)).astype(np.float32)
gamma, beta = np.ones(Cs, np.float32), np.zeros(Cs, np.float32)


def layernorm_pair():
    y, c = fused.layernorm_forward(x32, gamma, beta)
    fused.layernorm_backward(y, c)


def gelu_pair():
    y, c = fused.gelu_forward(h32, "tanh")
    fused.gelu_backward(y, c, overwrite_dy=True)


def ce_pair():
    loss, c = fused.cross_entropy_forward(z32.copy(), targets.reshape(-1), overwrite_logits=True)
    fused.cross_entropy_backward(1.0, c)


def adamw_pair(opt=AdamW({k: v.copy() for k, v in gpt.params.items()}, lr=1e-3)):
    opt.step(grads_for_adamw)


_, grads_for_adamw = gpt.loss_and_grads(idx, targets)
per_step = {"LayerNorm S4": (layernorm_pair, 2 * Ls + 1), "GELU S5": (gelu_pair, Ls),
            "cross-entropy S2": (ce_pair, 1), "AdamW S9": (adamw_pair, 1)}
rows = {}
for name, (fn, count) in per_step.items():
    with K.use("numpy"):
        ref_ms = count * cpu_ms(fn)
    rows[name] = (ref_ms, count * cpu_ms(fn))
with K.use("numpy"):
    ref_step = cpu_ms(lambda: gpt.loss_and_grads(idx, targets), repeat=3)
fast_step = cpu_ms(lambda: gpt.loss_and_grads(idx, targets), repeat=3)
rows["whole step (loss and gradients)"] = (ref_step, fast_step)
print(f"{'per step, CPU ms':34s} {'v1 NumPy':>9s} {'v2 fused C':>11s}  speed-up")
for name, (a, b) in rows.items():
    print(f"{name:34s} {a:9.2f} {b:11.2f}  {a / b:6.1f}x")

# %% [markdown]
# AdamW gains little: it is bound by memory traffic (every parameter, gradient and moment is read
# and written once per step either way), and the reference streams close to that once its
# temporaries stay float32 (`math.sqrt` of the bias correction, not `np.sqrt`, which would make
# them float64). The whole step gains less than its parts because most of it is matmuls, which
# were already BLAS.
#
# The fused kernels keep less, too: LayerNorm's cache holds the row mean and $1/\sigma$ (one
# number per row) instead of $\hat x$ (a whole (B·T, C) copy), GELU keeps only its input and
# recomputes $\tanh$ in the backward, and the cross-entropy keeps one log-sum-exp per row and
# writes its backward into the logits' own buffer. Here is the LayerNorm forward, one row per
# OpenMP iteration: pass 1 the mean, pass 2 the variance, pass 3 the output (S4).

# %%
src = (REPO / "csrc" / "fused.c").read_text()
start = src.index("void FN(tl_layernorm_forward)")
print(src[start:src.index("/* In the forward pass this was y = gamma", start)])

# %% [markdown]
# **On AVX2.** The compiler vectorises these loops itself, `exp` included (`tl_expf` in
# `csrc/kernels_f32.c` is a polynomial, no libm call). With AVX-512 it does so as written. On an
# AVX2 CPU, which has no masked arithmetic, GCC gave up on every loop that calls `tl_expf`: its
# clamps are float comparisons, and under GCC's default `-ftrapping-math` it may not evaluate both
# sides of them. GELU, the cross-entropy and the softmaxes then ran one float at a time, 4–5×
# slower (measured on a Zen 3), and tinyllm's step took 1.2× PyTorch's there. `setup.py` compiles
# with `-fno-trapping-math -fno-math-errno`, which change no result (only whether floating-point
# exception flags and `errno` are set).

# %% [markdown]
# ### Two effects outside the arithmetic: memory churn and thread fights
#
# **Memory churn.** NumPy gets each large temporary from the operating system (`mmap`) and gives it
# back when it is freed, so every step touches fresh pages and takes one page fault per 4 KB page
# (or per huge page) — tens of thousands per step at the benchmark's M size. `tinyllm.runtime.
# keep_freed_memory()` tells glibc's allocator to keep freed memory, so the next step reuses the
# same pages: the allocator becomes the step's workspace. The CLI's `pretrain` calls it; below, two
# fresh processes count the page faults of their fourth training step with and without it.

# %%
probe = r"""
import sys, numpy as np
from tinyllm import runtime, GPT, GPTConfig
from tinyllm.ops.losses import causal_lm_targets
if sys.argv[1] == "keep":
    runtime.keep_freed_memory()
m = GPT(GPTConfig(vocab_size=2048, n_layer=2, n_head=4, d_model=128, max_len=128), seed=0)
idx = np.random.default_rng(0).integers(0, 2048, (8, 128))
for step in range(4):
    f0 = runtime.page_faults()
    m.loss_and_grads(idx, causal_lm_targets(idx))
print(runtime.page_faults() - f0)
"""
for mode in ("keep", "default"):
    res = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"))
    print(f"page faults in step 4 ({mode:7s} allocator): {res.stdout.strip() or res.stderr[-500:]}")

# %% [markdown]
# **Thread fights.** A step alternates BLAS matmuls (OpenBLAS's threads) with C kernels (OpenMP's
# threads) on the same cores. By default OpenBLAS's threads keep spinning for a while after each
# matmul, and an OpenMP kernel that starts meanwhile shares the cores with them. `tinyllm.runtime.
# configure_threads(n)` sets one count for both pools, lets BLAS threads sleep right after a call
# (`OPENBLAS_THREAD_TIMEOUT=4`) and OpenMP threads wait passively (`OMP_WAIT_POLICY=PASSIVE`).
# These are read when the libraries load, so the CLI and the benchmarks call it before importing
# NumPy; this notebook already imported NumPy, so we only print the policy it would add.
# One more rule lives in `tinyllm.kernels.fused`: a weight gradient $x^\top dy$ (a long inner
# dimension, a small result) runs on one BLAS thread (`runtime.serial_blas`) when $W$ is small or
# square, because OpenBLAS's two-thread version of those products was measured 10–90× slower on a
# busy machine; so does any product of at most $2^{26}$ multiply-adds (2–4× slower on two threads
# there). Other shapes, such as the tied head's, keep both threads.

# %%
from tinyllm import runtime

print("policy variables:", runtime.POLICY)

# %% [markdown]
# ### Against PyTorch
#
# `benchmarks/bench_train.py` copies the same weights into a minimal PyTorch GPT-2, checks that both
# give the same loss and gradients on the same batch, then times both train steps and forward
# passes interleaved, recording how busy the machine was with other work. Its table (from
# `benchmarks/train_results_t2.json`, written by the script; the ratio is tinyllm / PyTorch, below 1
# means tinyllm is faster):

# %%
import json

results_file = REPO / "benchmarks" / "train_results_t2.json"
if results_file.exists():
    bench = json.loads(results_file.read_text())
    print(f"{bench['meta']['date']} UTC, {bench['meta']['threads']} threads, load average at the start "
          f"{bench['meta']['loadavg_start']}")
    for r in bench["results"]:
        print(f"{r['config']}: step {r['ms']['tinyllm step']:7.0f} ms vs {r['ms']['torch step']:7.0f} ms "
              f"(ratio {r['ratio_step']:.2f}); forward ratio {r['ratio_forward']:.2f}; "
              f"foreign load {r['foreign_load_cores']['kept_median']:.2f} cores")
else:
    print("run python benchmarks/bench_train.py to produce", results_file.name)

# %% [markdown]
# ## What to take away
#
# - E3.2 and E3.3 can be computed without ever materialising $A$: tiles of keys, a running max and
#   sum, and one rescaling factor per tile (the online softmax of section 3).
# - The backward pass needs only the row log-sum-exp to recompute any weight, so training memory
#   grows as $T$ instead of $T^2$ per row.
# - Every fast version is checked against the three NumPy lines — in this chapter and, on random
#   shapes, in `tests/test_kernels.py`.
# - A training step is more than attention: fusing the element-wise ops (one pass per row instead
#   of one per NumPy expression), keeping freed memory and giving BLAS and OpenMP one thread policy
#   took tinyllm's step from about twice PyTorch eager's time to below it in the benchmark above
#   (section 6; `tests/test_fused.py` checks every fused kernel against its NumPy reference).
