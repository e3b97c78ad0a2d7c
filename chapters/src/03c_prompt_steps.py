"""Source of chapters/03c_prompt_steps.ipynb. Build: python chapters/_build.py chapters/src/03c_prompt_steps.py"""

# %% [markdown]
# # Chapter 3c — The five steps of prompt learning (§3.2)
#
# Section 3.2 of the article gives prompt learning five steps: **task analysis**, **prompt design**,
# **zero- or few-shot inference**, **result parsing** and **evaluation**. This chapter takes one task
# through all five with a GPT pre-trained on TinyWorld (`tinyworld-gpt-256`: context 256 tokens, so
# demonstrations fit in front of a query), and measures what each decision is worth.
#
# The task is `tw-topic`: a short TinyWorld news report ("in Elmgate on Wednesday, a hacker club
# upgraded the server.") and one of ten topics. The report's closing reaction, which names an
# adjective of its topic, is cut off: the model has to infer the topic from the event.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm.generate import generate_text
from tinyllm.prompt import Demonstrations, PromptModel, calibrate, parse_answer, tasks
from tinyllm.prompt import methods as M
from tinyllm.prompt.metrics import aggregate, evaluate

gpt, tok = tinyllm.pretrained("tinyworld-gpt-256")
print(f"tinyworld-gpt-256: {gpt.num_params():,} parameters, context {gpt.config.max_len}")

# %% [markdown]
# ## Step 1 — task analysis
#
# What is the input, what is the output, and which labelled examples exist? Here: ten classes,
# a training split to draw a few examples from, and a test split never used for any choice.

# %%
train = tasks.load("tw-topic", "train")
test = tasks.load("tw-topic", "test", 300)
print(len(train.label_names), "topics:", ", ".join(train.label_names))
print("input :", test.texts[0])
print("label :", test.label_names[test.labels[0]])
counts = np.bincount(test.labels, minlength=len(test.label_names))
print("test examples per topic:", counts.tolist(), "-> majority baseline", round(counts.max() / counts.sum(), 3))
assert len(train.label_names) == 10

# %% [markdown]
# ## Step 2 — prompt design
#
# A template wraps the input, and a verbalizer names each label with words (S11). For a causal LM the
# label's score is the log-probability of its words right after the template, summed over a word's
# tokens by the chain rule, and several words of one label combined by log-sum-exp:
#
# $$S(y) = \log \sum_{v \in V_y} \exp \sum_k \log P(v_k \mid t(x), v_{<k}), \qquad P(y\mid x,t) = \mathrm{softmax}_y\, S(y) \qquad \text{(S11)}$$
#
# We compare four templates zero-shot: the one that follows TinyWorld's own grammar for news
# ("... a visitor said it was {adjective}.", with each topic's adjectives as its words), the same
# without the "news:" marker, one with a different lead-in ("it was"), and a bare one that puts the
# adjective right after the report, where TinyWorld's grammar never puts one.

# %%
designs = M.templates("tw-topic", "gpt") + [("{x} {mask}.", M.templates("tw-topic", "gpt")[0][1])]
scores = {}
for text, words in designs:
    pm = PromptModel(gpt, tok, text, words)
    scores[text] = evaluate(test.labels, pm.predict(test.texts))["accuracy"]     # E2.2, zero-shot
    print(f"{scores[text]:.3f}  {text}")
best_text, best_words = max(designs, key=lambda d: scores[d[0]])
bare_text = "{x} {mask}."
print("words of 'sports':", best_words["sports"])

# %% [markdown]
# ## Step 3 — zero- and few-shot inference
#
# Zero-shot: the template alone. Few-shot *in context*: k labelled examples written with the same
# template are placed before the query (nothing trains; the model reads them). Both are then
# calibrated with content-free inputs (S11): $\hat p \propto \mathrm{diag}(p_{cf})^{-1}\, p$.
# Each few-shot setting is repeated over three seeds (which examples, in which order).

# %%
rows = {}
for text in (best_text, bare_text):
    pm = PromptModel(gpt, tok, text, best_words)
    for n_demos in (0, 5, 10):                   # 10 topics: 10 demonstrations = one per topic
        accs, cal_accs = [], []
        for seed in ((0,) if n_demos == 0 else (13, 21, 42)):
            demos = None if n_demos == 0 else Demonstrations(tasks.few_shot(train, 1, seed), k=n_demos, seed=seed)
            p = pm.predict_proba(test.texts, demonstrations=demos)                    # P(y | x, t)  (E2.2)
            p_cal = calibrate(p, pm.content_free_probs(demonstrations=demos))       # (S11)
            accs.append(evaluate(test.labels, p.argmax(1))["accuracy"])
            cal_accs.append(evaluate(test.labels, p_cal.argmax(1))["accuracy"])
        rows[text, n_demos] = (accs, cal_accs)
        print(f"{text:42s} {n_demos:2d} demonstrations: accuracy {np.mean(accs):.3f}, "
              f"calibrated {np.mean(cal_accs):.3f}  (seeds: {len(accs)})")
pm = PromptModel(gpt, tok, best_text, best_words)

# %% [markdown]
# What this shows on this model: the template that follows the grammar the model was trained on is
# already perfect zero-shot, so demonstrations and calibration have nothing left to add. The bare
# template, with the same label words, is at the level of always answering one topic, and neither
# calibration nor ten demonstrations rescue it: a model of half a million parameters does not learn
# the task from examples in its context (in-context learning appears with scale, §2 and §8). For
# this small model, prompt design is the decision that matters.

# %% [markdown]
# ## Step 4 — result parsing
#
# With a verbalizer, parsing is the argmax over labels. When the model *writes* its answer instead
# (a generative task), the text has to be parsed: `parse_answer` takes the answer segment and matches
# it against the allowed answers (or converts it, e.g. to a number), and returns `None` when the output
# is not an answer at all — a case to count, not to hide. Here, the GPT writes the reaction sentence
# itself, and we parse which topic's adjective it wrote.

# %%
adjective_to_topic = {w: t for t, ws in best_words.items() for w in ws}
parsed, shown = [], 0
for text, label in zip(test.texts[:40], test.labels[:40]):
    out = generate_text(gpt, tok, "news: " + text + " a visitor said it was", max_new_tokens=4, greedy=True)
    word = parse_answer(out.strip().rstrip("."), choices=list(adjective_to_topic))   # step 4
    parsed.append(None if word is None else test.label_names.index(adjective_to_topic[word]))
    if shown < 4:
        print(f"{out!r:28} -> {word!r:12} -> {adjective_to_topic.get(word)!s:10} (gold {test.label_names[label]})")
        shown += 1
answered = [p is not None for p in parsed]
print(f"parsed an answer in {sum(answered)} of {len(parsed)} generations")
gen_acc = np.mean([p == y for p, y in zip(parsed, test.labels[:40])])

# %% [markdown]
# ## Step 5 — evaluation
#
# Accuracy alone hides which classes fail: the confusion matrix and macro-F1 (the mean of the per-class
# F1 scores) show it. Few-shot numbers vary with the chosen examples, so they are reported as
# mean ± standard deviation over seeds (ddof = 1).

# %%
final = evaluate(test.labels, pm.predict(test.texts))
print(f"zero-shot, best template: accuracy {final['accuracy']:.3f}, macro-F1 {final['macro_f1']:.3f}")
icl = aggregate([{"accuracy": a} for a in rows[best_text, 10][1]])
print(f"10 demonstrations (one per topic), calibrated: {icl['mean']:.3f} ± {icl['std']:.3f} over {icl['n']} seeds")
print(f"generation + parsing (first 40): {gen_acc:.3f}")
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
a1.imshow(np.array(final["confusion"]), cmap="Blues")
a1.set_xticks(range(10), test.label_names, rotation=90); a1.set_yticks(range(10), test.label_names)
a1.set_xlabel("predicted"); a1.set_ylabel("true"); a1.set_title("confusion, zero-shot")
for j, text in enumerate((best_text, bare_text)):
    for i, n_demos in enumerate((0, 5, 10)):
        accs, cal_accs = rows[text, n_demos]
        for off, vals, marker in ((-0.05, accs, "o"), (0.05, cal_accs, "s")):
            a2.errorbar([i + off], [np.mean(vals)], yerr=[np.std(vals, ddof=1) if len(vals) > 1 else 0], fmt=marker,
                        color=f"C{2 * j + (off > 0)}",
                        label=f"{text}, {'calibrated' if off > 0 else 'raw'}" if i == 0 else None)
a2.set_xticks(range(3), [0, 5, 10]); a2.set_xlabel("demonstrations in the context"); a2.set_ylabel("accuracy")
a2.set_title("tw-topic, tinyworld-gpt-256"); a2.legend(); plt.tight_layout(); plt.show()
assert np.trace(np.array(final["confusion"])) == round(final["accuracy"] * len(test))
