"""Source of chapters/03a_self_attention.ipynb. Build: python chapters/_build.py chapters/src/03a_self_attention.py"""

# %% [markdown]
# # Chapter 3a — Self-attention, one equation at a time (§3.1 算法原理概述)
#
# Section 3.1 of the article packs the core of a Transformer language model into seven formulas:
# the projections (E3.1), the attention weights (E3.2), the attention output (E3.3), multi-head
# attention (E3.4, E3.5) and the two pre-training objectives (E3.6 autoregressive, E3.7 autoencoding).
# This chapter takes them one at a time. For each you get
#
# 1. the formula, tagged with its ID from `docs/EQUATIONS.md`,
# 2. the `tinyllm` function that computes it, with variables named after the article's symbols,
# 3. a check on numbers against an independent computation: a plain Python loop, or the bare definition.
#
# Every check is an `assert`: if the library ever drifts away from the formulas, this notebook stops.
# On the way we derive the backward pass of attention by hand and verify it with finite
# differences, draw attention weights as a heat map, and look at the masks (S3) that make a decoder causal.

# %%
from tinyllm.runtime import configure_threads

configure_threads()   # BLAS and OpenMP threads chosen on purpose: 1, or OMP_NUM_THREADS (tinyllm.runtime)

import math

import matplotlib.pyplot as plt
import numpy as np

from tinyllm import ops
from tinyllm.gradcheck import check_op

rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True)


def softmax_rows(S):
    """A plain row softmax, written out here so the checks do not reuse tinyllm's own."""
    e = np.exp(S - S.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

# %% [markdown]
# ## The input $X$
#
# Self-attention starts from a matrix $X$ with one row per token. We use a six-word sentence, give
# each distinct word a random vector of width $C = 8$ (an embedding, S8, covered in chapter 4), and
# stack the rows. The word "the" occurs twice, so rows 0 and 4 of $X$ are equal.

# %%
words = "the cat sat on the mat".split()
vocab = sorted(set(words))                               # ['cat', 'mat', 'on', 'sat', 'the']
ids = np.array([vocab.index(w) for w in words])          # (T,)
T, C = len(words), 8
E = rng.standard_normal((len(vocab), C))                 # (V, C) embedding table
X, _ = ops.embedding_forward(ids, E)                     # (T, C)
assert X.shape == (T, C) and np.array_equal(X[0], X[4])
print(ids, X.shape)

# %% [markdown]
# ## E3.1 — queries, keys and values
#
# $$Q = XW^Q,\qquad K = XW^K,\qquad V = XW^V \qquad\text{(E3.1, §3.1)}$$
#
# Three learned matrices map every row of $X$ to three new vectors: a **query** (what this token is
# looking for), a **key** (what it can be found by) and a **value** (what it hands over once found).
# The same matrices are used at every position, so equal tokens get equal queries, keys and values.
#
# With a single head the width $d$ of a query equals $C$; the article calls $d$ the embedding size.
# With several heads (E3.5) $d$ becomes the width of one head.

# %%
d = C
W_Q, W_K, W_V = (rng.standard_normal((C, d)) / math.sqrt(C) for _ in range(3))   # (C, d) each
Q, _ = ops.linear_forward(X, W_Q)                        # (T, d)   E3.1
K, _ = ops.linear_forward(X, W_K)                        # (T, d)
V, _ = ops.linear_forward(X, W_V)                        # (T, d)

# check: Q[t, j] is the dot product of token t's row with column j of W^Q
Q_loop = np.zeros((T, d))
for t in range(T):
    for j in range(d):
        Q_loop[t, j] = sum(X[t, c] * W_Q[c, j] for c in range(C))
assert np.allclose(Q, Q_loop)
assert np.allclose(Q[0], Q[4]) and np.allclose(K[0], K[4])   # shared weights: same word, same query
print("Q:", Q.shape, " K:", K.shape, " V:", V.shape)

# %% [markdown]
# ## E3.2 — attention weights
#
# $$A = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt d}\right) \qquad\text{(E3.2, §3.1)}$$
#
# Entry $(i, j)$ of $QK^\top$ is the dot product of query $i$ with key $j$: a similarity score.
# The softmax (S1) runs along each row and turns the scores into positive weights that sum to 1,
# so row $i$ of $A$ is a probability distribution over the positions that token $i$ attends to.
#
# `tinyllm` works on batches of heads, arrays shaped `(B, H, T, d)`, so we add two axes of size 1.

# %%
q, k, v = (M[None, None] for M in (Q, K, V))             # (1, 1, T, d): batch B = 1, heads H = 1
A, _ = ops.matmul_softmax_forward(q, k)                  # (1, 1, T, T)   E3.2
A = A[0, 0]                                              # (T, T)

# check against the definition, one entry at a time
A_loop = np.zeros((T, T))
for i in range(T):
    s = [sum(Q[i, c] * K[j, c] for c in range(d)) / math.sqrt(d) for j in range(T)]
    e = [math.exp(s_j) for s_j in s]
    A_loop[i] = [e_j / sum(e) for e_j in e]
assert np.allclose(A, A_loop)
assert np.allclose(A.sum(axis=1), 1.0) and (A > 0).all()
print(A)

# %% [markdown]
# ### Why divide by $\sqrt d$?
#
# If the entries of a query and a key are independent with variance 1, their dot product is a sum
# of $d$ such products and has variance $d$. Without the scale, wide heads would produce huge
# scores, the softmax would put almost all weight on one key, and its gradient would vanish.
# Dividing by $\sqrt d$ brings the variance back to about 1 whatever the width.

# %%
for width in (4, 64, 512):
    qs, ks = rng.standard_normal((2, 20000, width))      # 20000 random query/key pairs
    dots = (qs * ks).sum(axis=1)                         # (20000,)
    print(f"d = {width:3d}: var(q.k) = {dots.var():7.1f}   var(q.k / sqrt d) = {(dots / math.sqrt(width)).var():.3f}")
    assert 0.9 < (dots / math.sqrt(width)).var() < 1.1

# %% [markdown]
# ## E3.3 — the attention output
#
# $$\mathrm{Attention}(Q,K,V) = AV \qquad\text{(E3.3, §3.1)}$$
#
# Row $i$ of the output is a weighted average of the value rows, weighted by row $i$ of $A$: each
# token collects information from the tokens it attends to. `ops.attention_forward` computes E3.2
# and E3.3 together and keeps $A$ in its cache for the backward pass.

# %%
out, att_cache = ops.attention_forward(q, k, v)          # (1, 1, T, d)   E3.2 + E3.3
out = out[0, 0]                                          # (T, d)

out_loop = np.zeros((T, d))
for i in range(T):
    for j in range(T):
        out_loop[i] += A_loop[i, j] * V[j]               # weighted average of the value rows
assert np.allclose(out, out_loop)
assert np.allclose(att_cache["A"][0, 0], A)
# a weighted average never leaves the range of what it averages
assert (out.min(axis=0) >= V.min(axis=0) - 1e-12).all() and (out.max(axis=0) <= V.max(axis=0) + 1e-12).all()
print(out)

# %% [markdown]
# ## Masks (S3): no peeking at the future, no attending to padding
#
# A decoder such as GPT is trained with E3.6: predict each token from the ones before it. If token
# $i$ could attend to token $i+1$, the answer would be in plain sight. The **causal mask** sets
#
# $$s_{ij} = -\infty \quad\text{for } j > i \qquad\text{(S3)}$$
#
# before the softmax. Since $e^{-\infty} = 0$ those weights are exactly zero, and the remaining
# weights of the row are renormalised. A **key mask** does the same for padding: when sentences of
# different lengths share a batch, the filler positions are hidden from every query.

# %%
out_c, cache_c = ops.attention_forward(q, k, v, causal=True)
A_c = cache_c["A"][0, 0]                                 # (T, T), lower triangular
assert np.all(np.triu(A_c, k=1) == 0)                    # no weight on later tokens
assert np.allclose(A_c.sum(axis=1), 1.0)
assert np.allclose(out_c[0, 0, 0], V[0])                 # token 0 can only see itself

# the same by hand: -inf above the diagonal, then a row softmax
S = Q @ K.T / math.sqrt(d)                               # (T, T) scores
S_masked = np.where(np.tril(np.ones((T, T), dtype=bool)), S, -np.inf)
assert np.allclose(A_c, softmax_rows(S_masked))

# causality: the outputs of the first t tokens do not depend on anything after them
t = 3
out_prefix, _ = ops.attention_forward(q[:, :, :t], k[:, :, :t], v[:, :, :t], causal=True)
assert np.allclose(out_prefix, out_c[:, :, :t])
print(A_c)

# %% [markdown]
# ### A row with nothing to look at
#
# If a query sees no key at all (a sequence made only of padding, say), every score in its row is
# $-\infty$ and the textbook softmax computes $0/0$ = NaN. One NaN spreads through the backward
# pass into every parameter. `tinyllm` defines such a row to have weights 0, output 0 and zero
# gradients.

# %%
row = np.full(4, -np.inf)
with np.errstate(invalid="ignore"):
    naive = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
assert np.isnan(naive).all()                             # the formula as written breaks

key_mask = np.array([[True, True, True, False, False, False],     # sentence 1: 3 real tokens + padding
                     [False] * T])                                  # sentence 2: nothing visible
q2, k2, v2 = (np.concatenate([M, M]) for M in (q, k, v))           # (2, 1, T, d)
out_m, cache_m = ops.attention_forward(q2, k2, v2, key_mask=key_mask)
A_m = cache_m["A"]                                                  # (2, 1, T, T)
assert np.all(A_m[0, 0, :, 3:] == 0) and np.allclose(A_m[0, 0].sum(axis=-1), 1.0)   # padding hidden
assert np.all(A_m[1] == 0) and np.all(out_m[1] == 0)                                 # zeros, not NaN
dq, dk, dv = ops.attention_backward(np.ones_like(out_m), cache_m)
assert all(np.all(g[1] == 0) and not np.isnan(g).any() for g in (dq, dk, dv))
print("fully masked row:", A_m[1, 0, 0], "output:", out_m[1, 0, 0])

# %% [markdown]
# ## A heat map of $A$
#
# Random projections give random-looking weights, so for the picture we build a head with an
# obvious job: $W^Q = W^K = I$, so the score of query $i$ and key $j$ is the similarity of the two
# words' embeddings. Every word attends most to copies of itself, and the second "the" splits its
# weight evenly between both occurrences. With the causal mask (right) the upper triangle is
# empty, and the first "the" cannot see the second.

# %%
I = np.eye(C)                                            # W^Q = W^K = I
qm = km = (X @ I)[None, None]                            # (1, 1, T, C): Q = K = X
_, heat_full = ops.attention_forward(qm, km, v, causal=False)
_, heat_causal = ops.attention_forward(qm, km, v, causal=True)
A_full, A_causal = heat_full["A"][0, 0], heat_causal["A"][0, 0]

assert np.isclose(A_full[4, 0], A_full[4, 4])            # both "the" keys look the same
assert all(words[A_full[i].argmax()] == words[i] for i in range(T))   # each word finds itself
assert np.all(np.triu(A_causal, k=1) == 0) and A_causal[0, 0] == 1.0

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, M, title in [(axes[0], A_full, "no mask"), (axes[1], A_causal, "causal mask (S3)")]:
    im = ax.imshow(M, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T), words)
    ax.set_yticks(range(T), words)
    ax.set_xlabel("key j (attended to)")
    ax.set_title(f"A, {title}")
axes[0].set_ylabel("query i")
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# ## The backward pass of attention
#
# Training needs the gradient of the loss with respect to $Q$, $K$ and $V$. Write the forward pass
# of one head as three steps, then walk them in reverse. Let $dM$ denote $\partial L/\partial M$.
#
# **Forward:** $\;S = QK^\top/\sqrt d,\quad A = \mathrm{softmax}(S)\ \text{(each row)},\quad O = AV.$
#
# **Backward**, given $dO$:
#
# 1. $O = AV$ is a matrix product, so $dA = dO\,V^\top$ and $dV = A^\top dO$.
# 2. Each row $a$ of $A$ is the softmax of the row $s$ of $S$, whose Jacobian is
#    $\partial a_j/\partial s_k = a_j(\delta_{jk} - a_k)$ (derived in chapter 4, S1). Hence
#    $$dS_{ij} = A_{ij}\Big(dA_{ij} - \sum_k A_{ik}\, dA_{ik}\Big).$$
# 3. $S = QK^\top/\sqrt d$ is again a product: $dQ = dS\,K/\sqrt d$ and $dK = dS^\top Q/\sqrt d$.
#
# A masked entry has $A_{ij} = 0$, so step 2 makes $dS_{ij} = 0$: no gradient flows through a mask.
#
# First the derivation in NumPy, five lines, compared with `ops.attention_backward`:

# %%
dO = rng.standard_normal((T, d))                         # upstream gradient dL/dO, (T, d)
dA = dO @ V.T                                            # (T, T)   step 1
dV = A.T @ dO                                            # (T, d)
dS = A * (dA - (A * dA).sum(axis=1, keepdims=True))      # (T, T)   step 2 (S1)
dQ = dS @ K / math.sqrt(d)                               # (T, d)   step 3
dK = dS.T @ Q / math.sqrt(d)                             # (T, d)

dq, dk, dv = ops.attention_backward(dO[None, None], att_cache)
for mine, lib in [(dQ, dq), (dK, dk), (dV, dv)]:
    assert np.allclose(mine, lib[0, 0])
assert np.allclose(dS.sum(axis=1), 0.0)                  # each row of dS sums to 0 (see chapter 4)
print("the hand-derived backward equals ops.attention_backward")

# %% [markdown]
# ### Gradient check
#
# Now against central differences, $\partial f/\partial x_i \approx (f(x + \epsilon e_i) - f(x - \epsilon e_i))/2\epsilon$
# with $\epsilon = 10^{-6}$ in float64, on a batch of 2 sequences with 3 heads, 5 tokens and head
# width 4, with and without masks (the key mask below also has a fully masked sequence).
# `check_op` turns the output into a scalar with a random projection and reports the norm-wise
# relative error $\lVert g_\text{analytic} - g_\text{numeric}\rVert / \max(\lVert\cdot\rVert, \lVert\cdot\rVert)$.
# A correct backward gives about $10^{-9}$; we require **less than $10^{-7}$**. A wrong one is off by order 1.

# %%
TOL = 1e-7
settings = {"no mask": {}, "causal": {"causal": True},
            "key mask": {"key_mask": np.array([[True, True, True, False, True], [False] * 5])}}
for name, kwargs in settings.items():
    inputs = {n: rng.standard_normal((2, 3, 5, 4)) for n in ("q", "k", "v")}    # (B, H, T, d) float64
    errors = check_op(ops.attention_forward, ops.attention_backward, inputs, ["q", "k", "v"], **kwargs)
    print(f"{name:9s}", "  ".join(f"d{n}: {e:.1e}" for n, e in errors.items()))
    assert max(errors.values()) < TOL

# %% [markdown]
# ## E3.4 and E3.5 — several heads
#
# $$\mathrm{MultiHead}(Q,K,V) = \mathrm{Concat}(\mathrm{head}_1,\ldots,\mathrm{head}_h)\,W^O \qquad\text{(E3.4, §3.1)}$$
# $$\mathrm{head}_i = \mathrm{Attention}(QW_i^Q,\ KW_i^K,\ VW_i^V) \qquad\text{(E3.5, §3.1)}$$
#
# In self-attention the $Q$, $K$, $V$ inside these two formulas are all the input $X$ (the
# article reuses the letters). Head $i$ has its own projections $W_i^Q, W_i^K, W_i^V$, each of
# shape $(C, D)$ with $D = C/h$, so every head compares tokens in its own $D$-dimensional
# subspace; $d$ in E3.2 is now $D$. The $h$ outputs, $(T, D)$ each, are laid side by side into
# $(T, C)$ and mixed by $W^O$ of shape $(C, C)$.
#
# The usual implementation never builds the small matrices. Putting the $h$ matrices $W_i^Q$ side
# by side gives one $(C, C)$ matrix $W^Q$; one product $XW^Q$ followed by cutting the columns into
# $h$ blocks of width $D$ (`split_heads`) yields every head's queries at once. The cell below
# computes the heads the article's way, one small projection per head, and compares.

# %%
h = 2
D = C // h                                               # width of one head
W = {n: rng.standard_normal((C, C)) / math.sqrt(C) for n in ("W_Q", "W_K", "W_V", "W_O")}   # (C, C)
b = {n: np.zeros(C) for n in ("b_Q", "b_K", "b_V", "b_O")}
y, mha_cache = ops.multihead_attention_forward(X[None], **W, **b, n_head=h)   # (1, T, C)   E3.4

heads = []
for i in range(h):
    cols = slice(i * D, (i + 1) * D)                     # head i owns columns [iD, (i+1)D)
    W_Qi, W_Ki, W_Vi = W["W_Q"][:, cols], W["W_K"][:, cols], W["W_V"][:, cols]   # (C, D) each
    Qi, Ki, Vi = X @ W_Qi, X @ W_Ki, X @ W_Vi            # (T, D)
    heads.append(softmax_rows(Qi @ Ki.T / math.sqrt(D)) @ Vi)   # head_i, (T, D)   E3.5
concat = np.concatenate(heads, axis=1)                   # (T, C)   Concat(head_1, ..., head_h)
assert np.allclose(y[0], concat @ W["W_O"])              # E3.4

# the split itself: block i of X W^Q is X W_i^Q
Q_all = X[None] @ W["W_Q"]                               # (1, T, C)
for i in range(h):
    assert np.allclose(ops.split_heads(Q_all, h)[0, i], X @ W["W_Q"][:, i * D:(i + 1) * D])
assert np.allclose(ops.merge_heads(ops.split_heads(Q_all, h)), Q_all)
print("one (C, C) projection + split == h separate (C, D) projections; y:", y.shape)

# %% [markdown]
# Multi-head attention's backward (`ops.multihead_attention_backward`) is the attention backward
# above inside the chain rule of the projections; the same gradient check confirms it for the
# input and all four weight matrices. (The gradient of the key bias $b^K$ is exactly zero, a
# curiosity worked out in chapter 4.)

# %%
inputs = {"x": rng.standard_normal((2, 5, C))}
inputs.update({n: rng.standard_normal((C, C)) / math.sqrt(C) for n in ("W_Q", "W_K", "W_V", "W_O")})
inputs.update({n: rng.standard_normal(C) for n in ("b_Q", "b_K", "b_V", "b_O")})
errors = check_op(ops.multihead_attention_forward, ops.multihead_attention_backward, inputs,
                  ["x", "W_Q", "W_K", "W_V", "W_O", "b_Q", "b_V", "b_O"], n_head=h, causal=True)
print("  ".join(f"d{n}: {e:.1e}" for n, e in errors.items()))
assert max(errors.values()) < TOL

# %% [markdown]
# ## E3.6 — the autoregressive objective (GPT)
#
# $$L(\theta) = -\sum_{i=1}^{n} \log P(x_i \mid x_{<i};\theta) \qquad\text{(E3.6, §3.1)}$$
#
# A decoder reads the whole sequence at once, with the causal mask (S3) in every attention layer.
# Its output at position $t$ has seen $x_1,\ldots,x_t$ only, so it can serve as the distribution
# of the next token $x_{t+1}$: one forward pass yields every factor of the sum. The targets are the
# inputs shifted left by one (`ops.causal_lm_targets`); the last position has nothing to predict
# and is marked -100 (ignored), and the first token, which has no context, is not predicted.
# `tinyllm` reports the **mean** over the $n-1$ predicted tokens (the scale optimisers like); the
# article's sum is that mean times $n-1$.
#
# Below, a tiny random GPT (2 layers, 2 heads, width 16, vocabulary of 11) computes it.

# %%
from tinyllm import GPT, GPTConfig
from tinyllm.gradcheck import check_model

n_vocab = 11
gpt = GPT(GPTConfig(vocab_size=n_vocab, n_layer=2, n_head=2, d_model=16, max_len=8, dropout=0.0),
          seed=0, dtype=np.float64)
x = np.array([[1, 4, 2, 9, 3, 7]])                       # (B, n) = (1, 6) token ids
n = x.shape[1]
logits = gpt.forward(x)                                  # (1, n, V): logits[0, t] scores token t + 1
targets = ops.causal_lm_targets(x)                       # (1, n): x shifted left, last = -100
L_mean, _ = ops.causal_lm_loss_forward(logits, x)        # E3.6 as a mean over n - 1 tokens

# the article's sum by hand (0-based: token t is predicted from the output at t - 1)
L_sum = -sum(math.log(softmax_rows(logits[0, t - 1])[x[0, t]]) for t in range(1, n))
assert math.isclose(L_mean * (n - 1), L_sum, rel_tol=1e-12)
loss, grads = gpt.loss_and_grads(x, targets)
assert math.isclose(loss, L_mean, rel_tol=1e-12)

# causality: changing the last token changes no earlier prediction
x_changed = x.copy()
x_changed[0, -1] = 0
assert np.allclose(gpt.forward(x_changed)[0, :-1], logits[0, :-1])
print("targets:", targets[0], f"  L = {L_sum:.4f} (sum of {n - 1} terms), mean {L_mean:.4f}")

# %% [markdown]
# Training follows the gradient of E3.6 with respect to every parameter. `check_model` compares
# the model's hand-written backward pass with central differences on a few entries of each
# parameter tensor (same tolerance as above, $10^{-7}$).

# %%
errors = check_model(lambda: gpt.loss_and_grads(x, targets), gpt.params, n_samples=3)
print(f"{len(errors)} parameter tensors, largest relative error {max(errors.values()):.1e}")
assert max(errors.values()) < TOL

# %% [markdown]
# ## E3.7 — the autoencoding objective (BERT)
#
# $$L(\theta) = -\sum_{i=1}^{n} \log P(x_i \mid x_{\setminus i};\theta) \qquad\text{(E3.7, §3.1)}$$
#
# An encoder such as BERT attends in both directions, so every position sees every token, its own
# included; it cannot simply be asked to predict what it can see. Instead some positions are
# corrupted, here replaced by a `[MASK]` token (S10 gives the full corruption recipe), and the model
# predicts the original tokens from everything else, $x_{\setminus i}$. The sum runs over the
# masked positions only: the labels hold the original token there and -100 everywhere else.

# %%
from tinyllm import BERT, BERTConfig

bert = BERT(BERTConfig(vocab_size=n_vocab, n_layer=2, n_head=2, d_model=16, max_len=8,
                       type_vocab_size=2, dropout=0.0), seed=0, dtype=np.float64)
MASK = 10                                                # the id we reserve for [MASK] in this toy vocabulary
masked = [1, 4]                                          # positions to hide
x_in = x.copy()
x_in[0, masked] = MASK                                   # the corrupted input
labels = np.full_like(x, -100)
labels[0, masked] = x[0, masked]                         # (1, n): targets only where masked
logits_b = bert.forward(x_in)                            # (1, n, V)
L_mean, _ = ops.masked_lm_loss_forward(logits_b, labels) # E3.7 as a mean over masked tokens

L_sum = -sum(math.log(softmax_rows(logits_b[0, i])[x[0, i]]) for i in masked)
assert math.isclose(L_mean * len(masked), L_sum, rel_tol=1e-12)
assert math.isclose(bert.loss_and_grads(x_in, labels)[0], L_mean, rel_tol=1e-12)

# both directions: the prediction at position 1 depends on the token at the end
x_in_changed = x_in.copy()
x_in_changed[0, -1] = 0
assert not np.allclose(bert.forward(x_in_changed)[0, 1], logits_b[0, 1])
print("labels:", labels[0], f"  L = {L_sum:.4f} (sum over {len(masked)} masked tokens)")

errors = check_model(lambda: bert.loss_and_grads(x_in, labels), bert.params, n_samples=3)
print(f"{len(errors)} parameter tensors, largest relative error {max(errors.values()):.1e}")
assert max(errors.values()) < TOL

# %% [markdown]
# ## Summary
#
# | ID | formula | computed by |
# |---|---|---|
# | E3.1 | $Q = XW^Q,\ K = XW^K,\ V = XW^V$ | `ops.linear_forward` (inside `ops.multihead_attention_forward`) |
# | E3.2 | $A = \mathrm{softmax}(QK^\top/\sqrt d)$ | `ops.matmul_softmax_forward` |
# | E3.3 | $\mathrm{Attention}(Q,K,V) = AV$ | `ops.attention_forward` |
# | E3.4 | $\mathrm{Concat}(\mathrm{head}_1..\mathrm{head}_h)W^O$ | `ops.multihead_attention_forward`, `ops.merge_heads` |
# | E3.5 | $\mathrm{head}_i = \mathrm{Attention}(QW_i^Q, KW_i^K, VW_i^V)$ | `ops.split_heads` + `ops.attention_forward` |
# | S3 | causal and padding masks | `causal=`, `key_mask=` of the attention ops |
# | E3.6 | $-\sum_i \log P(x_i\mid x_{<i})$ | `ops.causal_lm_loss_forward`, `GPT.loss_and_grads` |
# | E3.7 | $-\sum_{i\ \text{masked}} \log P(x_i\mid x_{\setminus i})$ | `ops.masked_lm_loss_forward`, `BERT.loss_and_grads` |
#
# Chapter 4 goes one level down: where the losses come from (maximum likelihood, E4.1) and the
# pieces around attention (softmax, LayerNorm, GELU, the feed-forward network, residuals, embeddings).
