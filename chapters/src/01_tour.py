"""Source of chapters/01_tour.ipynb. Build: python chapters/_build.py chapters/src/01_tour.py"""

# %% [markdown]
# # Chapter 1 — A tour: from raw text to a model that writes (§1, §3.2)
#
# The article describes large language models in two movements: **pre-training** a Transformer on
# plenty of unlabelled text (§3.2 lists ten steps), and **prompt learning**, which puts the trained
# model to work by phrasing a task as text it can continue. This chapter runs the first movement
# end to end, in miniature, in well under two minutes on a laptop CPU, so that every later chapter
# has a concrete picture to refer back to:
#
# 1. a corpus (TinyWorld, tinyllm's built-in generated text),
# 2. a tokenizer that turns it into ids,
# 3. a small GPT,
# 4. training with AdamW,
# 5. evaluation against the best score any model could reach,
# 6. generation, and
# 7. saving and loading.
#
# Each step is one import from the `tinyllm` package; chapter 3b opens each of them up.

# %%
from tinyllm.runtime import configure_threads

configure_threads()   # BLAS and OpenMP threads chosen on purpose: 1, or OMP_NUM_THREADS (tinyllm.runtime)

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm.data import tinyworld, load_tokenizer
from tinyllm.data.framing import frame_causal
from tinyllm.generate import generate_text
from tinyllm.models import GPT, GPTConfig
from tinyllm.train import DocumentBatches, TrainConfig, Trainer, evaluate, fixed_causal_batches

print("tinyllm", tinyllm.__version__)

# %% [markdown]
# ## 1. A corpus
#
# Real pre-training corpora are huge and messy. TinyWorld is small and clean on purpose: a seeded
# generator writes documents about one fixed little world (people, towns, pets, food, films, a toy
# language, small programs, sums). Because the generator knows the probability of every document it
# writes, it also knows the **entropy floor**: the lowest cross-entropy any model can reach on its
# text. That gives us an honest yardstick.

# %%
train_docs = tinyworld.sample(3000, seed=0, split="train")
val_docs = tinyworld.sample(200, seed=1, split="validation")
for d in train_docs[:5]:
    print(f"[{d.kind}] {d.text}")

# %% [markdown]
# ## 2. A tokenizer
#
# A model reads integers, not letters. TinyWorld's tokenizer has one id per word or punctuation mark
# (about a thousand), plus special tokens such as `[BOS]` (begin of sequence) and `[EOS]` (end).
# A GPT reads every document as `[BOS] text [EOS]`.

# %%
tok = tinyworld.tokenizer()
ids = tok.encode(train_docs[0].text)
print("vocabulary size:", tok.vocab_size)
print("first ids:", ids[:12])
print("tokens:   ", [tok.id_to_token(i) for i in ids[:12]])
assert tok.decode(ids) == train_docs[0].text          # lossless round trip
framed = [frame_causal(tok.encode(d.text), tok.bos_id, tok.eos_id) for d in train_docs]
val_framed = [frame_causal(tok.encode(d.text), tok.bos_id, tok.eos_id) for d in val_docs]
print("tokens per document (with [BOS] and [EOS]):", np.mean([len(f) for f in framed]).round(1))

# %% [markdown]
# ## 3. A model
#
# A GPT: token and position embeddings, a stack of Transformer blocks (self-attention plus a
# feed-forward network), and an output layer that scores every word of the vocabulary as the next
# token. Before training its guesses are close to uniform, so its loss is about $\ln V$ (a little
# above it: random logits are not exactly flat).

# %%
config = GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, d_model=64, max_len=48)
model = GPT(config, seed=0)
val_batches = fixed_causal_batches(val_framed, 64, tok.pad_id, config.max_len)
print(f"{model.num_params():,} parameters")
print(f"loss before training: {evaluate(model, val_batches)['loss']:.3f}   ln V = {np.log(tok.vocab_size):.3f}")

# %% [markdown]
# ## 4. Training
#
# The trainer repeats one move: take a batch of documents, measure how surprised the model is by
# each next token (the cross-entropy loss), compute the gradient of that loss by backpropagation,
# and let AdamW nudge every parameter downhill. A few hundred small steps already teach it a lot.

# %%
train = DocumentBatches(framed, batch_size=16, pad_id=tok.pad_id, max_len=config.max_len, seed=0)
trainer = Trainer(model, train, val_batches,
                  TrainConfig(steps=300, lr=5e-3, min_lr=5e-4, warmup=20, eval_every=100, log_every=10),
                  progress=False)
result = trainer.fit()
print(result.status, "after", result.step, "steps")
for e in trainer.evals:
    print(f"step {e['step']:4d}: validation loss {e['val_loss']:.3f}")

# %%
floor = tinyworld.entropy_floor(val_docs, tok)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot([h["step"] for h in trainer.history], [h["loss"] for h in trainer.history], label="train")
ax.plot([e["step"] for e in trainer.evals], [e["val_loss"] for e in trainer.evals], "o-", label="validation")
ax.axhline(floor, color="k", ls="--", label="entropy floor")
ax.set_xlabel("step"); ax.set_ylabel("cross-entropy (nats/token)"); ax.legend(); plt.show()

# %% [markdown]
# ## 5. Evaluation
#
# Cross-entropy is the average surprise per token, in nats; perplexity is its exponential, the
# number of equally likely words the model is, in effect, choosing between. The floor is what a
# model that knew the generator perfectly would score. This little model, after seconds of
# training, is somewhere in between; `tinyllm demo` trains a larger one for a few minutes and gets
# close to the floor.

# %%
m = evaluate(model, val_batches)
print(f"cross-entropy {m['loss']:.3f} nats/token, perplexity {m['ppl']:.2f}")
print(f"entropy floor {floor:.3f} nats/token, perplexity {np.exp(floor):.2f}")
print(f"next-token accuracy {m['accuracy']:.1%}")
assert floor < m["loss"] < np.log(tok.vocab_size)

# %% [markdown]
# ## 6. Generation
#
# To write, the model scores every possible next token, one is drawn (here from the softmax at
# temperature 0.8), appended, and the loop repeats until `[EOS]`.

# %%
for i, prompt in enumerate(["review: I watched", "facts: Anna", "math:"]):
    print(prompt, "|", generate_text(model, tok, prompt, max_new_tokens=25, temperature=0.8, seed=i))

# %% [markdown]
# ## 7. Saving and loading
#
# A trained model is a folder: `config.json` and `model.safetensors` in the Hugging Face layout,
# plus the tokenizer (tinyllm's own `tinyllm_tokenizer.json`, and `tokenizer.json` in the format of
# Hugging Face's `tokenizers`). Loading it back gives exactly the same predictions.

# %%
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder, tokenizer=tok)
    print(sorted(p.name for p in Path(folder).iterdir()))
    again, tok2 = GPT.from_pretrained(folder), load_tokenizer(folder)
x = np.array([val_framed[0][:-1]])
assert np.array_equal(model.forward(x), again.forward(x)) and tok2.vocab_size == tok.vocab_size
print("reloaded: identical logits")

# %% [markdown]
# ## Where next
#
# - Chapter 3a opens up self-attention (E3.1–E3.5) and the two training objectives (E3.6, E3.7).
# - Chapter 3b walks through the ten pre-training steps of §3.2 one at a time.
# - On the command line, `tinyllm demo` trains a TinyWorld GPT in about four minutes and compares it
#   with the entropy floor; `tinyllm pretrain --help` lists every option.
