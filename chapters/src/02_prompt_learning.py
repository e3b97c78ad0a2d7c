"""Source of chapters/02_prompt_learning.ipynb. Build: python chapters/_build.py chapters/src/02_prompt_learning.py"""

# %% [markdown]
# # Chapter 2 — Pre-training, fine-tuning and prompt learning (§2)
#
# Section 2 of the article sets two ways of using a pre-trained model side by side. **Fine-tuning**
# puts a new output layer (a *head*) on the model and trains it on labelled examples: the label is
# predicted from the input alone. **Prompt learning** leaves the model as it is and rewrites the task
# as text the model already knows how to continue: a *template* wraps the input, and the model's own
# word predictions at an answer slot, mapped to labels by a *verbalizer*, give the label.
#
# This chapter runs both on the same pre-trained models, on the same task, and then walks through the
# three families of prompts the article names: **manual** (written by a person), **automatic**
# (searched), and **soft** (vectors instead of words). Everything runs on a laptop CPU in a couple of
# minutes. The same comparison over five seeds and every K is the §5 project (chapter 05).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm.prompt import (PromptModel, Template, Verbalizer, autoprompt, calibrate, fit, label_search,
                            tasks)
from tinyllm.prompt import methods as M
from tinyllm.prompt.finetune import classifier_for, finetune, predict_classifier
from tinyllm.prompt.metrics import evaluate

bert, tok = tinyllm.pretrained("tinyworld-bert-256")    # masked LM, context 256 (shipped weights, copied into the cache on first use)
gpt, gtok = tinyllm.pretrained("tinyworld-gpt-256")     # causal LM, context 256
print(f"BERT: {bert.num_params():,} parameters; GPT: {gpt.num_params():,} parameters")

# %% [markdown]
# ## 1. The task (step 1 of §3.2: task analysis)
#
# `tw-sentiment`: a TinyWorld review of a film or a meal, **without its closing sentence** (which
# would give the answer away: "I will come back soon."), labelled negative or positive. The evidence
# is in the middle of the text ("the sauce was great"). We give each method K = 16 labelled examples
# per class, and score on the test split.

# %%
train = tasks.load("tw-sentiment", "train")
test = tasks.load("tw-sentiment", "test", 300)
shots = tasks.few_shot(train, k=16, seed=13)               # 16 per class, balanced, deterministic
print(train.label_names, len(shots), "training examples,", len(test), "test examples")
for text, label in shots.pairs()[:3]:
    print(f"  [{train.label_names[label]}] {text}")
assert sorted(np.bincount(shots.labels)) == [16, 16]

# %% [markdown]
# ## 2. Fine-tuning: E2.1
#
# Fine-tuning predicts the label from the input alone, with parameters θ that start from the
# pre-trained ones:
#
# $$y^* = \arg\max_y P(y\mid x;\theta) \qquad \text{(E2.1)}$$
#
# For BERT the head reads the final hidden state of `[CLS]` (a pooler and a linear layer,
# `BERTClassifier`); for GPT it reads the last real token (`GPTClassifier`). *Head-only* fine-tuning
# trains just the new head; *full* fine-tuning trains every weight. The head starts from random
# numbers, so with 32 examples it has little to go on.

# %%
clf = classifier_for(bert, num_labels=2, seed=13)          # a copy of BERT + a new head (E2.1)
losses = finetune(clf, shots, tok, steps=200, lr=1e-3, batch_size=8, seed=13, head_only=True)
y_head = predict_classifier(clf, test.texts, tok)          # argmax_y P(y | x; theta)  (E2.1)
head = evaluate(test.labels, y_head)
print(f"head-only fine-tuning (E2.1): accuracy {head['accuracy']:.3f}, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
assert losses[-1] < losses[0]

# %% [markdown]
# ## 3. Prompt learning: E2.2 with a manual template and a verbalizer (S11)
#
# Prompt learning conditions the same prediction on a template t:
#
# $$y^* = \arg\max_y P(y\mid x, t;\theta) \qquad \text{(E2.2)}$$
#
# The template `review: {x} it was {mask}.` turns the review into a cloze question for BERT. The
# verbalizer maps each label to words, and the label's score is the model's log-probability of its
# word at the mask (S11); a softmax over the labels gives P(y | x, t):
#
# $$P(y\mid x,t) \propto P([\mathrm{MASK}] = v(y)\mid t(x)) \qquad \text{(S11)}$$
#
# Below, the scores are recomputed by hand from the model's own output at the `[MASK]` position and
# must agree with `PromptModel`.

# %%
words = {"negative": ["bad"], "positive": ["great"]}
pm = PromptModel(bert, tok, "review: {x} it was {mask}.", words)
x = test.texts[0]
probs = pm.predict_proba([x])[0]                            # P(y | x, t)  (E2.2)
# by hand: [CLS] review: x it was [MASK] . [SEP], the MLM distribution at [MASK], the two words' log-probs
ids = [tok.cls_id] + tok.encode("review:") + tok.encode(x) + tok.encode("it was") + [tok.mask_id] + tok.encode(".") + [tok.sep_id]
logits = bert.forward(np.array([ids]))[0, ids.index(tok.mask_id)]          # (V,)
logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
S = np.array([logp[tok.encode("bad")[0]], logp[tok.encode("great")[0]]])  # S11
by_hand = np.exp(S - S.max()) / np.exp(S - S.max()).sum()
print(x, "->", dict(zip(test.label_names, probs.round(3))), "gold:", test.label_names[test.labels[0]])
assert np.allclose(probs, by_hand, atol=1e-5)
zero = evaluate(test.labels, pm.predict(test.texts))
print(f"zero-shot prompt (E2.2, no training at all): accuracy {zero['accuracy']:.3f}")

# %% [markdown]
# ### Calibration (S11)
#
# A model can prefer one label word whatever the input ("great" is simply more frequent). Zhao et al.
# measure that bias with *content-free* inputs ("N/A", an empty string, a bare mask) and divide it out:
# $\hat p \propto \mathrm{diag}(p_{cf})^{-1} p$ (S11).

# %%
p_cf = pm.content_free_probs()                              # P(y | content-free x, t)
cal = calibrate(pm.predict_proba(test.texts), p_cf)         # renormalised diag(p_cf)^-1 p   (S11)
print("content-free probabilities:", p_cf.round(3))
print(f"zero-shot {zero['accuracy']:.3f} -> calibrated {evaluate(test.labels, cal.argmax(1))['accuracy']:.3f}")
assert np.allclose(cal.sum(axis=1), 1)

# %% [markdown]
# ## 4. PET: train the model through the prompt
#
# PET (Schick & Schütze) fine-tunes the whole model, but on E2.2's objective: the cross-entropy of the
# label words at the mask, i.e. the model's softmax restricted to the verbalizer's tokens. The
# classification layer is the pre-trained MLM head itself, so nothing starts from random numbers.
# The control run uses label words the model never saw in a sentence ("negative"/"positive"): the
# pattern then carries no knowledge, and PET should fall back to about a head's accuracy. That is
# the literature's expectation; on this clean task a hundred full-weight steps teach the new words
# too, and the control does as well as PET (chapter 05 measures it over seeds and K).

# %%
def pet_accuracy(label_words, seed=13):
    pm = PromptModel(M.copy_model(bert), tok, "review: {x} it was {mask}.", label_words, seed=seed)
    fit(pm, shots, steps=100, lr=1e-4, batch_size=8, seed=seed)   # E2.2's loss, every weight trains
    return evaluate(test.labels, pm.predict(test.texts))["accuracy"]

pet = pet_accuracy(words)
control = pet_accuracy({"negative": ["negative"], "positive": ["positive"]})
print(f"PET (E2.2 trained): {pet:.3f}   PET with uninformative words: {control:.3f}   head (E2.1): {head['accuracy']:.3f}")

# %% [markdown]
# ## 5. Automatic prompts: AutoPrompt (S13)
#
# Instead of writing the words between the review and the mask, AutoPrompt searches them. The template
# gets `{trigger*3}` slots; with the model frozen, the gradient of the loss with respect to a trigger's
# embedding $e_t$ ranks every vocabulary word w by the first-order change of the loss,
#
# $$\text{score}(w) = -\,e_w^\top \nabla_{e_t} L \qquad \text{(S13)}$$
#
# and the best candidates are tried exactly on a batch. Label words can be searched too (`label_search`).

# %%
ap = PromptModel(bert, tok, "review: {x} {trigger*3} {mask}.", words, seed=13)
found = autoprompt(ap, shots, iters=10, n_candidates=10, batch_size=16, seed=13)   # S13
auto = evaluate(test.labels, ap.predict(test.texts))["accuracy"]
print("triggers found:", found["triggers"], f"-> accuracy {auto:.3f}")
print("label words the model suggests:", label_search(pm, shots, top_k=3))
assert not set(found["trigger_ids"]) & set(pm.verbalizer.label_token_ids())   # label words are excluded

# %% [markdown]
# ## 6. Soft prompts (S12)
#
# A soft prompt replaces template words by free vectors $P \in \mathbb{R}^{m\times d}$ spliced into the
# input embeddings, $E' = [P; E(x)]$, and trains only them: θ stays frozen (S12). Initialised from the
# words it replaces (`{soft:it was}`), it starts exactly where the hard template is — checked below —
# and training can only move it from there. Prefix tuning goes one step further and trains keys and
# values in every layer.

# %%
soft = PromptModel(bert, tok, "review: {x} {soft:it was} {mask}.", words, seed=13)
assert np.allclose(soft.predict_proba(test.texts[:20]), pm.predict_proba(test.texts[:20]), atol=1e-6)  # step 0 = hard
before = {k: v.copy() for k, v in bert.params.items()}
fit(soft, shots, steps=100, lr=1e-2, batch_size=8, seed=13)               # only soft.prompt_params train
assert all(np.array_equal(before[k], bert.params[k]) for k in before)    # the model is byte-identical
soft_acc = evaluate(test.labels, soft.predict(test.texts))["accuracy"]
print(f"soft prompt (S12), {sum(v.size for v in soft.prompt_params.values())} trained numbers: accuracy {soft_acc:.3f}")
with tempfile.TemporaryDirectory() as d:
    soft.save_prompt(Path(d) / "prompt")                                  # the prompt's tensors only
    again = PromptModel.load_prompt(Path(d) / "prompt", bert, tok)
    print("saved:", sorted(p.name for p in (Path(d) / "prompt").iterdir()))
assert np.allclose(again.predict_proba(test.texts[:5]), soft.predict_proba(test.texts[:5]))
