"""Source of chapters/03b_pretraining.ipynb. Build: python chapters/_build.py chapters/src/03b_pretraining.py"""

# %% [markdown]
# # Chapter 3b — Pre-training in ten steps (§3.2 算法步骤详解)
#
# Section 3.2 of the article breaks the pre-training of a Transformer language model into ten steps:
#
# | step | the article's step | tinyllm |
# |---|---|---|
# | 1 | prepare a corpus: collect and clean raw text | `tinyllm.data.tinyworld`, `tinyllm.data.text` |
# | 2 | build a vocabulary from word frequencies (top K) | `WordTokenizer.train` |
# | 3 | encode text as ids, add special tokens | `tok.encode`, `frame_causal`, `bert_inputs` |
# | 4 | load the data in batches | `causal_batch`, `mlm_mask` (S10), `DocumentBatches` |
# | 5 | build the model: layers, heads, width | `GPTConfig`, `GPT`, `BERT` |
# | 6 | the loss: autoregressive (E3.6) or autoencoding (E3.7) | `loss_and_grads` |
# | 7 | the optimiser: Adam, learning rate, weight decay (S9) | `AdamW`, `WarmupCosine`, `clip_grad_norm` |
# | 8 | iterate: batch after batch of gradient descent | `Trainer.fit` |
# | 9 | evaluate on validation data: perplexity (E4.1), early stopping | `evaluate` |
# | 10 | store the model as a checkpoint | `save_pretrained`, `Trainer` checkpoints |
#
# One section per step below; every formula is followed by the code that computes it and a check.
# A last section generates text from the trained model (S14).

# %%
from tinyllm.runtime import configure_threads

configure_threads()   # BLAS and OpenMP threads chosen on purpose: 1, or OMP_NUM_THREADS (tinyllm.runtime)

import json
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tinyllm.data import WordTokenizer, load_tokenizer, tinyworld
from tinyllm.data.framing import bert_inputs, causal_batch, frame_causal
from tinyllm.data.masking import mlm_mask
from tinyllm.data.text import clean_text
from tinyllm.generate import generate, generate_text, next_token_probs
from tinyllm.models import BERT, BERTConfig, GPT, GPTConfig
from tinyllm.ops.softmax import log_softmax_forward
from tinyllm.train import (AdamW, DocumentBatches, TrainConfig, Trainer, WarmupCosine, clip_grad_norm,
                           evaluate, fixed_causal_batches, global_norm)

np.set_printoptions(precision=4, suppress=True)
WORK = Path(tempfile.mkdtemp())          # every file this chapter writes goes here

# %% [markdown]
# ## Step 1 — The corpus
#
# Pre-training needs a lot of unlabelled text, and real text needs cleaning first: consistent line
# endings, no control characters, no runs of blank lines. `tinyllm.data.text.clean_text` does that
# for any UTF-8 file; `tinyllm pretrain --corpus PATH` applies it.
#
# Our corpus is TinyWorld: generated, so already clean, and with a bonus — every document comes
# with its exact log-probability under the generator. Train, validation and test documents never
# overlap (a hash of the text decides the split).

# %%
messy = "The  cat\r\nsat.\x07\n\n\n\nThe end.\t \n"
print(repr(clean_text(messy)))

train_docs = tinyworld.sample(4000, seed=0, split="train")
val_docs = tinyworld.sample(300, seed=1, split="validation")
print(len(train_docs), "training documents, e.g.")
for d in train_docs[:4]:
    print(f"  log P = {d.logprob:7.2f}  {d.text}")
assert not {d.text for d in train_docs} & {d.text for d in val_docs}

# %% [markdown]
# ## Step 2 — The vocabulary
#
# The article's recipe: count how often each word occurs and keep the K most frequent. Words outside
# the vocabulary become `[UNK]`. `WordTokenizer.train` does exactly that; TinyWorld's own tokenizer
# holds every word the generator can write, so it never needs `[UNK]`.

# %%
texts = [d.text for d in train_docs]
small = WordTokenizer.train(texts, vocab_size=60, lower=False)
print("top-K vocabulary (K = 60 incl. 7 special tokens):", small.vocab()[7:27], "...")
print("with it:", [small.id_to_token(i) for i in small.encode(texts[0])][:14])
tok = tinyworld.tokenizer()
print("TinyWorld vocabulary:", tok.vocab_size, "tokens; specials:", tok.vocab()[:7])

# %% [markdown]
# ## Step 3 — Encoding
#
# Text becomes a list of ids. Special tokens mark the structure the model needs to see: a GPT reads
# a document as `[BOS] text [EOS]` (so it learns how documents start and when they end); a BERT reads
# `[CLS] text [SEP]` (with `[PAD]` to fill a batch, `[MASK]` for hidden words).

# %%
ids = tok.encode(texts[0])
gpt_row = frame_causal(ids, tok.bos_id, tok.eos_id)
bert_row = bert_inputs([ids], cls_id=tok.cls_id, sep_id=tok.sep_id, pad_id=tok.pad_id)["input_ids"][0]
print("GPT :", [tok.id_to_token(i) for i in gpt_row][:8], "...", tok.id_to_token(gpt_row[-1]))
print("BERT:", [tok.id_to_token(i) for i in bert_row][:8], "...", tok.id_to_token(int(bert_row[-1])))
assert tok.decode(ids) == texts[0]

# %% [markdown]
# ## Step 4 — Batches
#
# **Causal LM.** One document per row; the input is the row without its last token and the target is
# the row shifted left by one, so position $i$ is trained to predict token $i+1$ — the factor
# $P(x_i \mid x_{<i})$ of E3.6. Padding positions get the target $-100$, which the loss skips.

# %%
x, y = causal_batch([frame_causal(tok.encode(t), tok.bos_id, tok.eos_id) for t in texts[:3]], tok.pad_id)
print("inputs :", x[2, :8])
print("targets:", y[2, :8])
real = y[:, 1:] != -100                      # where input i+1 is a real token, it equals target i
assert np.array_equal(x[:, 1:][real], y[:, :-1][real])

# %% [markdown]
# **Masked LM (S10).** BERT sees the whole sentence at once, so it cannot be asked for the next
# word. Instead 15% of the ordinary positions are chosen; of those, 80% become `[MASK]`, 10% a random
# word and 10% stay unchanged. The labels keep the original word only at the chosen positions:
# these are the $x_i$ of E3.7.

# %%
enc = bert_inputs([tok.encode(t) for t in texts[:2000]], cls_id=tok.cls_id, sep_id=tok.sep_id,
                  pad_id=tok.pad_id)
corrupted, labels = mlm_mask(enc["input_ids"], np.random.default_rng(0), vocab_size=tok.vocab_size,
                             mask_id=tok.mask_id, special_ids=tok.special_ids,
                             attention_mask=enc["attention_mask"])
chosen = labels != -100
ordinary = enc["attention_mask"].astype(bool) & ~np.isin(enc["input_ids"], list(tok.special_ids))
print(f"chosen: {chosen.sum() / ordinary.sum():.3f} of ordinary tokens (S10: 0.15)")
print(f"  -> [MASK] {np.mean(corrupted[chosen] == tok.mask_id):.3f} (0.8), "
      f"unchanged {np.mean(corrupted[chosen] == labels[chosen]):.3f} (0.1 + the random draws that hit the same word), "
      f"random {np.mean((corrupted[chosen] != tok.mask_id) & (corrupted[chosen] != labels[chosen])):.3f} (about 0.1)")
print("one row:", [tok.id_to_token(int(i)) for i in corrupted[0][:14]])

# %% [markdown]
# ## Step 5 — The model
#
# The hyper-parameters of step 5 are a config: layers, heads, width, context length. A GPT of two
# blocks, four heads and width 64 has about 170 thousand parameters, most of them in the embedding
# table (1,032 words × 64).

# %%
gpt_config = GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, d_model=64, max_len=48)
gpt = GPT(gpt_config, seed=0)
bert = BERT(BERTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, d_model=64, max_len=48), seed=0)
print(f"GPT  {gpt.num_params():>8,} parameters;  embedding table {gpt.params['tok_emb'].shape}")
print(f"BERT {bert.num_params():>8,} parameters")

# %% [markdown]
# ## Step 6 — The loss
#
# Autoregressive (GPT), summed over the tokens of a sequence:
#
# $$L(\theta) = -\sum_{i=1}^{n} \log P(x_i \mid x_{<i};\theta) \qquad \text{(E3.6)}$$
#
# `loss_and_grads` reports the mean over predicted tokens (the sum divided by $n$). Below the sum
# is computed by hand from the logits and compared.

# %%
logits = gpt.forward(x)                                           # (B, T, V)
logp, _ = log_softmax_forward(logits.astype(np.float64))          # log P(. | x_<i)
keep = y != -100
E36_sum = -logp[keep, y[keep]].sum()                              # -sum_i log P(x_i | x_<i)
loss, grads = gpt.loss_and_grads(x, y)
print(f"E3.6 by hand: sum {E36_sum:.3f} over n = {keep.sum()} tokens -> mean {E36_sum / keep.sum():.5f}")
print(f"GPT.loss_and_grads: {loss:.5f}")
assert abs(E36_sum / keep.sum() - loss) < 1e-4

# %% [markdown]
# Autoencoding (BERT), summed over the masked positions only:
#
# $$L(\theta) = -\sum_{i \in \text{masked}} \log P(x_i \mid x_{\setminus i};\theta) \qquad \text{(E3.7)}$$

# %%
xb, yb, mb = corrupted[:4], labels[:4], enc["attention_mask"][:4]
blogp, _ = log_softmax_forward(bert.forward(xb, attention_mask=mb).astype(np.float64))
m = yb != -100
E37_sum = -blogp[m, yb[m]].sum()
bloss, _ = bert.loss_and_grads(xb, yb, attention_mask=mb)
print(f"E3.7 by hand: sum {E37_sum:.3f} over {m.sum()} masked tokens -> mean {E37_sum / m.sum():.5f}; "
      f"BERT: {bloss:.5f}")
assert abs(E37_sum / m.sum() - bloss) < 1e-4

# %% [markdown]
# ## Step 7 — The optimiser (S9)
#
# Adam keeps two running averages per parameter, of the gradient and of its square, corrects
# their start-up bias, and takes a step whose size is set per coordinate. AdamW adds the weight
# decay *outside* the adaptive part (decoupled), and tinyllm applies it to weight matrices only —
# never to biases or LayerNorm gains:
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
# \hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t}$$
#
# $$\theta_t = \theta_{t-1} - \eta_t\left(\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \lambda\,\theta_{t-1}\right) \qquad \text{(S9)}$$
#
# Two more pieces of S9: the gradient is rescaled when its global norm $\lVert g\rVert_2$ exceeds
# a threshold $c$ ($g \leftarrow g\cdot\min(1, c/\lVert g\rVert)$), and the learning rate $\eta_t$
# rises linearly during a warm-up, then follows half a cosine down to a minimum.

# %%
W = gpt.params["h.0.attn.W_Q"].astype(np.float64).copy()
g = grads["h.0.attn.W_Q"].astype(np.float64)
lr, b1, b2, eps, wd = 1e-2, 0.9, 0.95, 1e-8, 0.1
m1 = (1 - b1) * g                                    # m_1 (m_0 = 0)
v1 = (1 - b2) * g * g                                # v_1
m_hat, v_hat = m1 / (1 - b1), v1 / (1 - b2)          # bias correction at t = 1
by_hand = W - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * W)
params = {"h.0.attn.W_Q": W.copy(), "h.0.attn.b_Q": np.zeros(64)}
AdamW(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd).step(
    {"h.0.attn.W_Q": g, "h.0.attn.b_Q": np.ones(64)})
print("max |AdamW - by hand| =", np.abs(params["h.0.attn.W_Q"] - by_hand).max())
assert np.allclose(params["h.0.attn.W_Q"], by_hand, rtol=1e-12, atol=1e-15)
assert np.allclose(params["h.0.attn.b_Q"], -lr * 1 / (1 + eps))      # a bias: no weight decay

clipped = {k: v.astype(np.float64) for k, v in grads.items()}
norm = clip_grad_norm(clipped, 1.0)
print(f"global gradient norm {norm:.3f} -> after clipping at 1.0: {global_norm(clipped):.3f}")

schedule = WarmupCosine(lr=5e-3, total=400, warmup=30, min_lr=5e-4)
fig, ax = plt.subplots(figsize=(5, 2.5))
ax.plot([schedule(s) for s in range(400)]); ax.set_xlabel("step"); ax.set_ylabel("learning rate")
ax.set_title("warm-up + cosine (S9)"); plt.show()

# %% [markdown]
# ## Step 8 — Training iterations
#
# The trainer repeats: next batch → `loss_and_grads` → clip → AdamW step at the scheduled rate,
# and validates every `eval_every` steps. It also keeps checkpoints (step 10), stops on a NaN, and
# saves cleanly on Ctrl-C. Here, 400 steps of 16 documents.

# %%
framed = [frame_causal(tok.encode(t), tok.bos_id, tok.eos_id) for t in texts]
val_framed = [frame_causal(tok.encode(d.text), tok.bos_id, tok.eos_id) for d in val_docs]
val_batches = fixed_causal_batches(val_framed, 64, tok.pad_id, gpt_config.max_len)
floor = tinyworld.entropy_floor(val_docs, tok)
trainer = Trainer(gpt, DocumentBatches(framed, 16, tok.pad_id, gpt_config.max_len, seed=0), val_batches,
                  TrainConfig(steps=400, lr=5e-3, min_lr=5e-4, warmup=30, eval_every=100, log_every=10,
                              extra={"entropy_floor": floor}),
                  tokenizer=tok, out_dir=WORK / "run", progress=False)
result = trainer.fit()
print(result.status, result.step, "steps;", f"{trainer.tokens_seen / trainer.train_time:,.0f} tokens/s")

# %% [markdown]
# ## Step 9 — Validation: cross-entropy and perplexity (E4.1)
#
# Maximum likelihood over the corpus (E4.1):
#
# $$\theta^* = \arg\max_\theta \prod_{i=1}^{n} \prod_{j=1}^{l_i} P(x^{(i)}_j \mid x^{(i)}_{<j};\theta)$$
#
# Taking $-\log$ and dividing by the number of tokens $N = \sum_i l_i$ turns the product into the
# mean negative log-likelihood, the **cross-entropy** $H = -\frac1N\sum_{i,j}\log P(x^{(i)}_j\mid x^{(i)}_{<j})$,
# and its exponential is the **perplexity** $e^{H}$. On TinyWorld, the generator's own probabilities
# give the floor: $H_{\min} = -\frac1N\sum_i \log P_{\text{gen}}(x^{(i)})$. No model can go below it
# on average. The trainer evaluated at every 100 steps; early stopping (`patience`) would stop a run
# whose validation loss no longer improves.

# %%
for e in trainer.evals:
    print(f"step {e['step']:3d}: cross-entropy {e['val_loss']:.4f}, perplexity {e['val_ppl']:.3f} "
          f"= exp({e['val_loss']:.4f})")
    assert abs(e["val_ppl"] - math.exp(e["val_loss"])) < 1e-9
m = evaluate(gpt, val_batches)
# E4.1 by hand: the sum of log-probabilities of every validation token, then the mean
total_logp, n_tokens = 0.0, 0
for b in val_batches:
    lp, _ = log_softmax_forward(gpt.forward(b["idx"]).astype(np.float64))
    k = b["targets"] != -100
    total_logp += lp[k, b["targets"][k]].sum()
    n_tokens += k.sum()
print(f"log of E4.1's product over the validation set: {total_logp:.1f} over {n_tokens} tokens")
print(f"cross-entropy {-total_logp / n_tokens:.4f} (evaluate: {m['loss']:.4f}), floor {floor:.4f}")
assert abs(-total_logp / n_tokens - m["loss"]) < 1e-6 and m["loss"] > floor

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot([h["step"] for h in trainer.history], [h["loss"] for h in trainer.history], label="train")
ax.plot([e["step"] for e in trainer.evals], [e["val_loss"] for e in trainer.evals], "o-", label="validation")
ax.axhline(floor, color="k", ls="--", label=f"entropy floor {floor:.3f}")
ax.set_xlabel("step"); ax.set_ylabel("nats/token"); ax.legend(); plt.show()

# %% [markdown]
# ## Step 10 — Storage
#
# The run folder holds the best model at the top (a Hugging Face style `config.json` +
# `model.safetensors`, and the tokenizer: `tinyllm_tokenizer.json` + a Hugging Face `tokenizer.json`), full checkpoints with the optimizer moments, random
# state and data position under `checkpoints/`, and `metrics.json` + `loss_curve.png`. Every save
# goes to a temporary folder first and is renamed into place, so a crash never leaves half a
# checkpoint. Loading the folder back reproduces the model exactly.

# %%
run = WORK / "run"
print(sorted(p.name for p in run.iterdir()))
print(sorted(p.name for p in (run / "checkpoints" / "latest").iterdir()))
again, tok2 = GPT.from_pretrained(run), load_tokenizer(run)
best = GPT.from_pretrained(run / "checkpoints" / "best")
xv = val_batches[0]["idx"][:2]
assert np.array_equal(again.forward(xv), best.forward(xv))
print("best validation loss in metrics.json:", json.loads((run / "metrics.json").read_text())["best_val_loss"])

# %% [markdown]
# `model.safetensors`, byte by byte. The format is simple enough to read by hand: 8 bytes give the
# length N of a JSON header (little-endian), the header maps each tensor's name to its dtype, shape
# and `[begin, end)` byte range in the data that follows, and the data is every tensor's raw
# little-endian bytes, one after the other. (tinyllm itself reads and writes the format with the
# `safetensors` package, which also refuses damaged files: offsets outside the data, tensors that
# overlap or share bytes, sizes that do not match dtype × shape.)

# %%
raw = (run / "model.safetensors").read_bytes()
N = int.from_bytes(raw[:8], "little")                          # header length
header = json.loads(raw[8:8 + N])
print(f"{len(raw):,} bytes = 8 + header {N} + data {len(raw) - 8 - N:,}")
info = header["transformer.wpe.weight"]                        # the position embeddings P (S8)
print("transformer.wpe.weight:", info)
begin, end = info["data_offsets"]
P = np.frombuffer(raw[8 + N + begin:8 + N + end], dtype="<f4").reshape(info["shape"])
assert np.array_equal(P, again.params["pos_emb"])
ranges = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))   # back to back
print("the bytes are the model's position embeddings; tensors lie back to back, none overlaps")

# %% [markdown]
# Resuming continues exactly: the checkpoint holds everything the next step depends on, so
# N/2 steps + resume + N/2 steps give the same numbers as N steps in one go.

# %%
def short_run(folder, stop_at=None):
    def stop(t):
        if t.step == stop_at:
            raise KeyboardInterrupt                 # what Ctrl-C does: save and return
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=32, max_len=48), seed=1)
    return Trainer(model, DocumentBatches(framed, 8, tok.pad_id, 48, seed=3), None,
                   TrainConfig(steps=20, lr=5e-3, warmup=5, log_every=1), tokenizer=tok, out_dir=folder,
                   callbacks=[stop] if stop_at else [], progress=False)

whole = short_run(WORK / "whole"); whole.fit()
first = short_run(WORK / "halves", stop_at=10); print(first.fit().message)
second = short_run(WORK / "halves").restore(); second.fit()
print("final loss, one run:", whole.last_loss, " two halves:", second.last_loss)
assert whole.last_loss == second.last_loss

# %% [markdown]
# ## Using the model: sampling (S14)
#
# A causal LM gives the next-token distribution; generation draws from it, appends, and repeats.
# Temperature $\tau$ sharpens ($\tau<1$) or flattens ($\tau>1$) it, top-$k$ keeps the $k$ most likely
# tokens, top-$p$ the smallest set whose probability reaches $p$ (then renormalise):
#
# $$p_i \propto e^{z_i/\tau} \qquad \text{(S14)}$$

# %%
z = np.log(np.array([0.5, 0.2, 0.15, 0.1, 0.05]))
print("tau = 1    :", next_token_probs(z))
print("tau = 0.5  :", next_token_probs(z, temperature=0.5), " (p_i^2 renormalised)")
print("top-k = 2  :", next_token_probs(z, top_k=2))
print("top-p = 0.8:", next_token_probs(z, top_p=0.8))
assert np.allclose(next_token_probs(z, temperature=0.5), np.exp(z / 0.5) / np.exp(z / 0.5).sum())

prompt = [tok.bos_id] + tok.encode("review: I watched")
cached = generate(gpt, prompt, max_new_tokens=15, greedy=True, use_cache=True)
assert cached == generate(gpt, prompt, max_new_tokens=15, greedy=True, use_cache=False)   # KV cache = same
for i, p in enumerate(["review: I watched", "story: Anna went to", "question: what does Adam like to eat? answer:"]):
    print(p, "|", generate_text(gpt, tok, p, max_new_tokens=25, temperature=0.7, top_k=20, seed=i))

# %% [markdown]
# With a few hundred steps on a small model the text already has TinyWorld's shape; the facts
# (who lives where) take longer to memorise. `tinyllm pretrain --model gpt --corpus tinyworld`
# runs the same ten steps with a larger model for a few minutes and lands close to the floor.
