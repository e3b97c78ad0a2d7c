"""Source of chapters/04_math_model.ipynb. Build: python chapters/_build.py chapters/src/04_math_model.py"""

# %% [markdown]
# # Chapter 4 — The mathematical model (§4 数学模型和公式 & 详细讲解 & 举例说明)
#
# Section 4.1 of the article states what a language model is trained to do: make the training
# corpus as probable as possible (E4.1). This chapter first makes that statement concrete with a toy
# corpus small enough to solve by counting, and follows it from a product of probabilities to the
# cross-entropy and perplexity that training logs report.
#
# The article then names the Transformer as the model that supplies the probabilities, without
# writing out the parts a working implementation needs. `docs/EQUATIONS.md` lists them as S1–S8, and
# the second half of the chapter goes through each one: the formula, the backward pass derived by
# hand, and a check against central differences. Every number is checked by an `assert`.
#
# | ID | what | section below |
# |---|---|---|
# | E4.1 | maximum likelihood over a corpus | 1 |
# | S2 | cross-entropy and perplexity | 2 |
# | S1 | softmax and its backward | 3 |
# | S3 | the causal mask that makes E4.1's factors computable in one pass | 4 |
# | S4 | LayerNorm and its backward | 5 |
# | — | attention backward, and the key bias whose gradient is exactly zero | 6 |
# | S5, S6 | GELU and the feed-forward network | 7, 8 |
# | S7 | pre-LN and post-LN residual blocks | 9 |
# | S8 | embeddings, their backward, tied output weights | 10 |

# %%
from tinyllm.runtime import configure_threads

configure_threads()   # BLAS and OpenMP threads chosen on purpose: 1, or OMP_NUM_THREADS (tinyllm.runtime)

import math

import matplotlib.pyplot as plt
import numpy as np

from tinyllm import ops
from tinyllm.gradcheck import check_op, numerical_grad, rel_error

rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)
TOL = 1e-7          # gradient checks: float64, eps = 1e-6, norm-wise relative error below this

# %% [markdown]
# ## 1. E4.1 — maximum likelihood over a corpus
#
# $$\theta^* = \arg\max_\theta \prod_{i=1}^{n} P(x^{(i)};\theta) = \arg\max_\theta \prod_{i=1}^{n}\prod_{j=1}^{l_i} P\big(x^{(i)}_j \mid x^{(i)}_{<j};\theta\big) \qquad\text{(E4.1, §4.1)}$$
#
# The corpus holds $n$ documents; document $i$ is a sequence of $l_i$ tokens. The first product
# says: choose the parameters under which the whole corpus is most probable (documents treated as
# independent). The second equality is the chain rule of probability, which holds for any
# distribution: the probability of a sequence is the product of each token's probability given the
# tokens before it. So a model only needs to supply next-token distributions, which is exactly what
# a causal Transformer does (E3.6).
#
# Three rewrites turn E4.1 into what training actually minimises:
#
# 1. take logs: $\log$ is increasing, so the maximiser is unchanged, and the product becomes a sum;
# 2. flip the sign: maximising the log-likelihood = minimising the negative log-likelihood (NLL);
# 3. divide by the number of tokens $N = \sum_i l_i$: the maximiser is again unchanged, and the
#    result is the mean NLL per token, the **cross-entropy** (S2). Its exponential is the **perplexity**.
#
# Step 1 is not only convenient. A product of many probabilities underflows to exactly 0 in
# floating point, while the sum of their logs is an ordinary number:

# %%
N_tok, V_big = 500, 1000
probs = np.full(N_tok, 1.0 / V_big)                      # a uniform model over 1000 tokens, 500 tokens long
product = np.prod(probs)                                 # 1e-1500: far below the smallest float64
log_sum = np.sum(np.log(probs))
assert product == 0.0 and np.isfinite(log_sum)
assert math.isclose(log_sum, -N_tok * math.log(V_big))
print(f"product = {product},  sum of logs = {log_sum:.2f}")

# %% [markdown]
# ### A corpus small enough to solve by hand
#
# Four sentences, each wrapped in a start marker `<s>` and an end marker `</s>` (so that the model
# also learns where sentences stop). A **unigram** model ignores the context,
# $P(x_j \mid x_{<j}) = p_{x_j}$; a **bigram** model looks at the previous token only,
# $P(x_j \mid x_{<j}) = p_{x_{j-1}, x_j}$. Both are special cases of E4.1's factorisation.

# %%
corpus = ["the cat sat on the mat", "the dog sat on the log", "the cat saw the dog", "a dog saw a cat"]
docs = [["<s>"] + line.split() + ["</s>"] for line in corpus]
vocab = sorted({w for doc in docs for w in doc})
V = len(vocab)
prev = np.array([vocab.index(w) for doc in docs for w in doc[:-1]])   # (N,) context token
nxt = np.array([vocab.index(w) for doc in docs for w in doc[1:]])     # (N,) token to predict
N = len(nxt)                                                           # tokens predicted (<s> is given)
print(f"V = {V} words, N = {N} predicted tokens:", vocab)

# %% [markdown]
# ### Unigram: the maximum-likelihood estimate is the relative frequency
#
# With $c_w$ the number of times word $w$ occurs, the log-likelihood is $\sum_w c_w \log p_w$.
# Maximising it subject to $\sum_w p_w = 1$ (a Lagrange multiplier does it in two lines) gives
# $p_w = c_w / N$: **counting is maximum likelihood**. We check this twice: no random
# distribution does better, and gradient descent on the cross-entropy, starting from uniform,
# ends at the counts.

# %%
counts = np.bincount(nxt, minlength=V)                   # (V,) c_w
p_mle = counts / N                                       # (V,) relative frequencies


def unigram_loglik(p):
    """The log of E4.1's product for a unigram model: sum_j log p[x_j]."""
    return float(np.sum(np.log(p[nxt])))


best = unigram_loglik(p_mle)
for _ in range(200):
    p_other = rng.dirichlet(np.ones(V))                  # a random distribution
    p_near = 0.9 * p_mle + 0.1 * p_other                 # and one close to the counts
    assert unigram_loglik(p_other) < best and unigram_loglik(p_near) < best
print(f"log-likelihood at the counts: {best:.4f}; 400 other distributions all score lower")

# %% [markdown]
# Now the way a neural network gets there. Parameterise the model by logits $\theta \in \mathbb{R}^V$
# with $p = \mathrm{softmax}(\theta)$ (S1) and run gradient descent on the mean NLL, computed by
# `ops.cross_entropy_forward` (S2). Its gradient with respect to $\theta$ is
# $\mathrm{softmax}(\theta) - \text{(frequencies)}$, which vanishes exactly at the counts.

# %%
# <s> is never predicted (it is given), so its maximum-likelihood probability is 0: logit -inf.
# Gradient descent would only creep towards -inf, so we fix it there and start the rest uniform.
theta = np.where(counts > 0, 0.0, -np.inf)               # (V,) logits
for step in range(500):
    logits = np.broadcast_to(theta, (N, V))              # (N, V): the same prediction at every position
    loss, ce_cache = ops.cross_entropy_forward(logits, nxt)
    theta -= 5.0 * ops.cross_entropy_backward(1.0, ce_cache).sum(axis=0)
p_learned, _ = ops.softmax_forward(theta)
assert np.allclose(p_learned, p_mle, atol=1e-6)
assert math.isclose(loss, -best / N, rel_tol=1e-9)       # mean NLL = -(log-likelihood) / N
print("learned:", p_learned.round(4))
print("counts: ", p_mle.round(4))

# %% [markdown]
# ### Bigram: counting again, and the chain rule
#
# For the bigram model the same argument works row by row: $p_{a,b} = c_{a,b} / c_a$, the number
# of times $b$ follows $a$ divided by the number of times $a$ is a context. As a neural model this
# is a $(V, V)$ table of logits $W$ with $\text{logits}_j = W[x_{j-1}]$, an embedding lookup (S8).
# At $W = \log p$ the gradient of the mean NLL is zero (unseen pairs get logit $-\infty$,
# probability 0), and the log-likelihood is concave in the logits, so that zero gradient marks the
# maximum. The log-probability of each sentence is the sum of its factors (E4.1's inner product),
# which `ops.sequence_log_likelihood` computes.

# %%
pair_counts = np.zeros((V, V))
np.add.at(pair_counts, (prev, nxt), 1)                   # (V, V) c_ab
context_counts = pair_counts.sum(axis=1, keepdims=True)  # (V, 1) c_a
P_bigram = pair_counts / np.maximum(context_counts, 1)   # (V, V) row a = P(. | a)
with np.errstate(divide="ignore"):
    W = np.log(P_bigram)                                 # logits; -inf where a pair never occurs

logits, emb_cache = ops.embedding_forward(prev, W)       # (N, V)
nll, ce_cache = ops.cross_entropy_forward(logits, nxt)
dW = ops.embedding_backward(ops.cross_entropy_backward(1.0, ce_cache), emb_cache)   # (V, V)
assert np.abs(dW).max() < 1e-15                          # stationary: the counts are the MLE

# E4.1's inner product for sentence 0, by hand and with the library
sent = [vocab.index(w) for w in docs[0]]
by_hand = sum(math.log(P_bigram[a, b]) for a, b in zip(sent[:-1], sent[1:]))
ctx, tgt = np.array(sent[:-1]), np.array(sent[1:])
lib = ops.sequence_log_likelihood(W[ctx][None], tgt[None])[0]
assert math.isclose(by_hand, lib, rel_tol=1e-12)
print(f"P('{corpus[0]}') = exp({by_hand:.3f}) = {math.exp(by_hand):.4f}")

# %% [markdown]
# ### From likelihood to perplexity
#
# Cross-entropy (mean NLL) and perplexity for three models of the same corpus. A model that spreads
# its probability evenly over $V$ words has perplexity exactly $V$; the unigram model knows which
# words are common; the bigram model also knows which words follow which, and is far less surprised.

# %%
ce_uniform = math.log(V)
ce_unigram = -unigram_loglik(p_mle) / N
ce_bigram = float(nll)
for name, ce in [("uniform", ce_uniform), ("unigram", ce_unigram), ("bigram", ce_bigram)]:
    print(f"{name:8s} cross-entropy {ce:.4f} nats/token   perplexity {ops.perplexity(ce):6.3f}")
assert math.isclose(ops.perplexity(ce_uniform), V)
assert ops.perplexity(ce_bigram) < ops.perplexity(ce_unigram) < V

# %% [markdown]
# ## 2. S2 — cross-entropy and perplexity
#
# For one position with logits $z \in \mathbb{R}^V$ and correct token $y$:
#
# $$\ell = -\log \mathrm{softmax}(z)_y = \log\sum_k e^{z_k} - z_y, \qquad
# \frac{\partial \ell}{\partial z} = \mathrm{softmax}(z) - \mathrm{onehot}(y) \qquad\text{(S2)}$$
#
# The gradient pushes probability towards the right token and away from all others, in proportion
# to how much each already has. The cross-entropy is the mean of $\ell$ over the predicted
# positions (positions labelled -100 are skipped, which E3.6 and E3.7 rely on), and
#
# $$\text{perplexity} = \exp(\text{mean NLL}).$$
#
# A perplexity of $k$ means the model is, on average, as unsure as if it picked uniformly among
# $k$ tokens: 1 is a perfect model, $V$ a model that knows nothing.

# %%
z = rng.standard_normal((6, 5))                          # (positions, V) logits
y = np.array([0, 3, -100, 1, 4, -100])                   # two positions ignored
loss, ce_cache = ops.cross_entropy_forward(z, y)
keep = y != -100
p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)     # plain softmax, for the check
manual = -np.mean(np.log(p[keep, y[keep]]))
assert math.isclose(loss, manual, rel_tol=1e-12)

dz = ops.cross_entropy_backward(1.0, ce_cache)           # (6, 5)
expected = np.zeros_like(z)
expected[keep] = (p[keep] - np.eye(5)[y[keep]]) / keep.sum()
assert np.allclose(dz, expected) and np.all(dz[~keep] == 0)

errors = check_op(ops.cross_entropy_forward, ops.cross_entropy_backward,
                  {"logits": z, "targets": y}, ["logits"])
print(f"loss {loss:.4f}, perplexity {ops.perplexity(loss):.3f}, gradient check {errors['logits']:.1e}")
assert errors["logits"] < TOL

# perplexity at the two extremes
assert math.isclose(ops.perplexity(ops.cross_entropy_forward(np.zeros((3, 7)), np.array([1, 2, 3]))[0]), 7)
assert ops.perplexity(ops.cross_entropy_forward(np.diag([50.0] * 3), np.array([0, 1, 2]))[0]) < 1 + 1e-12

# %% [markdown]
# ## 3. S1 — softmax, the stable way, and its backward
#
# $$\mathrm{softmax}(z)_i = \frac{e^{z_i - \max z}}{\sum_j e^{z_j - \max z}} \qquad\text{(S1)}$$
#
# Subtracting $\max z$ does not change the result, because numerator and denominator are both
# multiplied by $e^{-\max z}$; the same holds for any constant (**shift invariance**). It does
# prevent overflow: $e^{1000}$ is infinite in float64.
#
# **Backward.** Write $y = \mathrm{softmax}(z)$. Differentiating $y_i = e^{z_i}/\sum_j e^{z_j}$ with
# the quotient rule gives
#
# $$\frac{\partial y_i}{\partial z_k} = y_i(\delta_{ik} - y_k), \qquad J = \mathrm{diag}(y) - y y^\top .$$
#
# $J$ is symmetric, so the gradient with respect to $z$, given $dy = \partial L/\partial y$, is
#
# $$dz = J\,dy = y \odot dy - y\,(y^\top dy) = y \odot \big(dy - \langle dy, y\rangle\big).$$
#
# Every row of $J$ sums to zero ($J\mathbf 1 = y - y = 0$), so the entries of $dz$ always sum to zero:
# this is shift invariance seen from the gradient's side, and it returns in section 6.

# %%
z = np.array([1000.0, 999.0, 990.0])
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(z) / np.exp(z).sum()
y_s, sm_cache = ops.softmax_forward(z)
assert np.isnan(naive).any() and np.allclose(y_s.sum(), 1.0)
assert np.allclose(ops.softmax_forward(z - 1000.0)[0], y_s)            # shift invariance
print("naive:", naive, " stable:", y_s)

# the Jacobian, column by column with central differences, against diag(y) - y y^T
z = rng.standard_normal(5)
y_s, sm_cache = ops.softmax_forward(z)
J_formula = np.diag(y_s) - np.outer(y_s, y_s)
J_numeric = np.zeros((5, 5))
for k in range(5):
    e_k = np.eye(5)[k] * 1e-6
    J_numeric[:, k] = (ops.softmax_forward(z + e_k)[0] - ops.softmax_forward(z - e_k)[0]) / 2e-6
assert rel_error(J_formula, J_numeric) < TOL and np.allclose(J_formula.sum(axis=1), 0)

dy = rng.standard_normal(5)
dz = ops.softmax_backward(dy, sm_cache)
assert np.allclose(dz, J_formula @ dy) and np.allclose(dz, y_s * (dy - dy @ y_s))
assert abs(dz.sum()) < 1e-15

errors = check_op(ops.softmax_forward, ops.softmax_backward, {"x": rng.standard_normal((4, 7))}, ["x"])
print(f"Jacobian error {rel_error(J_formula, J_numeric):.1e}; softmax_backward gradient check {errors['x']:.1e}")
assert errors["x"] < TOL

# %% [markdown]
# ## 4. S3 — the causal mask is what makes E4.1 one forward pass
#
# A Transformer computes all the factors $P(x_j \mid x_{<j})$ of a sequence at once, one per
# position. That is only legitimate if the output at position $j$ cannot depend on $x_{j+1},
# x_{j+2},\ldots$ The causal mask (S3) sets the attention score $s_{ij} = -\infty$ for $j > i$, so
# no information moves backwards in time. We check it on multi-head attention: changing the input
# at position $t$ changes the outputs at $t$ and after, and nothing before.

# %%
print(ops.attention_mask(1, 5, 5, causal=True)[0, 0].astype(int))   # 1 = may attend

T_, C_, H_ = 5, 8, 2
x = rng.standard_normal((1, T_, C_))
Ws = {n: rng.standard_normal((C_, C_)) / math.sqrt(C_) for n in ("W_Q", "W_K", "W_V", "W_O")}
bs = {n: rng.standard_normal(C_) for n in ("b_Q", "b_K", "b_V", "b_O")}
y_attn, _ = ops.multihead_attention_forward(x, **Ws, **bs, n_head=H_, causal=True)
t = 2
x_changed = x.copy()
x_changed[0, t] += 1.0
y_changed, _ = ops.multihead_attention_forward(x_changed, **Ws, **bs, n_head=H_, causal=True)
moved = np.abs(y_changed - y_attn).max(axis=-1)[0]      # (T,) how much each output moved
print("change per position:", moved)
assert np.all(moved[:t] < 1e-12) and np.all(moved[t:] > 1e-3)

# %% [markdown]
# ## 5. S4 — LayerNorm and its backward
#
# $$y = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad
# \mu = \tfrac1C \textstyle\sum_k x_k,\quad \sigma^2 = \tfrac1C \sum_k (x_k - \mu)^2 \qquad\text{(S4)}$$
#
# Each token's vector of $C$ features is shifted to mean 0 and scaled to variance 1, then given a
# learned scale $\gamma$ and offset $\beta$. Every Transformer block has two of these.
#
# **Backward.** Let $r = 1/\sqrt{\sigma^2+\epsilon}$ and $\hat x = (x - \mu)\,r$. From
# $\partial\mu/\partial x_k = 1/C$ and $\partial\sigma^2/\partial x_k = 2(x_k-\mu)/C$ we get
# $\partial r/\partial x_k = -r^2\hat x_k / C$, and then
#
# $$\frac{\partial \hat x_i}{\partial x_k} = r\Big(\delta_{ik} - \frac1C - \frac{\hat x_i \hat x_k}{C}\Big).$$
#
# With $g = dy \odot \gamma$ (the gradient arriving at $\hat x$), the chain rule gives
#
# $$dx = r\big(g - \mathrm{mean}(g) - \hat x\,\mathrm{mean}(g \odot \hat x)\big),\qquad
# d\gamma = \sum_{\text{tokens}} dy \odot \hat x,\qquad d\beta = \sum_{\text{tokens}} dy .$$
#
# The two subtracted terms remove exactly the directions the normalisation cannot see: adding a
# constant to $x$ (removed by $\mu$) and scaling $x$ about its mean (removed by $\sigma$). So
# $dx$ sums to zero and, when $\epsilon = 0$, is orthogonal to $\hat x$ (a positive $\epsilon$ tilts it
# by a relative amount of order $\epsilon/\sigma^2$).

# %%
C = 6
x = rng.standard_normal((4, C)) * 3 + 2                  # (tokens, C), far from normalised
gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
y_ln, ln_cache = ops.layernorm_forward(x, gamma, beta)
x_hat = ln_cache["x_hat"]                                 # (tokens, C) the normalised x
assert np.allclose(y_ln, gamma * x_hat + beta)
assert np.allclose(x_hat.mean(axis=1), 0) and np.allclose(x_hat.var(axis=1), 1, atol=1e-4)

# the Jacobian of x_hat for one token, by central differences and by the formula
r = ln_cache["rstd"][0, 0]
J_formula = r * (np.eye(C) - 1 / C - np.outer(x_hat[0], x_hat[0]) / C)
J_numeric = np.stack([(ops.layernorm_forward(x[:1] + e, np.ones(C), np.zeros(C))[0]
                       - ops.layernorm_forward(x[:1] - e, np.ones(C), np.zeros(C))[0])[0] / 2e-6
                      for e in np.eye(C) * 1e-6], axis=1)
assert rel_error(J_formula, J_numeric) < TOL

# the backward: the closed form above, the library, and central differences
dy = rng.standard_normal((4, C))
g = dy * gamma
dx_formula = ln_cache["rstd"] * (g - g.mean(axis=1, keepdims=True)
                                 - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
dx, dgamma, dbeta = ops.layernorm_backward(dy, ln_cache)
assert np.allclose(dx, dx_formula) and np.allclose(dgamma, (dy * x_hat).sum(0)) and np.allclose(dbeta, dy.sum(0))
assert np.allclose(dx.sum(axis=1), 0)
dx0 = ops.layernorm_backward(dy, ops.layernorm_forward(x, gamma, beta, eps=0.0)[1])[0]
assert np.allclose((dx0 * x_hat).sum(axis=1), 0, atol=1e-12)          # eps = 0: exactly orthogonal

errors = check_op(ops.layernorm_forward, ops.layernorm_backward,
                  {"x": x, "gamma": gamma, "beta": beta}, ["x", "gamma", "beta"])
print(f"Jacobian error {rel_error(J_formula, J_numeric):.1e};",
      "  ".join(f"d{n}: {e:.1e}" for n, e in errors.items()))
assert max(errors.values()) < TOL

# %% [markdown]
# ## 6. The backward pass of attention (E3.2, E3.3)
#
# Chapter 3a derived it step by step; here is the same result in matrix form, checked on the
# full Jacobian-vector product rather than on the library. For one head with
# $S = QK^\top/\sqrt d$, $A = \mathrm{softmax}_\text{rows}(S)$, $O = AV$ and upstream gradient $dO$:
#
# $$dV = A^\top dO,\qquad dA = dO\,V^\top,\qquad dS = A \odot \big(dA - \mathrm{rowsum}(A\odot dA)\big),$$
# $$dQ = \tfrac{1}{\sqrt d}\, dS\,K,\qquad dK = \tfrac{1}{\sqrt d}\, dS^\top Q .$$
#
# The middle line is S1 applied to each row. Below, the scalar $L = \sum O \odot dO$ is
# differentiated by central differences, entry by entry, with `numerical_grad`.

# %%
Tq, Tk, d = 4, 5, 3
Q, K = rng.standard_normal((Tq, d)), rng.standard_normal((Tk, d))
V = rng.standard_normal((Tk, d))                         # the values of E3.3 (V was the vocabulary size above)
dO = rng.standard_normal((Tq, d))


def attention_loss():
    """L = sum(O * dO) for O = softmax(Q K^T / sqrt d) V, written with plain NumPy."""
    S = Q @ K.T / math.sqrt(d)
    A = np.exp(S - S.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    return np.sum((A @ V) * dO)


S = Q @ K.T / math.sqrt(d)                               # (Tq, Tk)
A, _ = ops.softmax_forward(S)
dV = A.T @ dO                                            # (Tk, d)
dA = dO @ V.T                                           # (Tq, Tk)
dS = A * (dA - (A * dA).sum(axis=1, keepdims=True))      # (Tq, Tk)   S1, row by row
dQ = dS @ K / math.sqrt(d)                               # (Tq, d)
dK = dS.T @ Q / math.sqrt(d)                             # (Tk, d)
for name, analytic, array in [("dQ", dQ, Q), ("dK", dK, K), ("dV", dV, V)]:
    err = rel_error(analytic, numerical_grad(attention_loss, array))
    print(f"{name}: relative error {err:.1e}")
    assert err < TOL

lib = ops.attention_backward(dO[None, None], ops.attention_forward(Q[None, None], K[None, None], V[None, None])[1])
assert all(np.allclose(mine, theirs[0, 0]) for mine, theirs in zip((dQ, dK, dV), lib))

# %% [markdown]
# ### A worked curiosity: the key bias $b^K$ gets exactly zero gradient
#
# In multi-head attention (E3.1 with biases) the keys are $k_j = x_j W^K + b^K$. The score of
# query $i$ and key $j$ is then
#
# $$s_{ij} = \frac{q_i \cdot (x_j W^K) + q_i \cdot b^K}{\sqrt d}.$$
#
# The term $q_i \cdot b^K/\sqrt d$ depends on $i$ but **not on $j$**: it adds the same constant to
# every score in row $i$. Softmax is shift invariant (S1), so $A$ does not change at all, whatever
# $b^K$ is. The loss does not depend on $b^K$, and its gradient is exactly zero. The backward pass
# agrees without knowing it: $db^K = \sum_j dk_j = \frac{1}{\sqrt d}\sum_i q_i \sum_j dS_{ij}$, and each
# row of $dS$ sums to zero ($J\mathbf 1 = 0$ in section 3). The query bias enjoys no such luck:
# $b^Q \cdot k_j$ varies with $j$. (GPT-2 and BERT carry a key bias all the same; it receives no
# gradient, so only weight decay ever moves it.)

# %%
inputs = {"x": rng.standard_normal((2, 5, C_)), **Ws, **bs}
y_mha, mha_cache = ops.multihead_attention_forward(**inputs, n_head=H_, causal=True)
grads = ops.multihead_attention_backward(rng.standard_normal(y_mha.shape), mha_cache)
y_shifted, _ = ops.multihead_attention_forward(**{**inputs, "b_K": inputs["b_K"] + 100 * rng.standard_normal(C_)},
                                               n_head=H_, causal=True)
print("|db_K| max:", np.abs(grads["db_K"]).max(), "  |db_Q| max:", np.abs(grads["db_Q"]).max())
assert np.abs(grads["db_K"]).max() < 1e-13 and np.abs(grads["db_Q"]).max() > 1e-2
assert np.allclose(y_shifted, y_mha, atol=1e-9)          # moving b_K by 100s changes nothing

# %% [markdown]
# ## 7. S5 — GELU, exact and tanh
#
# $$\mathrm{GELU}(x) = x\,\Phi(x) = \tfrac12 x\big(1 + \mathrm{erf}(x/\sqrt2)\big)
# \;\approx\; \tfrac12 x\Big(1 + \tanh\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\Big) \qquad\text{(S5)}$$
#
# $\Phi$ is the standard normal distribution function: GELU lets $x$ through in proportion to how
# likely a standard normal variable is to be below it. It is a smooth ReLU: near $x$ for large
# positive inputs, near 0 for large negative ones, slightly negative in between. BERT uses the
# exact form, GPT-2 the tanh approximation; the two differ by less than $5\times10^{-4}$, but a
# model must use the one it was trained with to reproduce its outputs. The derivative of the
# exact form is $\Phi(x) + x\,\varphi(x)$ with $\varphi$ the normal density.

# %%
xs = np.linspace(-4, 4, 801)
g_exact, _ = ops.gelu_forward(xs, approximate="none")
g_tanh, _ = ops.gelu_forward(xs, approximate="tanh")
Phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in xs])
assert np.allclose(g_exact, xs * Phi)                    # the definition, with Python's erf
diff = np.abs(g_exact - g_tanh)
print(f"max |exact - tanh| = {diff.max():.2e} at x = {xs[diff.argmax()]:.2f}")
assert diff.max() < 5e-4
assert np.allclose(ops.gelu_forward(np.array([-30.0, 30.0]), "none")[0], [0.0, 30.0])   # a smooth ReLU

for approximate in ("none", "tanh"):
    errors = check_op(ops.gelu_forward, ops.gelu_backward, {"x": rng.standard_normal(50) * 2}, ["x"],
                      approximate=approximate)
    print(f"gradient check, {approximate}: {errors['x']:.1e}")
    assert errors["x"] < TOL

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(xs, g_exact, label="exact  $x\\Phi(x)$")
axes[0].plot(xs, g_tanh, "--", label="tanh approximation")
axes[0].plot(xs, np.maximum(xs, 0), ":", color="grey", label="ReLU")
axes[0].legend()
axes[0].set_title("GELU (S5)")
axes[1].plot(xs, g_exact - g_tanh)
axes[1].set_title("exact − tanh")
for ax in axes:
    ax.set_xlabel("x")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8. S6 — the feed-forward network
#
# $$\mathrm{FFN}(x) = \mathrm{GELU}(xW_1 + b_1)\,W_2 + b_2 \qquad\text{(S6)}$$
#
# The second half of every block ("stacked self-attention and feed-forward networks", §3.1).
# $W_1$ is $(C, 4C)$ and widens each token's vector four times, GELU bends it, $W_2$ $(4C, C)$ brings
# it back. It works on every position separately: attention is the only place where tokens mix.
# Its backward is three backwards in reverse order: linear, GELU, linear.

# %%
C, F = 8, 32
x = rng.standard_normal((2, 5, C))                       # (B, T, C)
ffn_params = {"W_1": rng.standard_normal((C, F)) / math.sqrt(C), "b_1": rng.standard_normal(F),
              "W_2": rng.standard_normal((F, C)) / math.sqrt(F), "b_2": rng.standard_normal(C)}
y_ffn, ffn_cache = ops.ffn_forward(x, **ffn_params)      # (B, T, C)

# position-wise: the same small network applied to each token alone
for i in range(2):
    for t in range(5):
        hidden = ops.gelu_forward(x[i, t] @ ffn_params["W_1"] + ffn_params["b_1"])[0]   # (F,)
        assert np.allclose(y_ffn[i, t], hidden @ ffn_params["W_2"] + ffn_params["b_2"])
assert sum(p.size for p in ffn_params.values()) == 8 * C * C + 5 * C   # parameters: 2 (C x 4C) + 4C + C

errors = check_op(ops.ffn_forward, ops.ffn_backward, {"x": x, **ffn_params}, ["x", "W_1", "b_1", "W_2", "b_2"])
print("  ".join(f"d{n}: {e:.1e}" for n, e in errors.items()))
assert max(errors.values()) < TOL

# %% [markdown]
# ## 9. S7 — residual blocks, pre-LN and post-LN
#
# A block wraps each sub-layer $f$ (attention, then the FFN) in a residual connection and a
# LayerNorm. The two families of models put the LayerNorm in different places:
#
# $$\text{pre-LN (GPT-2):}\quad x \leftarrow x + f(\mathrm{LN}(x)) \qquad\qquad
# \text{post-LN (BERT):}\quad x \leftarrow \mathrm{LN}(x + f(x)) \qquad\text{(S7)}$$
#
# Written out for a full block with its two sub-layers:
#
# $$\text{pre-LN:}\quad h = x + \mathrm{MHA}(\mathrm{LN}_1(x)),\quad y = h + \mathrm{FFN}(\mathrm{LN}_2(h))$$
# $$\text{post-LN:}\quad h = \mathrm{LN}_1(x + \mathrm{MHA}(x)),\quad y = \mathrm{LN}_2(h + \mathrm{FFN}(h))$$
#
# (a pre-LN stack also ends with one more LayerNorm before the output layer). The backward passes follow from the chain rule:
#
# $$\text{pre-LN:}\quad dx = dy + \mathrm{LN}'^\top\big(f'^\top dy\big) \qquad\qquad
# \text{post-LN:}\quad ds = \mathrm{LN}'^\top dy,\quad dx = ds + f'^\top ds .$$
#
# In pre-LN the upstream gradient $dy$ reaches $x$ untouched through the identity path, however
# many blocks are stacked; the residual stream itself is never normalised. In post-LN every block
# ends in a LayerNorm, so each block's output is normalised, and gradients pass through every
# LayerNorm on the way down. Pre-LN is the easier one to train deep; post-LN is what BERT's weights
# expect. Below, both wrappers around the FFN, with their backward passes composed from the ops.

# %%
ln_params = (np.ones(C), np.zeros(C))                    # gamma, beta


def pre_ln_forward(x, ffn_params):
    """S7, GPT-2 style: y = x + f(LN(x))."""
    n, ln_cache = ops.layernorm_forward(x, *ln_params)
    f, f_cache = ops.ffn_forward(n, **ffn_params)
    return x + f, (ln_cache, f_cache)


def pre_ln_backward(dy, cache):
    ln_cache, f_cache = cache
    dn = ops.ffn_backward(dy, f_cache)[0]
    return dy + ops.layernorm_backward(dn, ln_cache)[0]  # identity path + the branch


def post_ln_forward(x, ffn_params):
    """S7, BERT style: y = LN(x + f(x))."""
    f, f_cache = ops.ffn_forward(x, **ffn_params)
    y, ln_cache = ops.layernorm_forward(x + f, *ln_params)
    return y, (ln_cache, f_cache)


def post_ln_backward(dy, cache):
    ln_cache, f_cache = cache
    ds = ops.layernorm_backward(dy, ln_cache)[0]
    return ds + ops.ffn_backward(ds, f_cache)[0]


for name, fwd, bwd in [("pre-LN", pre_ln_forward, pre_ln_backward), ("post-LN", post_ln_forward, post_ln_backward)]:
    err = check_op(lambda x: fwd(x, ffn_params), bwd, {"x": x}, ["x"])["x"]
    print(f"{name:8s} gradient check dx: {err:.1e}")
    assert err < TOL

y_post, _ = post_ln_forward(x, ffn_params)               # every token normalised (gamma = 1, beta = 0)
assert np.allclose(y_post.mean(axis=-1), 0) and np.allclose(y_post.var(axis=-1), 1, atol=1e-3)

# a sub-layer whose output weights are still zero: pre-LN is exactly the identity, post-LN is not
zero_f = {**ffn_params, "W_2": np.zeros((F, C)), "b_2": np.zeros(C)}
y_pre0, cache_pre0 = pre_ln_forward(x, zero_f)
dy = rng.standard_normal(x.shape)
assert np.array_equal(y_pre0, x) and np.array_equal(pre_ln_backward(dy, cache_pre0), dy)
assert not np.allclose(post_ln_forward(x, zero_f)[0], x)
print("pre-LN with f = 0 is the identity (output and gradient); post-LN with f = 0 is LN(x)")

# %% [markdown]
# ## 10. S8 — embeddings, their backward, and tied output weights
#
# The model's input is a sum of rows picked from learned tables:
#
# $$h^{(0)}_t = W_{te}[x_t] + W_{pe}[t]\;\big(+\,W_{se}[s_t]\ \text{in BERT}\big) \qquad\text{(S8)}$$
#
# a token table $W_{te}$ $(V, C)$, a position table $W_{pe}$ (max length, $C$) and, in BERT, a segment
# table for sentence A/B. A lookup is a matrix product with a one-hot matrix, $W[x] = \mathrm{onehot}(x)\,W$,
# so its gradient is $\mathrm{onehot}(x)^\top dy$: the gradient of each position is **added** into the
# row of the token it used. A token that occurs three times receives three contributions, which
# is what `np.add.at` does; the tempting `dW[ids] += dy` writes each repeated row once and keeps
# only the last contribution.
#
# GPT-2 and BERT also **tie** the output layer to the token table: $\text{logits} = h\,W_{te}^\top$.
# Then $W_{te}$ receives gradient from both ends of the network, and the two must be summed.

# %%
V, C, T = 7, 4, 5
ids = np.array([3, 1, 3, 3, 6])                          # token 3 occurs three times
W_te = rng.standard_normal((V, C))
emb, emb_cache = ops.embedding_forward(ids, W_te)        # (T, C)
onehot = np.eye(V)[ids]                                  # (T, V)
assert np.allclose(emb, onehot @ W_te)

dy = rng.standard_normal((T, C))
dW_te = ops.embedding_backward(dy, emb_cache)            # (V, C)
assert np.allclose(dW_te, onehot.T @ dy)
assert np.allclose(dW_te[3], dy[0] + dy[2] + dy[3])
dW_wrong = np.zeros((V, C))
dW_wrong[ids] += dy                                      # the bug: repeated rows are written, not added
assert np.allclose(dW_wrong[3], dy[3]) and not np.allclose(dW_wrong, dW_te)

errors = check_op(ops.embedding_forward, ops.embedding_backward, {"ids": ids, "W": W_te}, ["W"])
assert errors["W"] < TOL

# the input sum of S8 (token + position + segment), each lookup an embedding_forward
W_pe, W_se = rng.standard_normal((T, C)), rng.standard_normal((2, C))
segments = np.array([0, 0, 0, 1, 1])                     # sentence A, then sentence B
h0 = emb + ops.embedding_forward(np.arange(T), W_pe)[0] + ops.embedding_forward(segments, W_se)[0]
assert np.allclose(h0[4], W_te[6] + W_pe[4] + W_se[1])

# %% [markdown]
# The tied model, input and output sharing $W_{te}$: forward, backward with the two gradient paths
# summed, and a check of $dW_{te}$ against central differences.

# %%
targets = np.array([1, 3, 3, 6, 0])


def tied_forward():
    """logits = (W_te[ids] + W_pe[t]) W_te^T, mean cross-entropy against targets (S8, S2)."""
    tok, tok_cache = ops.embedding_forward(ids, W_te)    # (T, C)
    pos, pos_cache = ops.embedding_forward(np.arange(T), W_pe)
    h = tok + pos                                        # (T, C)
    logits, out_cache = ops.linear_forward(h, W_te.T)    # (T, V): the output layer reuses W_te
    loss, ce_cache = ops.cross_entropy_forward(logits, targets)
    return loss, (tok_cache, pos_cache, out_cache, ce_cache)


loss, (tok_cache, pos_cache, out_cache, ce_cache) = tied_forward()
dlogits = ops.cross_entropy_backward(1.0, ce_cache)      # (T, V)
dh, dW_out, _ = ops.linear_backward(dlogits, out_cache)  # dW_out is the gradient of W_te^T, (C, V)
dW_te = ops.embedding_backward(dh, tok_cache) + dW_out.T # input path + output path
dW_pe = ops.embedding_backward(dh, pos_cache)
for name, analytic, array in [("W_te", dW_te, W_te), ("W_pe", dW_pe, W_pe)]:
    err = rel_error(analytic, numerical_grad(lambda: tied_forward()[0], array))
    print(f"d{name}: relative error {err:.1e}")
    assert err < TOL
only_input_path = ops.embedding_backward(dh, tok_cache)
assert rel_error(only_input_path, numerical_grad(lambda: tied_forward()[0], W_te)) > 0.1   # forgetting a path is caught

# %% [markdown]
# ## 11. E4.1 with a Transformer
#
# Back to the corpus of section 1, now with the model the article has in mind: a tiny GPT, whose
# next-token distributions come from causal self-attention (chapter 3a), trained by maximising E4.1,
# that is by minimising the mean NLL of all 26 predicted tokens with Adam (S9). The four sentences
# form one batch, padded at the end with a `<pad>` token whose targets are ignored.
#
# Three reference points frame the result:
#
# * the **untrained** model: small random weights give nearly uniform predictions, perplexity
#   close to the vocabulary size;
# * the **bigram** model of section 1, whose context is one token;
# * the **best possible** model on this corpus: count whole prefixes,
#   $P(x_j \mid x_{<j}) = c(x_{<j}, x_j)/c(x_{<j})$. It is the maximiser of E4.1 over every
#   possible set of conditional distributions, so no model, however large, gets a lower training
#   perplexity. Its perplexity is above 1 because some prefixes really are ambiguous (a sentence
#   may start with "the" or "a", and "the cat" may sit or see).

# %%
from collections import Counter

from tinyllm import GPT, GPTConfig
from tinyllm.train import Adam

pad = len(vocab)                                         # one extra id for <pad>
L_max = max(len(doc) for doc in docs)
idx = np.full((len(docs), L_max), pad)                   # (B, T) = (4, 8)
for i, doc in enumerate(docs):
    idx[i, :len(doc)] = [vocab.index(w) for w in doc]
targets = ops.causal_lm_targets(idx, pad_id=pad)         # (B, T), -100 after each sentence's end
assert (targets != -100).sum() == N

# the floor: maximum likelihood over all conditionals, by counting prefixes
prefix_next = Counter((tuple(doc[:j]), doc[j]) for doc in docs for j in range(1, len(doc)))
prefix = Counter(tuple(doc[:j]) for doc in docs for j in range(1, len(doc)))
ce_floor = -sum(c * math.log(c / prefix[ctx]) for (ctx, _), c in prefix_next.items()) / N

gpt = GPT(GPTConfig(vocab_size=len(vocab) + 1, n_layer=2, n_head=2, d_model=32, max_len=L_max,
                    dropout=0.0, init_std=0.02), seed=0, dtype=np.float64)
ce_start, _ = gpt.loss_and_grads(idx, targets)
optimizer = Adam(gpt.params, lr=5e-3)
history = []
for step in range(150):
    loss, grads = gpt.loss_and_grads(idx, targets)       # mean NLL over the 26 tokens: E4.1 in per-token form
    optimizer.step(grads)
    history.append(loss)
ce_gpt, _ = gpt.loss_and_grads(idx, targets)

for name, ce in [("untrained GPT", ce_start), ("bigram (counts)", ce_bigram),
                 ("trained GPT", ce_gpt), ("prefix counts (floor)", ce_floor)]:
    print(f"{name:22s} cross-entropy {ce:.4f}   perplexity {ops.perplexity(ce):6.3f}")
assert 0.8 < ops.perplexity(ce_start) / (len(vocab) + 1) < 1.2
assert ce_floor - 1e-9 <= ce_gpt < ce_bigram

plt.figure(figsize=(6, 3.2))
plt.plot(np.exp(history), label="trained GPT")
for name, ce, style in [("bigram", ce_bigram, "--"), ("floor", ce_floor, ":")]:
    plt.axhline(math.exp(ce), linestyle=style, color="grey")
    plt.text(len(history) - 1, math.exp(ce), name, va="bottom", ha="right")
plt.ylim(1, 6)
plt.xlabel("Adam step")
plt.ylabel("training perplexity")
plt.title("Maximising E4.1 on the toy corpus")
plt.show()

# %% [markdown]
# ## Summary
#
# | ID | formula | computed by | checked here by |
# |---|---|---|---|
# | E4.1 | $\arg\max_\theta \prod_i \prod_j P(x^{(i)}_j \mid x^{(i)}_{<j};\theta)$ | `ops.sequence_log_likelihood`, `ops.cross_entropy_forward`, `ops.perplexity` | counting (unigram, bigram, prefixes), gradient descent, a trained GPT |
# | S1 | $\mathrm{softmax}$, $dz = y\odot(dy - \langle dy, y\rangle)$ | `ops.softmax_forward/backward` | overflow, shift invariance, Jacobian by differences |
# | S2 | $-\log\mathrm{softmax}(z)_y$, $\mathrm{softmax}(z) - \mathrm{onehot}(y)$, $e^{\text{mean NLL}}$ | `ops.cross_entropy_forward/backward`, `ops.perplexity` | by hand, gradient check, extremes |
# | S3 | $s_{ij} = -\infty$ for $j > i$ | `causal=` of the attention ops | outputs before a change stay fixed |
# | S4 | LayerNorm | `ops.layernorm_forward/backward` | Jacobian, closed form, gradient check |
# | S5 | GELU, exact and tanh | `ops.gelu_forward/backward` | `math.erf`, gap $< 5\cdot10^{-4}$, gradient checks |
# | S6 | $\mathrm{GELU}(xW_1+b_1)W_2+b_2$ | `ops.ffn_forward/backward` | per-token loop, gradient check |
# | S7 | $x + f(\mathrm{LN}(x))$ and $\mathrm{LN}(x + f(x))$ | `tinyllm.models` blocks; composed here from the ops | gradient checks, identity at $f = 0$ |
# | S8 | $W_{te}[x_t] + W_{pe}[t]\,(+W_{se}[s_t])$, tied output | `ops.embedding_forward/backward` | one-hot product, `add.at`, tied gradient check |
