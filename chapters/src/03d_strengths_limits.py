"""Source of chapters/03d_strengths_limits.ipynb. Build: python chapters/_build.py chapters/src/03d_strengths_limits.py"""

# %% [markdown]
# # Chapter 3d — Strengths and limits, measured (§3.3 算法优缺点)
#
# Section 3.3 of the article weighs large language models: strong and general, but expensive,
# biased, opaque and weak at reasoning. Each claim here is a measurement on tinyllm's own models,
# not an assertion. Quick parts run live; the rest (a model trained on a skewed corpus, the zoo
# model's internals) were measured by `python scripts/strengths_results.py`, which wrote
# `results/strengths.json`, and `results/apps.json` (chapter 6) supplies the applications.

# %%
import json
import pathlib
import time

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm.data import tinyworld
from tinyllm.models import GPT, GPTConfig

REPO = pathlib.Path(tinyllm.__file__).resolve().parent.parent
S = json.loads((REPO / "results" / "strengths.json").read_text())
apps = json.loads((REPO / "results" / "apps.json").read_text())
tok = tinyworld.tokenizer()
print("measured on", S["model"], "and", apps["model"])

# %% [markdown]
# ## Cost: compute grows with the model
#
# Training costs about $6N$ floating-point operations per token for a model with $N$ parameters
# (2N for the forward pass, 4N for the backward), so a run on $D$ tokens costs about $6ND$. A live
# timing of one training step (forward + backward, batch 8 × 48 tokens) for three small GPTs, in
# CPU seconds of this process (a busy machine does not inflate them):

# %%
rng = np.random.default_rng(0)
print(f"{'layers':>6s} {'width':>6s} {'N':>10s} {'6N FLOP/token':>14s} {'s/token':>10s} {'GFLOP/s':>8s}")
live = []
for n_layer, d in ((1, 32), (2, 64), (2, 128)):
    m = GPT(GPTConfig(vocab_size=len(tok), n_layer=n_layer, n_head=4, d_model=d, max_len=48), seed=0)
    idx = rng.integers(0, len(tok), (8, 48))
    m.loss_and_grads(idx, np.roll(idx, -1, axis=1))
    t = time.process_time()
    for _ in range(3):
        m.loss_and_grads(idx, np.roll(idx, -1, axis=1))
    s = (time.process_time() - t) / (3 * 8 * 48)
    N = m.num_params()
    live.append((N, s))
    print(f"{n_layer:6d} {d:6d} {N:10,d} {6 * N:14,d} {s:10.2e} {6 * N / s / 1e9:8.2f}")
assert live[-1][1] > live[0][1]

# %% [markdown]
# The same measurement for larger models (`scripts/strengths_results.py`), against the $6N$ line:
# seconds per token grow with $N$, and the achieved FLOP rate rises as matrices get big enough to
# keep the CPU busy — then the cost is simply proportional to $N$. Generation with the KV cache
# needs only about $2N$ operations per token, yet here it takes *longer* per token than a batched
# training step: one token at a time is too little work to keep the matrices busy, and the
# per-step overhead dominates (which is why servers batch many users' requests together).

# %%
rows = S["cost"]["rows"]
N = np.array([r["params"] for r in rows])
train = np.array([r["train_s_per_token"] for r in rows])
gen = np.array([r["generate_s_per_token"] for r in rows])
for r in rows:
    print(f"{r['n_layer']} x {r['d_model']:4d}: N = {r['params']:>10,d}  train {r['train_s_per_token']:.2e} s/token "
          f"({r['train_gflops']:.1f} GFLOP/s)  generate {r['generate_s_per_token']:.2e} s/token")
plt.figure(figsize=(5, 3.2))
plt.loglog(N, train, "o-", label="training step, per token")
plt.loglog(N, gen, "s-", label="generation (KV cache), per token")
plt.loglog(N, 6 * N / rows[-1]["train_gflops"] / 1e9, "k--", label="6N / (peak measured rate)")
plt.xlabel("parameters N"); plt.ylabel("seconds per token"); plt.legend(fontsize=7); plt.show()
assert train[-1] > train[0]

# %% [markdown]
# ## Generality: one model, many tasks, zero-shot
#
# The same pre-trained GPT, never fine-tuned, does seven applications through prompts alone
# (chapter 6): the headline metric of each, from `results/apps.json`.

# %%
for name, r in apps["apps"].items():
    print(f"{name:15s} {r['metric']:22s} {r['value']:8.3f}")

# %% [markdown]
# ## Bias: the model assumes what its corpus over-represents
#
# A small GPT was trained on TinyWorld documents drawn from a *skewed* copy of the world: 12 of its
# 16 women are nurses and no man is. Four women and four men are held out: no training document
# ever states their job. Asked "what is the job of X?" about them, the model can only guess. The
# control is the same GPT, same steps and seed, trained on the true world (one nurse among 32
# people) with the same eight jobs withheld. Two questions: does the skew move the guess towards
# "nurse" (a base-rate bias)? And does it move it more for the held-out women than for the men
# (the gendered association the skew was built to plant)?

# %%
b = S["bias"]
print(f"each model: {b['steps']} steps on {b['docs']} documents; held out: {b['held_out']}")
for world in ("skewed", "control"):
    r = b[world]
    print(f"\n{world:8s} world: nurses {r['nurses']}, final loss {r['final_loss']:.3f}")
    print("  held-out people, P(nurse | a job word):", {k: round(v, 3) for k, v in r["held_out_p_nurse"].items()})
    print("  held-out people answered 'nurse':      ", r["held_out_answers_nurse"])
    for name in b["held_out"]:
        v = r["probe"][name]
        print(f"    {name:6s} {'woman' if v['female'] else 'man  '}  answer {v['top']:9s} "
              f"P(nurse) {v['p_nurse_among_jobs']:.3f}   (true job: {v['true_job']})")

mean_p = {w: float(np.mean(list(b[w]["held_out_p_nurse"].values()))) for w in ("skewed", "control")}
gap = {w: b[w]["held_out_p_nurse"]["women"] - b[w]["held_out_p_nurse"]["men"] for w in ("skewed", "control")}
print(f"\nbase-rate effect: P(nurse) for held-out people {mean_p['control']:.3f} (control) -> {mean_p['skewed']:.3f} (skewed)")
print(f"gender effect (women - men): {gap['control']:+.3f} (control), {gap['skewed']:+.3f} (skewed)")
assert mean_p["skewed"] > mean_p["control"]

# %% [markdown]
# Nothing in the held-out people's data says "nurse", yet the model trained on the skewed corpus
# answers it for most of them: it has learned the corpus's base rate and applies it to people it
# knows nothing about. (The control is the extreme case: the true world's only nurse, Olga, is one of
# the held-out people, so its model never saw anyone work as a nurse and never guesses it.) The
# gendered part is printed above, not assumed: to favour "nurse" for the held-out *women* the model
# must first have linked each name to "she" (stories say "there she ...") and then "she" to the job,
# two steps that a 2-layer model trained for 1,500 steps takes only weakly (here a few points of
# probability, and every held-out woman against half of the men answered "nurse"). The lesson of
# §3.3 holds in its plainest form: a model reproduces the skew of its data as if it were knowledge,
# and only a measurement against a control tells how much and along which line.

# %% [markdown]
# ## Interpretability: looking inside is possible, understanding is harder
#
# Two standard views of the zoo GPT answering "question: where does Anna live? answer:". The
# attention maps (E3.2) show where each head of each layer reads from; the **logit lens** reads the
# residual stream after each layer through the final LayerNorm and the tied output matrix, as if
# the model stopped there, and shows when the answer appears.

# %%
att = S["interpretability"]
tokens = att["tokens"]
maps = [np.array(a) for a in att["attention"]]                   # per layer: (H, T, T)
fig, axes = plt.subplots(len(maps), maps[0].shape[0], figsize=(2.2 * maps[0].shape[0], 2.2 * len(maps)))
for i, A in enumerate(maps):
    for h in range(A.shape[0]):
        ax = np.atleast_2d(axes)[i, h]
        ax.imshow(A[h], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"layer {i + 1} head {h + 1}", fontsize=7)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=5)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=5)
fig.tight_layout()
plt.show()
last = np.array([A[:, -1] for A in maps])                        # (L, H, T): what the answer position reads
name_pos = tokens.index("Anna")
print("weight the last position puts on 'Anna', per layer and head:\n", last[:, :, name_pos].round(2))
for row in att["logit_lens"]:
    print(f"after {row['after']:10s}: top {[(w, round(p, 3)) for w, p in row['top']]}   "
          f"P({att['answer']}) = {row['p_answer']:.3f}")
assert att["logit_lens"][-1]["p_answer"] > att["logit_lens"][0]["p_answer"]

# %% [markdown]
# Some heads visibly attend from the answer position to the name; the answer's probability rises
# only in the last layers. That is *where* the fact is used, not *how* it is stored: the picture
# is suggestive, and a precise account of the computation would need far more work — the
# article's point about opacity, in miniature.

# %% [markdown]
# ## Reasoning: what the corpus never shows, the model cannot do
#
# TinyWorld's arithmetic is one-digit sums and differences. The zoo model's next token after
# "math: x + y =" (all problems of each kind), and two-hop questions ("where does the friend of
# Anna live?") against their one-hop halves:

# %%
r = S["reasoning"]
for kind, v in r["arithmetic"].items():
    print(f"{kind:20s} {v['accuracy']:.3f}  ({v['n']} problems)")
print(f"one-hop questions: {r['one_hop']['exact_match']:.3f}   two-hop: {r['two_hop']['exact_match']:.3f} "
      f"(answered the one-hop shortcut instead: {r['two_hop']['gave_shortcut']:.3f})")
assert r["arithmetic"]["two-digit operand"]["accuracy"] < r["arithmetic"]["one digit, carry"]["accuracy"]
assert r["two_hop"]["exact_match"] < r["one_hop"]["exact_match"]

# %% [markdown]
# Even inside the range it saw, the model only partly learned arithmetic (it memorises frequent
# sums rather than a procedure; carries and differences are harder than small sums), and a
# two-digit operand (12 + 5), which no document writes, it never gets right. Two facts it knows
# perfectly do not combine into a third. The model interpolates what it has seen; it does not
# extrapolate a rule.
