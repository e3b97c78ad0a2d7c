"""Source of chapters/05_project.ipynb. Build: python chapters/_build.py chapters/src/05_project.py"""

# %% [markdown]
# # Chapter 5 — The project: prompt learning against fine-tuning (§5)
#
# Section 5 of the article promises "an NLP project solved with prompt learning". This chapter is
# that project, run the way the prompt-learning papers ran theirs: take a task whose input does
# not give the answer away, give each method only K labelled examples per class, and watch how its
# accuracy grows as K goes from 0 to 256, over five seeds. It answers the questions a reader has
# after §2: **when does a prompt beat a classification head, when does calibration help, and what
# do soft prompts need?**
#
# The full grids take longer than a chapter should (about half an hour on 2 cores), so they were
# run once by `scripts/prompt_grid_results.py` and committed as JSON under `results/grid/`. This
# chapter reads them, checks the literature's predictions against them, and reruns a slice of the
# grid live to show that a committed row reproduces.
#
# | family (article §2) | method | what trains | equation |
# |---|---|---|---|
# | no training | `zero-shot`, `zero-shot-cal` | nothing; the template's label scores, raw and calibrated | E2.2, S11 |
# | in context | `icl`, `icl-cal` (GPT) | nothing; K examples per class shown before the query | E2.2 |
# | fine-tuning | `head`, `finetune` | a new head (alone, or with every weight) | E2.1 |
# | manual prompt | `pet`, `pet-control`, `pet-ensemble`, `pet-distill` | every weight, through the template and verbalizer (one template; unseen label words; three templates averaged; their soft labels distilled into a classifier) | E2.2 |
# | soft prompt | `soft`, `soft-random`, `prefix`, `p-tuning` | a few vectors; the model is frozen | S12 |
# | automatic prompt | `autoprompt` | nothing but 3 searched trigger words | S13 |

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinyllm
from tinyllm.prompt import grid, report, tasks
from tinyllm.prompt import methods as M

RESULTS = Path(tinyllm.__file__).resolve().parent.parent / "results"    # the repository's committed results
GRIDS = {p.stem: grid.load_rows(p) for p in sorted((RESULTS / "grid").glob("*.json"))}
print("committed grids:", {name: len(rows) for name, rows in GRIDS.items()})

# %% [markdown]
# ## 1. The task and the data a method may see
#
# `tw-sentiment`: a TinyWorld review without its closing sentence, negative or positive. A method
# gets `tasks.few_shot(train, K, seed)`: K examples per class, balanced, the same for every method
# at a given seed. Hyper-parameters were chosen the *true few-shot* way (Perez et al., 2021): on
# another K examples per class from the train split (`tasks.dev_set`), never on the test split.

# %%
train = tasks.load("tw-sentiment", "train")
shots, dev = tasks.few_shot(train, 4, seed=13), tasks.dev_set(train, 4, seed=13)
for text, label in shots.pairs()[:2]:
    print(f"[{train.label_names[label]}] {text}")
assert not set(shots.texts) & set(dev.texts)            # the dev set never overlaps the training shots
hp = json.loads((RESULTS / "prompt_hp.json").read_text())
print(f"\nlearning rates chosen on a dev set of {hp['k']} per class ({hp['task']}, {hp['model']}, seed {hp['seed']}):")
for method, lr in hp["best"].items():
    scores = [r["accuracy"] for r in hp["rows"] if r["method"] == method]
    print(f"  {method:12s} {lr:g}   (dev accuracies {', '.join(f'{s:.2f}' for s in scores)} for {hp['grid'][method]})")
    assert M.HYPERPARAMETERS[method]["lr"] == lr

# %% [markdown]
# ## 2. The headline grid: `tw-sentiment` on `tinyworld-bert-256`
#
# Accuracy in %, mean ± standard deviation over the five seeds (zero-shot: over the three
# templates), with the median seconds and the peak memory of one run.

# %%
main = GRIDS["tw-sentiment__tinyworld-bert-256"]
main_machine = json.loads((RESULTS / "grid" / "tw-sentiment__tinyworld-bert-256.json").read_text())["machine"]
print(report.table(main))
fig, ax = plt.subplots(figsize=(7.5, 4.5))
report.plot(main, ax=ax)
plt.show()

# %% [markdown]
# ## 3. What the literature predicted, and what happened here
#
# Each prediction is checked against the numbers above by `report.predictions`; a prediction that
# did not hold is a finding about models of this size and this corpus, not something to tune away.

# %%
for name, rows in GRIDS.items():
    print(f"== {name}")
    for claim, verdict, evidence in report.predictions(rows):
        print(f"  [{verdict}] {claim}\n      {evidence}")

# %% [markdown]
# **Reading the headline grid.** With K = 4 examples per class, PET is at 99.9 % while a head on
# `[CLS]` is at 79 % and full fine-tuning at 91 %: the pattern lets the model answer with what it
# already knows (that "great" follows a review full of positive adjectives, and "bad" a negative one),
# where a new head must learn the task from eight sentences. That is the PET advantage of Schick &
# Schütze, and the §5 target (PET − head ≥ 8 points) holds at K = 4 (+20.7). At K = 16 it does not
# (+6.2): the head reaches 94 % and full fine-tuning 100 %, so the gap closes with K, as Le Scao &
# Rush predict, earlier than the target assumed. The soft prompt initialised from the template's
# words (`soft`, only 4 vectors trained) is as good as PET; AutoPrompt's three searched trigger words
# are worse than the hand-written template. The control PET, with label words the model never saw
# in pre-training, is only a little behind PET (97.6 % at K = 4): full-weight training on a handful
# of examples teaches a new word quickly on a task this clean, so the pattern's *information* matters
# less than the literature found on real data. The zero-shot rows vary a lot with the template
# (65.8 ± 15.4): one of the three templates stays at chance (48 %).
#
# **Does the BERT know which adjectives go together?** A direct probe, without any prompt method
# in between: in a TinyWorld review both adjectives come from the same list (60 positive, 60
# negative), so after `the service was A1 and the price was` a model that learned the grammar's
# sentiment puts more probability on A1's list than on the other one. The GPT is asked for the next
# word, the BERT fills a `[MASK]` (E3.7): 120 probes, half of them with a positive A1.

# %%
from tinyllm.data import tinyworld_world as tw  # noqa: E402


def polarity_probe(model, tok, n=120):
    """Share of probes whose next word / [MASK] puts more mass on A1's polarity list (chance: 0.5)."""
    pos = [tok.encode(w)[0] for w in tw.POSITIVE]
    neg = [tok.encode(w)[0] for w in tw.NEGATIVE]
    hits = 0
    for i in range(n):
        a1 = (tw.POSITIVE if i % 2 == 0 else tw.NEGATIVE)[i // 2]
        ids = tok.encode(f"review: I ate pasta at a cafe in Glenhollow on Monday. the service was {a1} and the price was")
        if type(model).__name__ == "BERT":
            ids = [tok.cls_id] + ids + [tok.mask_id] + tok.encode(".") + [tok.sep_id]
            logits = model.forward(np.array([ids]))[0, -3]            # (V,) at [MASK]
        else:
            logits = model.forward(np.array([ids]))[0, -1]            # (V,) the next word
        hits += (np.logaddexp.reduce(logits[pos]) > np.logaddexp.reduce(logits[neg])) == (i % 2 == 0)
    return hits / n


for name in ("tinyworld-gpt-256", "tinyworld-bert-256"):
    m, t = tinyllm.pretrained(name, progress=False)
    print(f"{name}: the second adjective follows the first one's polarity in {polarity_probe(m, t):.0%} of 120 probes")

polarity = json.loads((RESULTS.parent / "benchmarks" / "bert_polarity.json").read_text())
print("\nBERT on two-adjective sentences only (benchmarks/bert_polarity.py): first step with the probe >= 90 %")
for r in polarity["results"]:
    print(f"  lr {r['lr']:g}, seed {r['seed']}: {r['learned_at_step'] or 'not within ' + str(r['max_steps'])}")
print("the tinyworld-bert-256 recipe itself (whole corpus), the probe above every 250 steps:")
for r in polarity["zoo_recipe_runs"]:
    print(f"  lr {r['lr']:g} -> {r['min_lr']:g} over {r['steps']} steps, masking {r['mask_prob']:.0%}: "
          f"first >= 90 % at step {r['learned_at_step'] or '-'}, best {r['best_probe']:.0%}, final {r['final_probe']:.0%}")

# %% [markdown]
# The probe is the diagnosis, and it explains the history of this grid. The BERT of the zoo's first
# recipe (lr 2e-3 decaying over 5,000 steps) was at chance on this probe, so every prompt on it was
# at chance too, and PET's small-K advantage (Schick & Schütze), which comes from the label words'
# meaning to the pre-trained model, could not appear. Why it missed the polarity is a lesson about
# masked-LM training: on sentences that contain nothing but the two adjectives, the same BERT learns
# it in a sudden jump after hundreds to thousands of steps of flat loss, in every seed at lr 5e-4, in
# one seed of three at 1e-3, and in none at 2e-3 (the printed steps, within 3,000). On the whole
# corpus the reviews are one document kind of nine, and only a masked adjective with the other one
# visible teaches it: every decaying schedule above ended at chance, and a constant 5e-4 stayed at
# chance for 22,000 steps before it flipped (the masked-LM loss hardly shows the moment). The shipped
# `tinyworld-bert-256` is that 28,000-step run (about 40 minutes on one thread): 99 % on the probe.
# The GPT learns the same fact within 2,500 steps, because it predicts every word of every review.
#
# ## 4. The other grids: the GPT, and a four-class task
#
# On `tw-topic` (ten topics) the same BERT is at 92 % zero-shot with the best templates, and PET at
# 100 % from K = 4, against 81 % (K = 4) and 96 % (K = 16) for a head: the same closing gap. The GPT,
# whose label words are its own grammar's closing sentences, is at the ceiling zero-shot: in-context
# examples and calibration have nothing left to add on this task.
#
# The last grid is real data: `mr2`, real movie-review sentences, with the real MiniLM-L6 encoder
# and a masked-LM head trained for it with MiniLM frozen (`tinyllm.prompt.mlm_head`;
# `scripts/prompt_real_results.py`). Its cloze accuracy is low (8.9 % at [MASK] against 6.0 % for
# the most frequent token), so the cloze zero-shot answers one class, and PET only ties a logistic
# head on MiniLM's sentence embeddings (`head-lr`), the best method at K = 16; at K = 256 full
# fine-tuning of MiniLM is best (76.6 %). The best zero-shot is `zero-shot-sim`, similarity to label
# descriptions. The same lesson as the first TinyWorld BERT's: a pattern helps only when the model
# already knows the answer in cloze form.

# %%
others = [n for n in GRIDS if n != "tw-sentiment__tinyworld-bert-256"]
fig, axes = plt.subplots(1, max(1, len(others)), figsize=(6.5 * max(1, len(others)), 4.2), squeeze=False)
for ax, name in zip(axes[0], others):
    report.plot(GRIDS[name], ax=ax)
    print(f"== {name}\n{report.table(GRIDS[name])}\n")
plt.show()

# %% [markdown]
# ## 5. Reproduce it: the quick grid, live
#
# `grid.QUICK` is the slice of the grid that runs in CI: five methods (zero-shot with and without
# calibration, a head, PET and a text-initialised soft prompt), K ∈ {0, 8, 64}, three seeds. Each
# run uses one BLAS thread (`grid.GRID_THREADS`), so a row computed here must equal the committed
# one: that is the reproducibility check of the §5 issue (within 0.5 points).

# %%
bert, tok = tinyllm.pretrained("tinyworld-bert-256")
quick = grid.run_grid("tw-sentiment", "tinyworld-bert-256", model=bert, tokenizer=tok, n_test=500, **grid.QUICK)
print(report.table(quick))
committed = {(r["method"], r["k"], r["seed"], r.get("template_index", 0)): r["accuracy"] for r in main}
diffs = []
for r in quick:
    key = (r["method"], r["k"], r["seed"], r.get("template_index", 0))
    diffs.append(abs(r["accuracy"] - committed[key]))
from tinyllm.runtime import cpu_vectors

same_weights = quick[0]["weights"] == main[0]["weights"]
same_vectors = cpu_vectors() == main_machine.get("vectors")
print(f"\nthis machine's tinyworld-bert-256: weights {quick[0]['weights']}; the committed grid's: {main[0]['weights']}")
print(f"this CPU's vector instructions: {cpu_vectors()}; the committed grid's machine: {main_machine.get('vectors')}")
print(f"largest difference from the committed rows: {100 * max(diffs):.2f} points over {len(diffs)} runs")
if same_weights and same_vectors:
    assert max(diffs) <= 0.005          # same weights, same arithmetic, one thread per run: the rows reproduce

# %% [markdown]
# The zoo's weights ship with tinyllm (`tinyllm/zoo_weights/`), so on any machine the model above is
# the same bits as the one the committed grid used. The zero-shot rows then reproduce exactly
# everywhere. The rows that train (the head, PET, the soft prompt) reproduce exactly on a CPU with the
# same vector instructions as the committed grid's machine; on another (AVX-512 against AVX2, ARM)
# the C kernels and BLAS sum float32 numbers in another order, a few hundred training steps drift
# apart, and a handful of the 500 test predictions can flip. The cell above asserts equality only
# where it must hold, and elsewhere prints the differences: they measure how much a conclusion
# depends on the last bits of the arithmetic, which is itself worth knowing.
