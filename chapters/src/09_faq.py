"""Source of chapters/09_faq.ipynb. Build: python chapters/_build.py chapters/src/09_faq.py"""

# %% [markdown]
# # Chapter 9 — Common questions, each answered by running it (§9 常见问题)
#
# Eight questions a learner asks about large language models and prompts. Each answer is a cell
# that shows it on numbers: small experiments run live; longer ones (a few minutes on the zoo
# model) were run by `python scripts/faq_results.py`, which wrote `results/faq.json`, and this
# chapter reads that file. The live parts use small random models, so the chapter needs no
# download and runs in well under a minute.

# %%
import json
import math
import pathlib

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm import ops
from tinyllm.data import tinyworld
from tinyllm.generate import generate, next_token_probs
from tinyllm.models import GPT, GPTConfig

REPO = pathlib.Path(tinyllm.__file__).resolve().parent.parent
faq = json.loads((REPO / "results" / "faq.json").read_text())
rng = np.random.default_rng(0)
tok = tinyworld.tokenizer()
print("long experiments measured on", faq["model"])

# %% [markdown]
# ## 1. Why divide by $\sqrt{d_k}$?
#
# $A = \mathrm{softmax}(QK^\top/\sqrt{d})$ (E3.2). If the entries of a query and a key are
# independent with variance 1, their dot product is a sum of $d$ such products: its variance is
# $d$. Without the division, scores grow like $\sqrt d$ and the softmax saturates: one weight near
# 1, the rest near 0, and the softmax's gradient ($y\odot(\partial y - \langle\partial y, y\rangle)$,
# S1) vanishes with it. Dividing by $\sqrt d$ keeps the score variance at 1 whatever the head width.

# %%
print(f"{'d':>5s} {'var(qk)':>9s} {'max weight, unscaled':>21s} {'scaled':>7s} {'|grad| unscaled':>16s} {'scaled':>7s}")
for d in (4, 16, 64, 256):
    q = rng.standard_normal((1, 1, 64, d))                   # (B, H, T, d)
    k = rng.standard_normal((1, 1, 64, d))
    dA = rng.standard_normal((1, 1, 64, 64))
    row = {}
    for name, scale in (("unscaled", 1.0), ("scaled", 1 / math.sqrt(d))):
        A, cache = ops.matmul_softmax_forward(q, k, scale=scale)      # E3.2
        dS = ops.matmul_softmax_backward(dA, cache)[0]                 # dq
        row[name] = (A.max(axis=-1).mean(), np.linalg.norm(dS) / np.linalg.norm(q))
    var = (q[0, 0] @ k[0, 0].T).var()
    print(f"{d:5d} {var:9.1f} {row['unscaled'][0]:21.3f} {row['scaled'][0]:7.3f} "
          f"{row['unscaled'][1]:16.4f} {row['scaled'][1]:7.4f}")
assert row["unscaled"][0] > 0.8 and row["scaled"][0] < 0.5

# %% [markdown]
# At $d = 256$ the unscaled softmax puts almost all its weight on one key: attention has become a
# hard lookup that gradient descent can hardly move. The scaled one stays soft at every width.

# %% [markdown]
# ## 2. Why pre-LN?
#
# GPT-2 normalises *before* each sub-layer, $x + f(\mathrm{LN}(x))$; the original Transformer and
# BERT *after*, $\mathrm{LN}(x + f(x))$ (S7). In pre-LN the residual stream is a straight road from
# the loss to every layer (the gradient always has an identity path); in post-LN it crosses a
# LayerNorm at every block, and the early steps of training need a learning-rate warm-up to stay
# stable. The same 6-layer GPT, trained 150 steps on TinyWorld with each arrangement (last-20-step
# training loss, nats per token; `scripts/faq_results.py`):

# %%
r = faq["pre_ln"]
for lr, losses in r["final_loss"].items():
    print(f"lr {lr:>6s}: " + "   ".join(f"{k} {v:.3f}" for k, v in losses.items()))
big = r["final_loss"]["0.01"]
assert big["pre-LN"] < big["post-LN"]

# %% [markdown]
# At a small learning rate both train alike; at a large one, without warm-up, post-LN stalls while
# pre-LN trains on; a warm-up brings post-LN back (and then it even does better here). A live slice
# of the same comparison: 60 steps of batch 8, learning rate 1e-2, no warm-up. The post-LN model is
# the GPT with its blocks switched to
# `norm="post"`; every block's cache records its arrangement, so the hand-written backward follows.

# %%
from tinyllm.data.framing import causal_batch, frame_causal   # noqa: E402
from tinyllm.train.optim import AdamW                            # noqa: E402


class PostLNGPT(GPT):
    def _blocks_forward(self, x, norm, *args):
        return super()._blocks_forward(x, "post", *args)


docs = [frame_causal(tok.encode(t), tok.bos_id, tok.eos_id) for t in tinyworld.texts(640, seed=0)]


def short_run(cls, lr=1e-2, steps=60):
    m = cls(GPTConfig(vocab_size=len(tok), n_layer=6, n_head=4, d_model=64, max_len=48), seed=0)
    opt, r = AdamW(m.params, lr=lr, weight_decay=0.0), np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x, y = causal_batch([docs[i] for i in r.choice(len(docs), 8)], tok.pad_id, 48)
        loss, g = m.loss_and_grads(x, y)
        opt.step(g)
        losses.append(loss)
    return losses


pre, post = short_run(GPT), short_run(PostLNGPT)
plt.figure(figsize=(5, 3))
plt.plot(pre, label="pre-LN")
plt.plot(post, label="post-LN")
plt.xlabel("step"); plt.ylabel("training loss"); plt.legend(); plt.title("lr 1e-2, no warm-up")
plt.show()
print(f"last 10 steps: pre-LN {np.mean(pre[-10:]):.3f}, post-LN {np.mean(post[-10:]):.3f}")
assert np.mean(pre[-10:]) < np.mean(post[-10:])

# %% [markdown]
# ## 3. Why does BERT mask 15%?
#
# Masking is a trade: each masked position is one training signal (E3.7), but every mask also
# hides context the model needs to predict the others. With rate $r$ a 48-token document gives
# $48r$ predictions from a context of $48(1-r)$ visible tokens. BERT's authors picked 15% (S10:
# of those, 80% [MASK], 10% random, 10% kept); later work (Wettig et al., 2023) found higher rates
# better for many models. What counts here is whether the model learns the world's *facts*, which a
# cloze probe measures (LAMA P@1 over all 254 facts, "Anna lives in [MASK] ."):

# %%
from tinyllm.data.masking import mlm_mask   # noqa: E402

ids = np.array([tok.encode(tinyworld.texts(1, seed=3)[0])[:40]])
for rate in (0.15, 0.4):
    corrupted, labels = mlm_mask(ids, np.random.default_rng(0), vocab_size=len(tok), mask_id=tok.mask_id,
                                 special_ids=[tok.pad_id, tok.cls_id, tok.sep_id], mask_prob=rate)
    print(f"{rate:.0%}: {int((labels != -100).sum())} predictions |", tok.decode(corrupted[0]))
for name, m in faq["bert_masking"]["models"].items():
    print(f"{name}: masking {m['mask_prob']:.0%}, cloze P@1 {m['p_at_1']:.3f}")

# %% [markdown]
# With the article's 15%, the TinyWorld BERT learned the grammar (its masked-token accuracy is in the
# README) but few facts: its cloze P@1 is low. In a TinyWorld document most tokens are predictable
# grammar, so at 15% a fact word is rarely the one hidden; a higher rate makes the model predict
# content words far more often. The zoo's context-256 BERT was pre-trained with 40%: its line above
# shows what that bought on this strict probe (top-1 over the whole vocabulary, at the start of a
# context) — measure before you believe a recipe.

# %% [markdown]
# ## 4. Why does a prompt help a small model?
#
# A prompt turns the task into the pre-training task (E2.2 instead of E2.1): the model is asked
# to continue text of a kind it has read thousands of times, so what it learned is used directly,
# with **no** labelled example. A classifier head on the same frozen model has to learn the task
# from labelled examples first. Review sentiment on the zoo model: zero-shot prompts (the corpus's
# own closing sentences as label words, and an everyday "it was great / awful") against a
# logistic-regression head trained on the model's output with k examples per class (5 draws each):

# %%
r = faq["prompt_vs_head"]
ks = [int(k) for k in r["head"]]
means = np.array([r["head"][str(k)]["mean"] for k in ks])
stds = np.array([r["head"][str(k)]["std"] for k in ks])
plt.figure(figsize=(5, 3))
plt.errorbar(ks, means, yerr=stds, marker="o", capsize=3, label="head on the frozen model, k per class")
plt.axhline(r["prompt_native"], color="tab:green", ls="--", label="prompt, corpus words, 0 examples")
plt.axhline(r["prompt_naive"], color="tab:red", ls=":", label="prompt, 'great'/'awful', 0 examples")
plt.xscale("log", base=2); plt.xlabel("labelled examples per class"); plt.ylabel("test accuracy")
plt.legend(fontsize=7); plt.show()
for k in ks:
    print(f"k={k:3d}: head {r['head'][str(k)]['mean']:.3f} ± {r['head'][str(k)]['std']:.3f}")
print(f"prompt (0 examples): {r['prompt_native']:.3f} with the corpus's words, {r['prompt_naive']:.3f} naive")
assert r["prompt_native"] >= r["head"]["1"]["mean"]

# %% [markdown]
# The head needs several examples per class to catch up with a prompt that needs none, and with one
# or two examples it depends heavily on which ones were drawn (the error bars). The wording of the
# prompt matters too: words the corpus uses beat words it never writes there.

# %% [markdown]
# ## 5. Why do random soft prompts fail?
#
# A soft prompt (S12) is a block of trainable vectors spliced into the input embeddings of a
# frozen model. Initialised at random, they are points in embedding space that no word occupies:
# the frozen model has never seen anything like them, so at step 0 they only disturb it, and a few
# dozen labelled examples cannot teach it a new "word" from scratch. Initialised from real words
# ("it was") and placed where those words would stand, they start exactly at the hard template
# and training can only move them somewhere useful. Live, on a small random model: `{soft:it was}`
# at step 0 gives the hard template's probabilities bit for bit, and `{soft*8}` does not.

# %%
from tinyllm.prompt.prompt_model import PromptModel   # noqa: E402

small = GPT(GPTConfig(vocab_size=len(tok), n_layer=1, n_head=2, d_model=32, max_len=64), seed=0)
words = {"positive": ["great"], "negative": ["awful"]}
texts = ["review: I ate soup at a cafe in Tolmar on Monday. the taste was bland and the price was cold."]
hard = PromptModel(small, tok, "{x} it was {mask} .", words).predict_proba(texts)
from_words = PromptModel(small, tok, "{x} {soft:it was} {mask} .", words).predict_proba(texts)
at_random = PromptModel(small, tok, "{soft*8} {x} {mask} .", words).predict_proba(texts)
print("hard", hard[0], " soft from words", from_words[0], " 8 random soft", at_random[0])
assert np.array_equal(hard, from_words) and not np.allclose(hard, at_random)

# %% [markdown]
# Trained: sentiment with "great"/"awful", 32 labelled examples, Adam on the prompt only (the model
# frozen), accuracy on 200 test reviews every 10 steps (`scripts/faq_results.py`), on the applications'
# zoo model and on the smaller context-48 one:

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
for ax, key in zip(axes, ("soft_prompts", "soft_prompts_small")):
    r = faq[key]
    for name, v in r["runs"].items():
        steps = [int(k) for k in v["curve"]]
        ax.plot(steps, list(v["curve"].values()), marker="o", label=name)
        print(f"{r.get('model', faq['model']):18s} {name:34s} step 0: {v['step0']:.3f}   after {r['steps']}: {v['trained']:.3f}")
    ax.set_title(r.get("model", faq["model"]), fontsize=9); ax.set_xlabel("training step")
axes[0].set_ylabel("test accuracy"); axes[0].legend(fontsize=7)
plt.show()
for key in ("soft_prompts", "soft_prompts_small"):
    runs = list(faq[key]["runs"].values())
    assert runs[2]["step0"] == runs[0]["step0"] and runs[1]["step0"] < runs[2]["step0"]

# %% [markdown]
# Random vectors start at chance: they wipe out what the hard prompt already did. The vectors
# initialised from words start where the hard prompt is and only improve. Whether the random ones
# recover depends on the model and the budget: the larger context-256 model pulls them back to the
# top within a few dozen steps on this easy two-class task, the smaller one does not — with few
# examples and steps, a random start is a handicap that may never be repaid.

# %% [markdown]
# ## 6. What does temperature do?
#
# Sampling draws the next token from $p_i \propto e^{z_i/\tau}$ (S14). Dividing the logits by
# $\tau < 1$ sharpens the distribution towards the argmax (greedy decoding is the limit
# $\tau \to 0$); $\tau > 1$ flattens it towards uniform. The zoo model's logits after
# "facts: Anna lives in" (stored top 8), turned into probabilities at three temperatures:

# %%
r = faq["temperature"]
names, z = list(r["logits_anna_lives_in"]), np.array(list(r["logits_anna_lives_in"].values()))
for tau in (0.5, 1.0, 2.0):
    p = next_token_probs(z, temperature=tau)                          # S14 on the 8 stored logits
    print(f"tau {tau}: " + "  ".join(f"{n} {q:.3f}" for n, q in zip(names[:4], p[:4])))
print("\nsampling 'facts: NAME lives in ___' 400 times: how often the sampled town is the true one")
for tau, v in r["by_tau"].items():
    print(f"tau {tau:>4s}: true fact {v['true_fact']:.3f}   entropy {v['entropy_bits']:.2f} bits")
assert r["by_tau"]["0.25"]["true_fact"] >= r["by_tau"]["3.0"]["true_fact"]

# %% [markdown]
# Low temperature repeats what the model believes most; high temperature invents: past $\tau = 1$
# the model starts to "hallucinate" towns it knows are wrong. Temperature trades faithfulness for
# variety; it adds no knowledge.

# %% [markdown]
# ## 7. Why does the KV cache give the same answer?
#
# A causal model's token $t$ attends only to tokens $\le t$ (S3). So the keys and values of the
# first $t$ tokens never change when token $t+1$ arrives: computing them again is wasted work. The
# cache keeps them and feeds only the new token through the network, and the logits are the same
# (up to float rounding). Live: the logits of a prefix do not change when the sequence grows, and
# cached and uncached generation give the same tokens.

# %%
ids = tok.encode("question: where does Anna live? answer:")
full = small.forward(np.array([ids]))[0]                         # (T, V)
shorter = small.forward(np.array([ids[:5]]))[0]                  # (5, V)
print("logits of the first 5 tokens, with and without the rest: max |diff| =",
      float(np.abs(full[:5] - shorter).max()))
a, la = generate(small, ids, max_new_tokens=12, greedy=True, use_cache=True, return_logits=True)
b, lb = generate(small, ids, max_new_tokens=12, greedy=True, use_cache=False, return_logits=True)
print("same tokens:", a == b, "  max |logit diff|:", float(np.abs(la - lb).max()))
assert a == b and np.abs(la - lb).max() < 1e-4

# %% [markdown]
# ## 8. What is perplexity in bits?
#
# The cross-entropy $H$ is the mean negative log-likelihood per token (S2, E4.1). In nats it uses
# $\ln$; in bits, $\log_2$: $H_\text{bits} = H_\text{nats}/\ln 2$. Perplexity is the same number
# seen as a choice: $\mathrm{PPL} = e^{H_\text{nats}} = 2^{H_\text{bits}}$, the number of equally
# likely tokens the model is, on average, hesitating between. A model that knows nothing would
# spread its bets evenly over the $V$ tokens: $\log_2 V$ bits, perplexity $V$; a randomly
# initialised one does a little worse than even:

# %%
x, y = causal_batch(docs[:32], tok.pad_id)
nats = small.loss(x, y)
print(f"random model: {nats:.3f} nats = {nats / math.log(2):.3f} bits per token, perplexity {math.exp(nats):.0f}"
      f" (V = {len(tok)}, log2 V = {math.log2(len(tok)):.2f})")
r = faq["perplexity"]
print(f"zoo model on {r['n_docs']} test documents: {r['nats']:.4f} nats = {r['bits']:.4f} bits per token, "
      f"perplexity {r['perplexity']:.3f} = 2^{r['bits']:.3f}")
print(f"TinyWorld's entropy floor: {r['floor_nats']:.4f} nats = {r['floor_bits']:.4f} bits per token")
assert abs(2 ** r["bits"] - r["perplexity"]) < 1e-9 and r["bits"] >= r["floor_bits"]

# %% [markdown]
# So the trained model is, per token, about as uncertain as a choice between two equally likely
# words — and TinyWorld's own generator makes choices worth about one bit per token, the floor no
# model can beat.
