"""Source of chapters/08_trends.ipynb. Build: python chapters/_build.py chapters/src/08_trends.py"""

# %% [markdown]
# # Chapter 8 — Trends and challenges: a scaling law in miniature (§8 总结：未来发展趋势与挑战)
#
# Section 8 of the article looks ahead: models and their data keep growing, training and inference
# must get cheaper, models read images and sound as well as text, they must be aligned with what
# people want, and the whole enterprise is expensive. The first trend rests on a measured
# regularity, the **scaling law**: the loss falls as a power of the model's size and of the amount
# of data (Kaplan et al., 2020; Hoffmann et al., 2022). This chapter measures one on TinyWorld,
# fits it, uses it to predict a model 10× larger than any it was fitted on, and checks the
# prediction by training that model. Then each of the other trends gets a number.
#
# The grid of runs takes about ten minutes of one CPU core: `python scripts/scaling_results.py` ran
# it and wrote `results/scaling.json`, which this chapter reads; a slice of the grid runs live
# (section 5) so that you can see it happen.

# %%
import json
import math
import pathlib
import time

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm import scaling

REPO = pathlib.Path(tinyllm.__file__).resolve().parent.parent
S = json.loads((REPO / "results" / "scaling.json").read_text())
rows, G = S["rows"], S["grid"]
print(f"{len(rows)} runs + the 10x check, {S['wall_seconds'] / 60:.1f} min wall / {S['cpu_seconds'] / 60:.1f} min CPU "
      f"on {S['machine']['cpu']} with OMP_NUM_THREADS={S['machine']['OMP_NUM_THREADS']}")

# %% [markdown]
# ## 1. What is measured: loss above the floor, N and D
#
# **Loss.** Each model is scored on 1,000 validation documents by E4.1 per token: the mean
# negative log-likelihood $-\frac{1}{n}\sum_{i}\sum_j \log P(x^{(i)}_j \mid x^{(i)}_{<j};\theta)$ in
# nats, the same loss it was trained on (E3.6). TinyWorld's generator knows the exact probability of
# every text it writes, so the part of that loss no model can remove is known too: the **entropy
# floor**, the generator's own cross-entropy on the same documents,
# $-\sum_i \log P_{\text{gen}}(x^{(i)}) / \sum_i (n_i + 1)$ (`tinyworld.entropy_floor`). For a real
# corpus this constant has to be fitted (the $E$ of Hoffmann et al.); here it is subtracted exactly,
# and what the scaling law describes is the **reducible loss** $L - L_{\text{floor}}$.
#
# **N** is counted as Kaplan et al. do: the parameters that are *not* embeddings (neither the
# token table, which is also the tied output layer, nor the positions). A block has
# $12d^2 + 13d$ of them, so $N = L(12d^2 + 13d) + 2d$, close to Kaplan's $12Ld^2$.
#
# **D** is the number of tokens the model was trained on, in one pass over fresh documents: no
# document is seen twice, so D is both the compute spent per parameter and the amount of data. Every
# run has its own learning-rate schedule (warm-up, then a cosine down to zero at its last step), as
# Hoffmann et al. found necessary: a run cut short in the middle of a longer schedule is not the
# same as a run planned for that length.

# %%
tok = scaling.tokenizer()
print(f"{'width':>5s} {'heads':>5s} {'N (arrays)':>10s} {'L(12d²+13d)+2d':>15s} {'12Ld²':>9s} "
      f"{'embeddings':>10s} {'share of all':>12s}")
for d in list(G["sizes"]) + [G["check_d_model"]]:
    m = scaling.make_model(G["n_layer"], d, seed=0, tok=tok)
    N = scaling.non_embedding_params(m)
    assert N == scaling.count_non_embedding_params(G["n_layer"], d)
    emb = m.num_params() - N
    print(f"{d:5d} {m.config.n_head:5d} {N:10,d} {scaling.count_non_embedding_params(G['n_layer'], d):15,d} "
          f"{scaling.kaplan_approx_params(G['n_layer'], d):9,d} {emb:10,d} {N / m.num_params():12.0%}")
print(f"\nfloor on the validation documents: {S['floor']:.4f} nats/token "
      f"(the split's exact floor, which even a model that knew the split's hash could not beat: {S['floor_split']:.4f})")

# %% [markdown]
# At these sizes the embeddings are most of the parameters (a vocabulary of 1,038 words), which is
# exactly why Kaplan et al. leave them out: counting them bends the curves at small N.
#
# The table of runs (each cell: mean over the seeds of the reducible loss, nats per token):

# %%
sizes, amounts, seeds = G["sizes"], G["tokens"], G["seeds"]
cell = {(r["d_model"], r["n_tokens"]): [] for r in rows}
for r in rows:
    cell[(r["d_model"], r["n_tokens"])].append(r)
Ns = np.array([cell[(d, amounts[0])][0]["N"] for d in sizes])                        # (S,)
Ds = np.array([np.mean([r["D"] for r in cell[(sizes[0], t)]]) for t in amounts])     # (T,)
R = np.array([[np.mean([r["reducible"] for r in cell[(d, t)]]) for t in amounts] for d in sizes])   # (S, T)
print(f"{'width':>5s} {'N':>8s} | " + " ".join(f"D={t // 1000:>4d}k" for t in amounts) + " | CPU seconds, all runs")
for i, d in enumerate(sizes):
    secs = sum(r["cpu_seconds"] for t in amounts for r in cell[(d, t)])
    print(f"{d:5d} {Ns[i]:8,d} | " + " ".join(f"{R[i, j]:7.3f}" for j in range(len(amounts))) + f" | {secs:6.0f}")
assert all(r["reducible"] > 0 for r in rows), "no model can beat the entropy floor"

# %% [markdown]
# ## 2. Loss against N and against D
#
# On log-log axes a power law is a straight line. Left: one line per amount of data, against
# model size; right: one line per model size, against data. Points are single runs (both seeds),
# lines their means; dashed lines are the fitted law of section 3.

# %%
fit = S["fit"]
fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(sizes), len(amounts))))
Ngrid = np.geomspace(Ns.min() * 0.8, S["check"]["N"] * 1.2, 100)
for j, t in enumerate(amounts):
    ax[0].plot(Ns, R[:, j], "o-", color=colors[j], label=f"D = {t // 1000}k tokens")
    ax[0].plot([r["N"] for r in rows if r["n_tokens"] == t], [r["reducible"] for r in rows if r["n_tokens"] == t],
               ".", color=colors[j], alpha=0.5)
    ax[0].plot(Ngrid, scaling.predict(fit, Ngrid, Ds[j]), "--", color=colors[j], lw=0.8)
c = S["check"]
ax[0].errorbar([c["N"]], [c["predicted"]], yerr=[[c["predicted"] - c["low"]], [c["high"] - c["predicted"]]],
               fmt="s", color="red", mfc="none", capsize=4, label="10x model: predicted ±2σ")
ax[0].plot([c["N"]], [c["measured"]], "*", color="red", ms=12, label="10x model: measured")
ax[0].set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel="loss − floor (nats/token)")
ax[0].legend(fontsize=7)
Dgrid = np.geomspace(Ds.min() * 0.8, Ds.max() * 1.25, 100)
for i, d in enumerate(sizes):
    ax[1].plot(Ds, R[i], "o-", color=colors[i], label=f"width {d} (N = {Ns[i]:,})")
    ax[1].plot(Dgrid, scaling.predict(fit, Ns[i], Dgrid), "--", color=colors[i], lw=0.8)
ax[1].set(xscale="log", yscale="log", xlabel="training tokens D", ylabel="loss − floor (nats/token)")
ax[1].legend(fontsize=7)
plt.tight_layout(); plt.show()
assert np.all(np.diff(R, axis=1) < 0), "at every size, more data must lower the loss"
assert np.all(np.diff(R, axis=0) < 0), "at every amount of data, a bigger model must lower the loss"

# %% [markdown]
# More data always helped and so did a bigger model, at every point of the grid (the assertions
# above). But the lines are not parallel: at the smallest D a bigger model helps a lot, at the largest
# less, and the curves bend towards a floor set by the data: that is the additive form below.

# %% [markdown]
# ## 3. The fitted law
#
# $$L(N, D) - L_{\text{floor}} = \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}} = \Big(\frac{N_c}{N}\Big)^{\alpha} + \Big(\frac{D_c}{D}\Big)^{\beta}$$
#
# Hoffmann et al.'s form with its constant $E$ replaced by the exact floor (Kaplan et al. wrote
# the same two power laws as $(N_c/N)^{\alpha_N}$ and $(D_c/D)^{\alpha_D}$). It is fitted by least
# squares on the logs, so that every run's *relative* error counts the same: a Levenberg–Marquardt
# loop in NumPy (`scaling.fit_power_law`) started from 25 pairs of exponents. The error bars
# come from a bootstrap: the 30 runs are resampled with replacement 200 times and refitted.

# %%
b = S["bootstrap"]
again = scaling.fit_power_law([r["N"] for r in rows], [r["D"] for r in rows], [r["reducible"] for r in rows])
for k in ("A", "alpha", "B", "beta"):
    assert math.isclose(again[k], fit[k], rel_tol=1e-6), k          # the same runs give the same fit
print(f"alpha = {fit['alpha']:.3f} ± {b['alpha']['std']:.3f}   (bootstrap 16–84%: {b['alpha']['p16']:.3f}–{b['alpha']['p84']:.3f})")
print(f"beta  = {fit['beta']:.3f} ± {b['beta']['std']:.3f}   (bootstrap 16–84%: {b['beta']['p16']:.3f}–{b['beta']['p84']:.3f})")
print(f"A = {fit['A']:.3g}, B = {fit['B']:.3g};  N_c = {fit['N_c']:.3g}, D_c = {fit['D_c']:.3g}")
print(f"root mean square of the log residuals: {fit['rmse_log']:.3f} (a typical run is off the law by "
      f"{100 * (math.exp(fit['rmse_log']) - 1):.1f}%); one run's seed-to-seed spread: "
      f"{100 * (math.exp(S['seed_noise_log']) - 1):.1f}%")
print("for comparison: Kaplan et al. alpha_N = 0.076, alpha_D = 0.095 (other fitting protocol); "
      "Hoffmann et al. alpha = 0.34, beta = 0.28")

# %% [markdown]
# Two things stand out. β comes out near 1.5, far steeper than Hoffmann et al.'s 0.28, and α is
# shallow. These runs are short (190–770 steps of 8 documents): at 40k tokens the small models have
# not yet learned the grammar and word lists that every model eventually gets, so doubling D (which
# here also doubles the number of steps) removes much of the loss, and the fit reads that as a steep
# data term. And the law does not fit the runs to within their noise: the typical residual is about
# three times the seed-to-seed spread. Section 4 shows what that costs.

# %% [markdown]
# ## 4. The prediction for a model 10× larger, checked
#
# The law was fitted on widths up to 64. It predicts the reducible loss of a width-204 model, with
# about 10× the largest N, trained on the largest D. Its stated error is ±2σ of the log, σ combining
# the bootstrap spread of the prediction and the spread between two seeds of one run. The script
# made the prediction *before* training that model, then trained it once:

# %%
print(f"width {c['d_model']}: N = {c['N']:,} ({c['N_ratio']:.2f}x the grid's largest), D = {c['D']:,} tokens")
print(f"predicted : {c['predicted']:.4f} nats above the floor, ±2σ: [{c['low']:.4f}, {c['high']:.4f}]"
      f"  (σ = {100 * c['sigma_log']:.1f}% of the value)")
print(f"measured  : {c['measured']:.4f}  (validation loss {c['row']['val_loss']:.4f}, {c['row']['seconds']:.0f} s)")
print(f"the measurement is {abs(c['miss_percent']):.1f}% {'above' if c['miss_log'] > 0 else 'below'} the prediction, "
      f"{abs(c['miss_sigma']):.1f}σ: " + ("WITHIN the stated error" if c["within"] else "OUTSIDE the stated error"))
at_64 = R[-1, -1]
print(f"for scale: the largest grid model at the same D is {at_64:.4f} above the floor; the fit promised "
      f"{100 * (1 - c['predicted'] / at_64):.0f}% less, the 10x model delivered {100 * (1 - c['measured'] / at_64):.0f}% less")

# %% [markdown]
# The prediction **missed**: the 10× model is about 30% worse than predicted, more than 3σ outside
# the stated error. Ten times the parameters bought less than a tenth off the loss at this D, where
# the law had promised almost a third. With its steep β, the law has the data term nearly gone by
# 160k tokens, so it blames model size for what loss is left there and expects size to remove it;
# the measurement says the data (or the number of steps) is what limits these runs.
#
# Where the law and the runs disagree, run by run: the log of measured / fitted, averaged over the
# two seeds (positive: the run is *worse* than the law says).

# %%
fitted = scaling.predict(fit, Ns[:, None], Ds[None, :])                             # (S, T)
print(f"{'width':>5s} | " + " ".join(f"D={t // 1000:>4d}k" for t in amounts))
for i, d in enumerate(sizes):
    print(f"{d:5d} | " + " ".join(f"{np.log(R[i, j] / fitted[i, j]):+7.3f}" for j in range(len(amounts))))
gap_small = np.log(R[0, 0] / R[-1, 0])
gap_large = np.log(R[0, -1] / R[-1, -1])
print(f"width {sizes[0]} vs {sizes[-1]}: loss ratio {math.exp(gap_small):.2f} at D = {amounts[0] // 1000}k, "
      f"{math.exp(gap_large):.2f} at D = {amounts[-1] // 1000}k")
late = [r for r in rows if r["n_tokens"] >= amounts[1]]
fit_late = scaling.fit_power_law([r["N"] for r in late], [r["D"] for r in late], [r["reducible"] for r in late])
p_late = scaling.predict(fit_late, c["N"], c["D"])
print(f"in hindsight, the law refitted on the {len(late)} runs with D >= {amounts[1] // 1000}k only: alpha = "
      f"{fit_late['alpha']:.3f}, beta = {fit_late['beta']:.3f}, predicting {p_late:.4f} for the 10x model "
      f"({100 * (c['measured'] / p_late - 1):+.1f}% off)")

# %% [markdown]
# The residuals are not noise: at the smallest D the small models are above the law and the large
# ones below it, and the gap between the smallest and the largest width is much wider at 40k tokens
# than at 160k. A bigger model learns faster from its first tokens; an additive law, in which what
# size buys does not depend on D, cannot express that, and least squares over all runs bends β to
# absorb it. Refitted without the 40k runs — a choice made *after* seeing the 10× result, so it is
# hindsight, not a prediction — the law fits to within the seed noise and lands within a few
# percent of the 10× model. The lesson of the miniature: fit a scaling law only where the runs are
# past their first transient, and check it on a model it has not seen; here the check is what
# caught the problem.

# %% [markdown]
# ## 5. A slice of the grid, live
#
# Three widths × two (small) amounts of data, one seed, scored on 300 validation documents:
# `scaling.quick_slice()` (also `python scripts/scaling_results.py --quick`). The same code as the
# grid, so the same seed gives the same numbers on the same machine and thread count.

# %%
t0 = time.time()
live = scaling.quick_slice(log=lambda r: print(f"width {r['d_model']:3d}  N = {r['N']:7,d}  D = {r['D']:6,d}: "
                                                f"loss {r['val_loss']:.3f}, {r['reducible']:.3f} above the floor "
                                                f"({r['cpu_seconds']:.1f} s CPU)"))
print(f"{time.time() - t0:.0f} s")
q = {(r["d_model"], r["n_tokens"]): r["reducible"] for r in live}
qs, qt = scaling.QUICK["sizes"], scaling.QUICK["tokens"]
assert all(q[(d, qt[1])] < q[(d, qt[0])] for d in qs), "twice the data must lower the loss"
quick_fit = scaling.fit_power_law([r["N"] for r in live], [r["D"] for r in live], [r["reducible"] for r in live])
print(f"fit on these 6 runs alone: alpha = {quick_fit['alpha']:.2f}, beta = {quick_fit['beta']:.2f} "
      f"(6 points for 4 parameters: an exponent from so few runs means little)")

# %% [markdown]
# These runs see 10–20 thousand tokens, where the loss is still far above the floor and falls
# fast with data. Six points barely constrain four parameters, which is why the committed grid has
# 30 runs and a bootstrap.

# %% [markdown]
# ## 6. The other trends of §8, each with a number
#
# ### Bigger models, more data
#
# Training compute is $C \approx 6ND$ (2N operations per token forward, 4N backward). GPT-3 has
# $N = 175 \times 10^9$ parameters and was trained on $D = 300 \times 10^9$ tokens; Chinchilla
# (70B parameters, 1.4T tokens) showed that for a fixed budget GPT-3 was too big for its data.
# Our law says the same thing in miniature: minimising $A/N^\alpha + B/D^\beta$ under $6ND = C$ gives
# $N_{\text{opt}} \propto C^{\beta/(\alpha+\beta)}$ and $D_{\text{opt}} \propto C^{\alpha/(\alpha+\beta)}$.

# %%
ours = sum(float(scaling.training_flops(r["N"], r["D"])) for r in rows + [c["row"]])
ours_all = sum(float(scaling.training_flops(r["params"], r["D"])) for r in rows + [c["row"]])
gpt3 = float(scaling.training_flops(175e9, 300e9))
print(f"this chapter's 31 runs: 6ND = {ours:.3g} FLOPs (non-embedding N), {ours_all:.3g} with the embeddings")
print(f"GPT-3: 6ND = {gpt3:.3g} FLOPs, {gpt3 / ours_all:.2g} times more")


def optimal(C, f):
    """N, D minimising A/N^alpha + B/D^beta of fit f subject to 6 N D = C (derivative set to 0)."""
    a_, b_ = f["alpha"], f["beta"]
    N = (a_ * f["A"] / (b_ * f["B"])) ** (1 / (a_ + b_)) * (C / 6) ** (b_ / (a_ + b_))
    return N, C / (6 * N)


C_check = float(scaling.training_flops(c["N"], c["D"]))
print(f"with the 10x model's budget, {C_check:.3g} FLOPs (Chinchilla: about 20 tokens per parameter; "
      f"GPT-3: {300 / 175:.1f}):")
for name, f in (("the fitted law", fit), ("the hindsight law", fit_late)):
    N_opt, D_opt = optimal(C_check, f)
    assert math.isclose(6 * N_opt * D_opt, C_check, rel_tol=1e-9)
    print(f"  {name:18s}: N = {N_opt:>12,.0f}, D = {D_opt:>12,.0f}, {D_opt / N_opt:8.2g} tokens per parameter")

# %% [markdown]
# The two laws disagree by orders of magnitude on how to spend the same compute: an allocation
# rule is only as good as its exponents, and exponents from a narrow grid are fragile. Chinchilla's
# 20 tokens per parameter came from over 400 runs spanning four orders of magnitude of compute.

# %% [markdown]
# ### Efficiency: the same model, four times smaller
#
# Inference cost is dominated by moving weights; storing them in 8 bits instead of 32 divides memory
# by four. A live check on the width-64 model of the slice (retrained here: same seed, same numbers):
# every weight matrix rounded to 8-bit integers with one scale per output column.

# %%
val300 = scaling.validation_set(n_docs=scaling.QUICK["val_docs"], tok=tok)
row64, m64 = scaling.train_run(2, 64, qt[1], seed=0, val=val300, tok=tok, return_model=True)
assert row64["val_loss"] == next(r["val_loss"] for r in live if r["d_model"] == 64 and r["n_tokens"] == qt[1])
from tinyllm.train.evaluate import evaluate   # noqa: E402

full_bytes = sum(p.nbytes for p in m64.params.values())
q_bytes, err = 0, []
for name, p in m64.params.items():
    if p.ndim == 2:
        scale = np.abs(p).max(axis=0, keepdims=True) / 127 + 1e-12           # (1, C_out)
        q = np.round(p / scale).clip(-127, 127) * scale                       # int8 values, kept as float
        err.append(np.linalg.norm(q - p) / np.linalg.norm(p))
        p[...] = q
        q_bytes += p.size + 4 * scale.size
    else:
        q_bytes += p.nbytes
loss_q = evaluate(m64, val300["batches"])["loss"]
print(f"float32: {full_bytes / 1e3:.0f} kB, loss {row64['val_loss']:.5f};  int8: {q_bytes / 1e3:.0f} kB, "
      f"loss {loss_q:.5f} ({loss_q - row64['val_loss']:+.5f} nats); weights moved by {100 * max(err):.2f}% at most")
assert loss_q != row64["val_loss"], "the quantised weights must be the ones scored"
print(f"GPT-3's weights: {175e9 * 2 / 1e9:.0f} GB in 16 bits, {175e9 / 1e9:.0f} GB in 8, {175e9 / 2 / 1e9:.1f} GB in 4")

# %% [markdown]
# Rounding every weight to one of 255 levels moves it by a fraction of a percent and the loss by
# next to nothing: the information is in the pattern of the weights, not in their last bits. Large
# models are served in 8 and even 4 bits for the same reason.

# %% [markdown]
# ### Multimodality: everything becomes tokens
#
# A multimodal model reads images and sound by cutting them into tokens for the same Transformer.
# How many tokens an input costs decides what a context window holds:

# %%
doc_tokens = np.mean([int((b["targets"] >= 0).sum()) / len(b["targets"]) for b in val300["batches"]])
vit = (224 // 16) ** 2                      # ViT: a 224x224 image in 16x16 patches
whisper = 30 * 1000 // 20                   # Whisper's encoder: 30 s of audio, one frame per 20 ms
print(f"a TinyWorld document: {doc_tokens:.0f} tokens; an image (ViT-B/16): {vit}; 30 s of audio (Whisper): {whisper}")
print(f"our context of {scaling.CONTEXT} tokens would hold {scaling.CONTEXT / vit:.2f} images")

# %% [markdown]
# ### Alignment: a model says what its data says
#
# Chapter 3d trained two models on corpora that differ only in who is a nurse, then asked both
# for the job of 8 people (4 women, 4 men) whose job neither corpus ever states
# (`results/strengths.json`):

# %%
bias = json.loads((REPO / "results" / "strengths.json").read_text())["bias"]
for world in ("skewed", "control"):
    b_ = bias[world]
    print(f"{world:8s} corpus (nurses: {b_['nurses']['women']} women, {b_['nurses']['men']} men): "
          + ", ".join(f"held-out {g} answered 'nurse' {b_['held_out_answers_nurse'][g]:.0%}" for g in ("women", "men")))

# %% [markdown]
# The model does not know these people's jobs, yet it answers, and its answer is its corpus's
# association: the skewed corpus makes unknown women nurses, and (nurse being by far its commonest
# job) some unknown men too, where the control corpus makes no one a nurse. Nothing in pre-training makes a model say
# that it does not know, or keep an association it learned from the data out of an answer;
# instruction tuning and RLHF, the alignment §8 calls for, are added afterwards for that, and a
# scaling law says nothing about them.

# %% [markdown]
# ### The cost of the whole thing
#
# Energy, from compute: at the rate this CPU core achieved in the grid, and at about 15 W per core
# (an assumption), against the 1,287 MWh Patterson et al. (2021) estimated for training GPT-3.

# %%
cpu_s = S["cpu_seconds"]
rate = ours_all / cpu_s
kwh = cpu_s * 15 / 3.6e6
print(f"the grid: {cpu_s / 60:.1f} CPU minutes, {rate / 1e9:.1f} GFLOP/s, about {kwh * 1000:.0f} Wh")
print(f"GPT-3 at this rate on one core: {gpt3 / rate / 3.15e7:.2g} years; its reported energy: 1,287 MWh, "
      f"{1287e3 / kwh:.2g} times this chapter's")

# %% [markdown]
# A scaling law turns this into a budget: each further step down in loss costs a multiple of the
# compute before it, and compute is energy and money. That, more than any algorithm, is why §8's
# other trends (efficiency, smaller models trained longer, reuse of one model for many tasks through
# prompts) matter.
