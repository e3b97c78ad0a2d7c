"""Every prompt-learning method of the article's §2, run the same way on a task: §3.2's five steps.

    1 task analysis     a task from ``tinyllm.prompt.tasks`` and K labelled examples per class
    2 prompt design     a template and a verbalizer (``TEMPLATES``; searched for AutoPrompt, S13)
    3 inference         zero-shot, in context (demonstrations), or after training the prompt / model
    4 result parsing    the verbalizer's label scores -> the argmax label (E2.2)
    5 evaluation        accuracy and macro-F1 on the task's test split (``tinyllm.prompt.metrics``)

``run(method, task, model, tokenizer, k, seed)`` returns one result row (a dict). The pre-trained
model passed in is never changed: methods that train weights (PET, fine-tuning) train a copy.

Methods (``METHODS``), against the two objectives they compare:

=================  =====================================================================  ==========
method             what trains / what is used                                             equation
=================  =====================================================================  ==========
zero-shot          nothing: the template's label scores                                   E2.2, S11
zero-shot-cal      the same, calibrated by content-free inputs (Zhao et al. 2021)         S11
icl                all K examples per class shown in the context, nothing trains (GPT)     E2.2
icl-cal            the same, calibrated                                                   S11
head               a new classification head on the frozen pre-trained model              E2.1
finetune           the head and every weight of the model                                 E2.1
pet                every weight, through the template and verbalizer (Schick & Schuetze)   E2.2
pet-control        PET with label words the model never saw ("negative"/"positive")       E2.2
pet-ensemble       PET on each of the task's templates, their label scores averaged       E2.2
pet-distill        the ensemble's soft labels on unlabelled text train a classifier      E2.2 -> E2.1
soft               a soft prompt initialised from the template's words, model frozen      S12
soft-random        a randomly initialised soft prompt, model frozen (Lester et al.)       S12
prefix             prefix tuning: every layer's keys and values, model frozen             S12
p-tuning           a prompt encoder (LSTM) producing the prompt, model frozen             S12
autoprompt         trigger tokens searched by the gradient, model frozen                  S13
zero-shot-sim      nothing: cosine of mean-pooled sentence embeddings to label            E2.1
                   descriptions ("a positive movie review"), BERT encoders only
head-lr            a logistic-regression probe on cached frozen sentence embeddings       E2.1
soft-head          soft prompt + head: m vectors after [CLS] and the probe's linear head  S12, E2.1
                   on the mean-pooled states, trained together, encoder frozen (BERT)
=================  =====================================================================  ==========

Model-specific settings: ``MODEL_HYPERPARAMETERS[model name][method]`` replaces some of a method's
``HYPERPARAMETERS`` for that model (``hyperparameters(method, model_name)``): the real MiniLM needs
far smaller learning rates than the tiny TinyWorld models.

Hyper-parameters: ``HYPERPARAMETERS`` holds one setting per method; ``run`` states every value it
used in its result row. How they were chosen is written next to them.
"""

import copy
import time

import numpy as np

from tinyllm.prompt import tasks as T

# (template, {label: [words]}) per task and model kind; the first is tasks.default_prompt's.
TEMPLATES = {
    ("tw-sentiment", "bert"): ["review: {x} it was {mask}.", "{x} it was {mask}.", "review: {x} the review was {mask}."],
    ("tw-sentiment", "gpt"): ["review: {x} {mask}.", "review: {x} it was {mask}.", "{x} it was {mask}."],
    ("tw-topic", "bert"): ["news: {x} a visitor said it was {mask}.", "{x} a visitor said it was {mask}.",
                           "news: {x} it was {mask}."],
    ("tw-topic", "gpt"): ["news: {x} a visitor said it was {mask}.", "{x} a visitor said it was {mask}.",
                          "news: {x} it was {mask}."],
    # LM-BFF's manual template for MR first (Gao et al. 2021, Table 1), then two variants
    ("mr2", "bert"): ["{x} It was {mask}.", "{x} A {mask} movie.", "{x} All in all, it was {mask}."],
    ("mr3", "bert"): ["{x} It was {mask}.", "{x} A {mask} movie.", "{x} All in all, it was {mask}."],
    ("mr2", "gpt"): ["{x} It was {mask}.", "{x} A {mask} movie.", "{x} All in all, it was {mask}."],
}
# zero-shot-sim: one description per label for each of the task's templates (by index); a task without
# an entry uses the template itself with the label word at {mask} and no {x} ("It was great.")
DESCRIPTIONS = {
    "mr2": [{"negative": "a negative movie review", "positive": "a positive movie review"},
            {"negative": "a bad movie", "positive": "a good movie"},
            {"negative": "It was terrible.", "positive": "It was great."}],
    "mr3": [{"negative": "a negative movie review", "neutral": "a neutral movie review",
             "positive": "a positive movie review"},
            {"negative": "a bad movie", "neutral": "an average movie", "positive": "a good movie"},
            {"negative": "It was terrible.", "neutral": "It was okay.", "positive": "It was great."}],
}
# one word per label for the naive templates (the default template keeps the task's own words)
SIMPLE_WORDS = {"tw-sentiment": {"negative": ["bad"], "positive": ["great"]}}
CONTROL_WORDS = {"tw-sentiment": {"negative": ["negative"], "positive": ["positive"]}}

# One setting per method. The learning rates of head, finetune, pet, soft, soft-random, prefix and
# p-tuning were chosen the "true few-shot" way (Perez et al. 2021) by benchmarks/choose_prompt_hp.py:
# tw-sentiment, tinyworld-bert-256, K = 64, seed 13, each rate scored on 64 more examples per class
# from the train split (tasks.dev_set), never on the test or validation split; every score is in
# results/prompt_hp.json (its "best" must equal the rates below: tests/test_prompt_hp.py). A first
# choice at K = 16 (32 dev examples, where all but PET were at chance) was noise, and its fine-tuning
# rate never left chance even at K = 256; see the script's docstring. On the re-shipped BERT (which
# knows the adjectives' polarity) most rates tie at 100 % on the dev set; a tie goes to the smallest.
# pet-control, pet-ensemble and pet-distill copy pet's rate; distillation's own rate (1e-4 for 200
# steps on 1,000 unlabelled reviews, temperature 2) and autoprompt's search (10 iterations of 10
# candidates) are untuned defaults, as are ICL's random order and 4 virtual tokens for the soft prompts.
# Steps are fixed per method, the same for every task, K and seed: 300 updates of 8 examples for the
# methods that train every weight (fine-tuning and PET: with 100, full fine-tuning stayed at chance
# even at K = 256, where 300 steps reach 99 %), 200 for the head, 100 for the small soft prompts.
HYPERPARAMETERS = {
    "head": dict(steps=200, lr=3e-3, batch_size=8),
    "finetune": dict(steps=300, lr=3e-5, batch_size=8),
    "pet": dict(steps=300, lr=3e-4, batch_size=8),
    "pet-control": dict(steps=300, lr=3e-4, batch_size=8),
    "pet-ensemble": dict(steps=300, lr=3e-4, batch_size=8),
    "pet-distill": dict(steps=300, lr=3e-4, batch_size=8, distill_steps=200, distill_lr=1e-4, temperature=2.0,
                        n_unlabeled=1000),
    "soft": dict(steps=100, lr=3e-3, batch_size=8),
    "soft-random": dict(steps=100, lr=1e-2, batch_size=8, num_virtual_tokens=4),
    "prefix": dict(steps=100, lr=3e-3, batch_size=8, num_virtual_tokens=4),
    "p-tuning": dict(steps=100, lr=3e-4, batch_size=8, num_virtual_tokens=4, encoder_hidden_size=64),
    "autoprompt": dict(iters=10, n_candidates=10, batch_size=16, num_triggers=3),
    "icl": dict(order="random", max_per_class=3),
    "icl-cal": dict(order="random", max_per_class=3),
    # an untuned, common setting: L2 1e-2 on unit-norm features, 300 full-batch Adam steps of 0.1
    "head-lr": dict(l2=1e-2, steps=300, lr=0.1),
    # the head starts as head-lr's probe (same l2, steps and rate), then the 4 soft vectors (initialised
    # from the template's words before {mask}, "It was") and the head train together: 100 Adam steps of 8
    "soft-head": dict(num_virtual_tokens=4, steps=100, lr=1e-3, batch_size=8, l2=1e-2, probe_steps=300,
                      probe_lr=0.1),
}
# Per model: settings that replace HYPERPARAMETERS' for that model (the grid's model name). The real
# MiniLM-L6 (22M weights, pre-trained) would not survive the 1e-3 PET rate of the first 2M-weight TinyWorld
# BERT. Its rate was chosen among 1e-5, 3e-5 and 1e-4 the true few-shot way (K = 16, seed 13, scored on
# 16 more examples per class of the train split: 37.5, 46.9 and 53.1 %, all near chance on 32 examples)
# by scripts/prompt_real_results.py --choose-pet (results/grid/mr2__minilm-mlm.json, summary); 100 steps
# (not 300) because a PET step of MiniLM takes 2.5 s on one thread.
MODEL_HYPERPARAMETERS = {
    "minilm-mlm": {"pet": dict(steps=100, lr=1e-4, batch_size=8)},
}

METHODS = ("zero-shot", "zero-shot-cal", "icl", "icl-cal", "head", "finetune", "pet", "pet-control",
           "pet-ensemble", "pet-distill", "soft", "soft-random", "prefix", "p-tuning", "autoprompt",
           "zero-shot-sim", "head-lr", "soft-head")
TRAINED = {"head", "finetune", "pet", "pet-control", "pet-ensemble", "pet-distill", "soft", "soft-random", "prefix", "p-tuning", "autoprompt",
           "head-lr", "soft-head"}
ENCODER_ONLY = {"zero-shot-sim", "head-lr", "soft-head"}          # mean-pooled states of a bidirectional encoder


def hyperparameters(method, model_name=None):
    """The setting ``run`` uses for `method` on the model named `model_name`: HYPERPARAMETERS, with
    MODEL_HYPERPARAMETERS[name][method]'s values in place of theirs, where name is `model_name` or,
    for a model folder, its last part (``tinyllm prompt --model ~/.cache/tinyllm/minilm-mlm``)."""
    from pathlib import PurePath

    name = model_name if model_name in MODEL_HYPERPARAMETERS or model_name is None else PurePath(str(model_name)).name
    return {**HYPERPARAMETERS.get(method, {}), **MODEL_HYPERPARAMETERS.get(name, {}).get(method, {})}


def model_kind(model):
    """'gpt' or 'bert' for a tinyllm language model."""
    from tinyllm.models import BERT, GPT

    if isinstance(model, GPT):
        return "gpt"
    if isinstance(model, BERT):
        return "bert"
    raise TypeError(f"model must be a tinyllm GPT or BERT, got {type(model).__name__}")


def templates(task, kind):
    """The templates of `task` for a model `kind` (the task's default first) with their label words."""
    default, words = T.default_prompt(task, kind)
    if words is None:
        raise ValueError(f"task {task!r} is generative: these methods need a classification or cloze task")
    out = [(default, words)]
    for text in TEMPLATES.get((task, kind), [default])[1:]:
        out.append((text, SIMPLE_WORDS.get(task, words)))
    return out


def applies(method, kind):
    """Whether `method` runs on a model of `kind`, and if not, why."""
    if method not in METHODS:
        raise ValueError(f"method: unknown {method!r}; choose one of {list(METHODS)}")
    if method in ("icl", "icl-cal") and kind == "bert":
        return False, "in-context learning needs a causal LM that reads demonstrations before the query"
    if method in ENCODER_ONLY and kind == "gpt":
        return False, "mean-pooled sentence embeddings need a bidirectional encoder (BERT)"
    return True, ""


def run(method, task, model, tokenizer, k, seed, n_test=500, template=0, label_words=None, model_name=None,
        split="test", **overrides):
    """Run `method` on `task` with K = `k` labelled examples per class (seeded sample and seeded
    initialisation) and score it on `n_test` test examples -> a result row (dict): task, model,
    method, k, seed, template, accuracy, macro_f1, seconds, hp (every hyper-parameter used).

    template: an index into ``templates(task, kind)`` or a template text (then `label_words`, a dict
    label name -> words, is required unless the task's default words fit); overrides: any of the
    method's ``HYPERPARAMETERS``. split: where the score is measured: "test" (the first `n_test`
    test examples), "validation", or "dev" (true few-shot: K more examples per class from the train
    split, disjoint from the K it trains on, ``tasks.dev_set``; how the grid's settings are chosen)."""
    from tinyllm.prompt.metrics import evaluate

    kind = model_kind(model)
    ok, why = applies(method, kind)
    if not ok:
        raise ValueError(f"method {method!r} does not apply to a {kind.upper()}: {why}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an int >= 0 (examples per class), got {k!r}")
    if method in TRAINED | {"icl", "icl-cal"} and k == 0:
        raise ValueError(f"method {method!r} needs labelled examples: k >= 1")
    hp = {**hyperparameters(method, model_name), **overrides}
    unknown = set(overrides) - set(HYPERPARAMETERS.get(method, {}))
    if unknown:
        raise ValueError(f"{method}: unknown hyper-parameters {sorted(unknown)}; "
                         f"it takes {sorted(HYPERPARAMETERS.get(method, {}))}")
    train = T.load(task, "train")
    shots = T.few_shot(train, k, seed) if k > 0 else None
    if split not in ("validation", "test", "dev"):
        raise ValueError(f"split must be 'test', 'validation' or 'dev', got {split!r}")
    if split == "dev":
        if k == 0:
            raise ValueError("split='dev' draws K development examples per class: it needs k >= 1")
        test = T.dev_set(train, k, seed)
    else:
        test = T.load(task, split, n_test)
    choices = templates(task, kind)
    if isinstance(template, str):
        text, words = template, label_words or choices[0][1]
    elif isinstance(template, (int, np.integer)) and not isinstance(template, bool) and 0 <= template < len(choices):
        text, words = choices[template]
        words = label_words or words
    else:
        raise ValueError(f"template must be a template text or an index in [0, {len(choices)}), got {template!r}")
    if list(words) != list(test.label_names):
        raise ValueError(f"label_words must name the task's labels {test.label_names} in that order, got {list(words)}")
    start = time.perf_counter()
    y_pred = _METHOD_FUNCS[method](model, tokenizer, text, words, shots, test, seed, hp, task)
    seconds = time.perf_counter() - start
    scores = evaluate(test.labels, y_pred, labels=list(range(len(test.label_names))))
    return dict(task=task, model=model_name or type(model).__name__, method=method, k=int(k), seed=int(seed),
                template=text, accuracy=scores["accuracy"], macro_f1=scores["macro_f1"],
                seconds=round(seconds, 3), hp=hp, n_test=len(test), split=split)


# ------------------------------------------------------------------------------ the methods


def _prompt_model(model, tokenizer, text, words, seed, peft=None):
    from tinyllm.prompt import PromptModel

    return PromptModel(model, tokenizer, text, words, peft=peft, seed=seed)


def _zero_shot(model, tok, text, words, shots, test, seed, hp, task, calibrated=False):
    pm = _prompt_model(model, tok, text, words, seed)
    probs = pm.predict_proba(test.texts)
    if calibrated:
        from tinyllm.prompt import calibrate
        probs = calibrate(probs, pm.content_free_probs())
    return probs.argmax(axis=1)


def _icl(model, tok, text, words, shots, test, seed, hp, task, calibrated=False):
    from tinyllm.prompt import Demonstrations, calibrate

    per_class = len(shots) // len(shots.label_names)          # every one of the K examples per class
    if per_class > hp["max_per_class"]:
        raise ValueError(f"in-context learning shows all K examples per class in the context; K = {per_class} "
                         f"is more than max_per_class = {hp['max_per_class']} (a 256-token context holds "
                         "3 TinyWorld reviews per class of a two-class task, not 4)")
    pm = _prompt_model(model, tok, text, words, seed)
    demos = Demonstrations(shots, k=len(shots), order=hp["order"], seed=seed)
    probs = pm.predict_proba(test.texts, demonstrations=demos)
    if calibrated:
        probs = calibrate(probs, pm.content_free_probs(demonstrations=demos))
    return probs.argmax(axis=1)


def _classifier(model, tok, text, words, shots, test, seed, hp, task, head_only=True):
    from tinyllm.prompt.finetune import classifier_for, finetune, predict_classifier

    clf = classifier_for(model, len(shots.label_names), seed=seed)        # a copy of the weights
    finetune(clf, shots, tok, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed, head_only=head_only)
    return predict_classifier(clf, test.texts, tok)


def _pet(model, tok, text, words, shots, test, seed, hp, task, control=False):
    from tinyllm.prompt import fit

    if control:
        if task not in CONTROL_WORDS:
            raise ValueError(f"pet-control has no control label words for task {task!r}")
        words = CONTROL_WORDS[task]
    pm = _prompt_model(copy_model(model), tok, text, words, seed)
    fit(pm, shots, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed)
    return pm.predict(test.texts)


def _pet_ensemble(model, tok, text, words, shots, seed, hp, task):
    """PET trained once per template of the task (each on its own copy of the model), uniform weights."""
    from tinyllm.prompt import PETEnsemble, fit

    kind = model_kind(model)
    members = []
    for t_text, t_words in templates(task, kind):
        pm = _prompt_model(copy_model(model), tok, t_text, t_words, seed)
        fit(pm, shots, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed)
        members.append(pm)
    return PETEnsemble(members)


def _pet_ens(model, tok, text, words, shots, test, seed, hp, task):
    return _pet_ensemble(model, tok, text, words, shots, seed, hp, task).predict(test.texts)


def _pet_distill(model, tok, text, words, shots, test, seed, hp, task):
    """PET's last step: the ensemble labels unlabelled training text softly (temperature T) and a
    classifier (E2.1) on a fresh copy of the model learns from those soft labels alone."""
    from tinyllm.prompt.finetune import classifier_for, predict_classifier
    from tinyllm.prompt.pet import distill

    teacher = _pet_ensemble(model, tok, text, words, shots, seed, hp, task)
    pool = T.load(task, "train")
    rng = np.random.default_rng([int(seed), 2])
    texts = [pool.texts[i] for i in rng.choice(len(pool), size=min(hp["n_unlabeled"], len(pool)), replace=False)]
    clf = classifier_for(model, len(shots.label_names), seed=seed)
    distill(teacher, clf, texts, tok, hp["distill_steps"], hp["distill_lr"], batch_size=hp["batch_size"],
            temperature=hp["temperature"], seed=seed)
    return predict_classifier(clf, test.texts, tok)


def _soft(model, tok, text, words, shots, test, seed, hp, task, init="text"):
    from tinyllm.prompt import fit
    from tinyllm.prompt.peft import PromptTuningConfig

    if init == "text":                 # the template's words before {mask} become trainable vectors
        before, _, after = text.partition("{mask}")
        head, _, stem = before.partition("{x}")
        stem = stem.strip()
        slot = "{soft:" + stem + "}" if stem else "{soft*4}"
        pm = _prompt_model(model, tok, head + "{x} " + slot + " {mask}" + after, words, seed)
    else:
        cfg = PromptTuningConfig(num_virtual_tokens=hp["num_virtual_tokens"], init="random")
        pm = _prompt_model(model, tok, text, words, seed, peft=cfg)
    fit(pm, shots, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed)
    return pm.predict(test.texts)


def _prefix(model, tok, text, words, shots, test, seed, hp, task):
    from tinyllm.prompt import fit
    from tinyllm.prompt.peft import PrefixTuningConfig

    pm = _prompt_model(model, tok, text, words, seed,
                       peft=PrefixTuningConfig(num_virtual_tokens=hp["num_virtual_tokens"]))
    fit(pm, shots, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed)
    return pm.predict(test.texts)


def _p_tuning(model, tok, text, words, shots, test, seed, hp, task):
    from tinyllm.prompt import fit
    from tinyllm.prompt.peft import PromptEncoderConfig

    cfg = PromptEncoderConfig(num_virtual_tokens=hp["num_virtual_tokens"],
                              encoder_hidden_size=hp["encoder_hidden_size"], encoder_type="lstm")
    pm = _prompt_model(model, tok, text, words, seed, peft=cfg)
    fit(pm, shots, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed)
    return pm.predict(test.texts)


def _autoprompt(model, tok, text, words, shots, test, seed, hp, task):
    from tinyllm.prompt import autoprompt

    trig = "{trigger*%d}" % hp["num_triggers"]
    pm = _prompt_model(model, tok, text.replace("{mask}", trig + " {mask}", 1), words, seed)
    autoprompt(pm, shots, iters=hp["iters"], n_candidates=hp["n_candidates"], batch_size=hp["batch_size"], seed=seed)
    return pm.predict(test.texts)


def _zero_shot_sim(model, tok, text, words, shots, test, seed, hp, task):
    from tinyllm.prompt.sentence_embed import predict_by_similarity

    return predict_by_similarity(model, tok, test.texts, label_descriptions(task, text, words))


def label_descriptions(task, text, words):
    """zero-shot-sim's description of each label (in label order) for the template `text`:
    DESCRIPTIONS[task][i] when `text` is the task's i-th template, else the template without {x}
    and with the label's first word at {mask}."""
    kinds = [k for k in ("bert", "gpt") if (task, k) in TEMPLATES]
    listed = [t for t, _ in templates(task, kinds[0])] if kinds else [T.default_prompt(task, "bert")[0]]
    if task in DESCRIPTIONS and text in listed and listed.index(text) < len(DESCRIPTIONS[task]):
        chosen = DESCRIPTIONS[task][listed.index(text)]
        return [chosen[label] for label in words]
    return [" ".join(text.replace("{x}", " ").replace("{mask}", ws[0]).split()) for ws in words.values()]


def _head_lr(model, tok, text, words, shots, test, seed, hp, task):
    from tinyllm.prompt.linear_probe import fit_probe, predict_probe
    from tinyllm.prompt.sentence_embed import embed

    W, b = fit_probe(embed(model, tok, shots.texts), shots.labels, len(shots.label_names), l2=hp["l2"],
                     steps=hp["steps"], lr=hp["lr"])
    return predict_probe(W, b, embed(model, tok, test.texts))


def _soft_head(model, tok, text, words, shots, test, seed, hp, task):
    from tinyllm.prompt import soft_head as SH

    stem = " ".join(text.partition("{mask}")[0].replace("{x}", " ").split())   # "It was" of "{x} It was {mask}."
    sph = SH.SoftPromptHead(model, tok, len(shots.label_names), num_virtual_tokens=hp["num_virtual_tokens"],
                            init_text=stem or None, seed=seed, l2=hp["l2"])
    SH.fit(sph, shots, hp["steps"], hp["lr"], batch_size=hp["batch_size"], seed=seed,
           probe_steps=hp["probe_steps"], probe_lr=hp["probe_lr"])
    return sph.predict(test.texts)


def copy_model(model):
    """A deep copy of a model (PET trains the weights; the caller's model must not change)."""
    return copy.deepcopy(model)


_METHOD_FUNCS = {
    "zero-shot": _zero_shot,
    "zero-shot-cal": lambda *a: _zero_shot(*a, calibrated=True),
    "icl": _icl,
    "icl-cal": lambda *a: _icl(*a, calibrated=True),
    "head": _classifier,
    "finetune": lambda *a: _classifier(*a, head_only=False),
    "pet": _pet,
    "pet-control": lambda *a: _pet(*a, control=True),
    "pet-ensemble": _pet_ens,
    "pet-distill": _pet_distill,
    "soft": _soft,
    "soft-random": lambda *a: _soft(*a, init="random"),
    "prefix": _prefix,
    "p-tuning": _p_tuning,
    "autoprompt": _autoprompt,
    "zero-shot-sim": _zero_shot_sim,
    "head-lr": _head_lr,
    "soft-head": _soft_head,
}
