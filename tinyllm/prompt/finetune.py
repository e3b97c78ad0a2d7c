"""Fine-tuning with a task head (E2.1), the baseline that prompt learning (E2.2) is compared with.

    y* = argmax_y P(y | x; theta)                                                  (E2.1)

A classifier (``BERTClassifier`` or ``GPTClassifier``) starts from a pre-trained model; ``finetune``
trains it with the cross-entropy of the labels (S2) and AdamW (S9):

- head-only (``head_only=True``): only the new head (``clf.head_param_names()``) trains, the
  pre-trained encoder is frozen;
- full: every parameter trains.

Inputs are framed as in pre-training, [CLS] x [SEP] (BERT) or [BOS] x (GPT), right-padded.
"""

import numpy as np

from tinyllm.prompt.demonstrations import as_pairs
from tinyllm.prompt.pet import _count, _Epochs, _frame_plain
from tinyllm.prompt.prompt_model import NonFiniteError
from tinyllm.train.optim import AdamW


def classifier_for(model, num_labels, seed=0):
    """A new classifier (E2.1) on top of a copy of the pre-trained `model` (GPT or BERT)."""
    from tinyllm.models import BERT, GPT, BERTClassifier, GPTClassifier

    if isinstance(model, GPT):
        return GPTClassifier.from_model(model, num_labels, seed=seed)
    if isinstance(model, BERT):
        return BERTClassifier.from_model(model, num_labels, seed=seed)
    raise TypeError(f"model must be a tinyllm GPT or BERT, got {type(model).__name__}")


def finetune(classifier, examples, tokenizer, steps, lr, batch_size=8, seed=0, head_only=False,
             weight_decay=0.0):
    """Train `classifier` on labelled `examples` (a dataset or (text, label) pairs): E2.1.

    head_only: train only the head (the encoder stays frozen and byte-identical). Returns the list of
    per-step losses; a non-finite loss is a NonFiniteError."""
    pairs = as_pairs(examples)
    names = list(getattr(examples, "label_names", None) or [])
    texts = [t["x"] if isinstance(t, dict) else t for t, _ in pairs]
    if any(isinstance(y, str) and y not in names for _, y in pairs):
        raise ValueError("labels must be label indices (or names of the dataset's label_names)")
    labels = np.array([names.index(y) if isinstance(y, str) else y for _, y in pairs], np.int64)
    steps = _count(steps, "steps", 0)
    batch_size = _count(batch_size, "batch_size", 1)
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if labels.min() < 0 or labels.max() >= classifier.num_labels:
        raise ValueError(f"labels must lie in [0, {classifier.num_labels}), got {labels.min()}..{labels.max()}")
    trained = classifier.head_param_names() if head_only else sorted(classifier.params)
    opt = AdamW({k: classifier.params[k] for k in trained}, lr=lr, weight_decay=weight_decay)
    idx, mask = _frame_plain(classifier, tokenizer, texts)                     # (N, T)
    order = _Epochs(len(texts), seed)
    losses = []
    for step in range(steps):
        b = order.take(batch_size)
        width = int(mask[b].sum(axis=1).max())
        loss, grads = classifier.loss_and_grads(idx[b, :width], labels[b], attention_mask=mask[b, :width],
                                                wrt=trained)
        if not np.isfinite(loss):
            raise NonFiniteError(f"step {step}: the fine-tuning loss is {loss}: lower lr (was {lr})")
        opt.step(grads)
        losses.append(float(loss))
    return losses


def predict_classifier(classifier, texts, tokenizer, batch_size=64):
    """argmax_y P(y | x) (E2.1) for each text -> (N,) int, in evaluation mode."""
    idx, mask = _frame_plain(classifier, tokenizer, list(texts))
    out = []
    for s in range(0, len(idx), batch_size):
        width = int(mask[s:s + batch_size].sum(axis=1).max())
        out.append(classifier.predict(idx[s:s + batch_size, :width], attention_mask=mask[s:s + batch_size, :width]))
    return np.concatenate(out) if out else np.zeros(0, np.int64)
