"""Training through a prompt: PET (pattern-exploiting training), its ensemble and distillation.

``fit`` minimises the cross-entropy over the label scores of E2.2,

    L = -log P(y | x, t) = -log softmax_y S(y)          (S11; one one-token word per label: the
                                                          model's softmax restricted to the label words)

with AdamW (S9). What trains is ``prompt_model.prompt_params``: the model's weights for a hard
template (PET), or only the prompt (soft slots, a peft module; S12) with the model frozen and left
byte-identical. For BERT, PET's auxiliary masked-LM loss on unlabelled text (E3.7) keeps the model a
language model: L' = (1 - alpha) L + alpha L_MLM (Schick & Schuetze use alpha = 1e-4).

``PETEnsemble`` averages several prompts' label scores (one model per template); ``distill`` trains a
classifier (E2.1) on unlabelled text to match the ensemble's soft labels softmax(S / T).
"""

import numpy as np

from tinyllm.models.bert import BERT
from tinyllm.prompt.demonstrations import as_pairs
from tinyllm.prompt.prompt_model import TRIGGER, NonFiniteError, _softmax
from tinyllm.train.optim import AdamW


def fit(prompt_model, examples, steps, lr, batch_size=8, seed=0, weight_decay=0.0, unlabeled=None,
        mlm_weight=1e-4, mlm_batch_size=None):
    """Train `prompt_model` with -log P(y | x, t) (E2.2; the model's weights for PET, the prompt alone
    for soft prompts, S12) on labelled `examples` (a dataset or (text, label) pairs) for `steps`
    AdamW steps of `batch_size` examples (seeded epochs of shuffled examples).

    unlabeled: optional texts for PET's auxiliary masked-LM loss (BERT with a hard template only),
    weighted by `mlm_weight`. {trigger} tokens do not train here (they are discrete: ``autoprompt``).
    The model's mode is left as it is (zoo models load in evaluation mode: no dropout).
    Returns the list of per-step losses. A non-finite loss or parameter is a NonFiniteError; the
    parameters are then left as they were before that step.
    """
    pm = prompt_model
    pairs = as_pairs(examples)
    texts, labels = [t for t, _ in pairs], [y for _, y in pairs]
    steps = _count(steps, "steps", 0)
    batch_size = _count(batch_size, "batch_size", 1, MAX_BATCH)
    params = {k: v for k, v in pm.prompt_params.items() if k != TRIGGER}
    if not params:
        raise ValueError("this prompt has only {trigger} slots, which are discrete tokens: search them "
                         "with autoprompt(...) instead of fit")
    mlm = None
    if unlabeled is not None:
        if pm.frozen or not isinstance(pm.model, BERT):
            raise ValueError("unlabeled (the auxiliary MLM loss) needs PET on a BERT: a hard template, no peft")
        if not 0.0 <= mlm_weight <= 1.0:
            raise ValueError(f"mlm_weight must lie in [0, 1], got {mlm_weight}")
        mlm = _mlm_batches(pm, unlabeled, _count(mlm_batch_size or batch_size, "mlm_batch_size", 1, MAX_BATCH), seed)
    opt = AdamW(params, lr=lr, weight_decay=weight_decay)
    order = _Epochs(len(texts), seed)
    losses = []
    for step in range(steps):
        batch = order.take(batch_size)
        loss, grads = pm.loss_and_grads([texts[i] for i in batch], [labels[i] for i in batch])
        if mlm is not None:
            idx, mlm_labels, mask = next(mlm)
            mlm_loss, g = pm.model.loss_and_grads(idx, mlm_labels, attention_mask=mask)
            loss = (1 - mlm_weight) * loss + mlm_weight * mlm_loss
            grads = {k: (1 - mlm_weight) * grads[k] + mlm_weight * g[k] for k in grads}
        bad = [k for k in params if not np.all(np.isfinite(grads[k]))]
        if bad or not np.isfinite(loss):
            raise NonFiniteError(f"step {step}: the loss ({loss}) or the gradients of {bad} are not finite; "
                                 "lower lr or check the inputs")
        backup = {k: params[k].copy() for k in params}
        opt.step({k: grads[k] for k in params})
        bad = [k for k in params if not np.all(np.isfinite(params[k]))]
        if bad:
            for k in params:
                params[k][...] = backup[k]
            raise NonFiniteError(f"step {step}: prompt parameters {bad} became NaN or inf: lower lr (was {lr})")
        losses.append(float(loss))
    return losses


class PETEnsemble:
    """Several prompts (PET's patterns, each with its own trained model) voting together:

        S(y | x) = sum_i w_i S_i(y | x) / sum_i w_i,   P(y | x) = softmax_y S(y | x)

    weights: None (uniform) or one non-negative number per prompt (PET weights each pattern by its
    accuracy on the training set before training)."""

    def __init__(self, prompt_models, weights=None):
        self.members = list(prompt_models)
        if not self.members:
            raise ValueError("prompt_models must hold at least one PromptModel")
        names = self.members[0].verbalizer.label_names
        for i, pm in enumerate(self.members):
            if pm.verbalizer.label_names != names:
                raise ValueError(f"prompt_models[{i}] has labels {pm.verbalizer.label_names}, the first has {names}")
        w = np.ones(len(self.members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.members),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {len(self.members)} non-negative numbers, not all zero, got {weights!r}")
        self.weights = w / w.sum()
        self.label_names = list(names)

    @property
    def num_labels(self):
        return len(self.label_names)

    def label_scores(self, texts):
        """The weighted mean of the members' label scores -> (N, num_labels)."""
        return sum(w * pm.label_scores(texts) for w, pm in zip(self.weights, self.members))

    def predict_proba(self, texts):
        return _softmax(self.label_scores(texts))

    def predict(self, texts):
        return self.predict_proba(texts).argmax(axis=1)

    def soft_labels(self, texts, temperature=2.0):
        """softmax(S / T): PET's soft targets for distillation (T = 2 in the paper)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return _softmax(self.label_scores(texts) / temperature)


def distill(teacher, classifier, texts, tokenizer, steps, lr, batch_size=8, temperature=2.0, seed=0,
            weight_decay=0.0, wrt=None):
    """Train `classifier` (a GPTClassifier or BERTClassifier, E2.1) on unlabelled `texts` to match the
    teacher's soft labels q = softmax(S / T) (a PETEnsemble or a PromptModel): the loss is
    -sum_y q_y log softmax(z / T)_y, times T^2 (the classifier's soft-target loss).

    Inputs are framed as the classifier was pre-trained: [CLS] x [SEP] (BERT) or [BOS] x (GPT).
    wrt: the classifier's parameters to train (None = all). Returns the list of per-step losses."""
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty list of unlabelled strings")
    steps = _count(steps, "steps", 0)
    batch_size = _count(batch_size, "batch_size", 1, MAX_BATCH)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    K = getattr(classifier, "num_labels", None)
    if K != teacher.num_labels:
        raise ValueError(f"the classifier has {K} labels, the teacher {teacher.num_labels}")
    texts = list(texts)
    q = _softmax(teacher.label_scores(texts) / temperature)                 # (N, K) soft targets
    idx, mask = _frame_plain(classifier, tokenizer, texts)
    names = list(classifier.params) if wrt is None else list(wrt)
    opt = AdamW({k: classifier.params[k] for k in names}, lr=lr, weight_decay=weight_decay)
    order = _Epochs(len(texts), seed)
    losses = []
    for step in range(steps):
        b = order.take(batch_size)
        width = int(mask[b].sum(axis=1).max())
        loss, grads = classifier.loss_and_grads(idx[b, :width], q[b].astype(classifier.dtype),
                                                attention_mask=mask[b, :width], wrt=names,
                                                temperature=temperature)
        if not np.isfinite(loss):
            raise NonFiniteError(f"step {step}: the distillation loss is {loss}: lower lr (was {lr})")
        opt.step(grads)
        losses.append(float(loss))
    return losses


# ------------------------------------------------------------ helpers

class _Epochs:
    """Indices in seeded shuffled epochs, taken `n` at a time (a batch may span two epochs)."""

    def __init__(self, n, seed):
        self.n, self.rng, self.queue = n, np.random.default_rng([int(seed), 11]), []

    def take(self, k):
        while len(self.queue) < k:
            self.queue.extend(self.rng.permutation(self.n).tolist())
        out, self.queue = self.queue[:k], self.queue[k:]
        return out


def _frame_plain(model, tokenizer, texts):
    """[CLS] x [SEP] for a BERT, [BOS] x for a GPT, cut to the context and right-padded."""
    from tinyllm.prompt.template import encode_text

    is_bert = isinstance(model, BERT)
    start = [tokenizer.cls_id] if is_bert else ([] if tokenizer.bos_id is None else [tokenizer.bos_id])
    end = [tokenizer.sep_id] if is_bert else []
    room = model.config.max_len - len(start) - len(end)
    seqs = [start + encode_text(tokenizer, t)[:room] + end for t in texts]
    T = max(len(s) for s in seqs)
    idx = np.full((len(seqs), T), tokenizer.pad_id or 0, np.int64)
    mask = np.zeros((len(seqs), T), np.int64)
    for i, s in enumerate(seqs):
        idx[i, :len(s)], mask[i, :len(s)] = s, 1
    return idx, mask


def _mlm_batches(pm, texts, batch_size, seed):
    """Endless masked-LM batches (S10) of the unlabelled texts for PET's auxiliary loss."""
    from tinyllm.data.masking import mlm_mask

    if isinstance(texts, str) or not texts:
        raise ValueError("unlabeled must be a non-empty list of strings")
    tok = pm.tokenizer
    idx, mask = _frame_plain(pm.model, tok, list(texts))
    rng = np.random.default_rng([int(seed), 13])
    order = _Epochs(len(idx), seed)
    while True:
        b = order.take(batch_size)
        width = int(mask[b].sum(axis=1).max())
        corrupted, labels = mlm_mask(idx[b, :width], rng, vocab_size=tok.vocab_size, mask_id=tok.mask_id,
                                     special_ids=sorted(tok.special_ids), attention_mask=mask[b, :width])
        yield corrupted, labels, mask[b, :width]


# examples per step: a batch may repeat examples (it spans epochs when larger than the set), so its
# size is bounded by itself; a batch is one forward pass, and 10**9 rows would be built, not refused
MAX_BATCH = 1024


def _count(value, name, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high:,} (one forward pass of that many rows), got {value:,}")
    return int(value)
