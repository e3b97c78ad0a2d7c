"""Validation (article §3.2 step 9): mean cross-entropy, perplexity (E4.1) and token accuracy.

A batch is a dict of keyword arguments for ``model.loss_and_grads``: GPT batches carry ``idx`` and
``targets`` (E3.6), BERT batches ``idx``, ``labels`` (E3.7) and optionally ``attention_mask`` and
``token_type_ids``. Positions whose target is -100 are not scored.
"""

import math

import numpy as np

from tinyllm.ops.losses import IGNORE_INDEX
from tinyllm.ops.softmax import log_softmax_forward

TARGET_KEYS = ("targets", "labels")


def split_batch(batch):
    """(forward kwargs, targets) of a batch dict."""
    for key in TARGET_KEYS:
        if key in batch:
            inputs = {k: v for k, v in batch.items() if k != key}
            return inputs, batch[key]
    raise KeyError(f"batch: expected one of the keys {TARGET_KEYS}, got {sorted(batch)}")


def count_tokens(batch):
    """How many real (non-padding) input tokens the batch holds, for throughput: the attention
    mask's sum when there is one (BERT), else the scored positions (GPT: one per input token)."""
    if batch.get("attention_mask") is not None:
        return int(np.asarray(batch["attention_mask"]).sum())
    return int((split_batch(batch)[1] != IGNORE_INDEX).sum())


def batch_sums(model, batch):
    """E4.1's sums over one batch: (summed NLL over scored tokens, correct argmax predictions,
    scored tokens). A batch with nothing to score gives (0.0, 0, 0)."""
    inputs, targets = split_batch(batch)
    logits = model.forward(**inputs)                               # (B, T, V)
    keep = targets != IGNORE_INDEX                                 # (B, T)
    if not keep.any():
        return 0.0, 0, 0
    z = logits[keep]                                               # (n, V)
    y = targets[keep]                                              # (n,)
    logp, _ = log_softmax_forward(z.astype(np.float64))
    return float(-logp[np.arange(y.size), y].sum()), int((z.argmax(axis=-1) == y).sum()), int(y.size)


def evaluate_sums(model, batches):
    """``batch_sums`` of every batch, in order, with dropout off (the model's mode is restored)."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        return [batch_sums(model, batch) for batch in batches]
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def metrics_from_sums(sums):
    """Token-weighted metrics from per-batch ``(nll, correct, n)`` sums, added in batch order (so
    that sums gathered from several processes give exactly the one-process numbers)."""
    nll_sum, correct, n = 0.0, 0, 0
    for nll, c, k in sums:
        nll_sum += nll
        correct += c
        n += k
    if n == 0:
        return {"loss": float("nan"), "ppl": float("nan"), "accuracy": float("nan"), "tokens": 0}
    loss = nll_sum / n
    return {"loss": loss, "ppl": math.exp(min(loss, 700.0)), "accuracy": correct / n, "tokens": n}


def evaluate(model, batches):
    """Token-weighted validation metrics over ``batches`` (dropout off).

    E4.1 in logs: the corpus log-likelihood is the sum of log P(x_j | context) over every scored
    token; dividing by the token count gives the mean NLL (cross-entropy, nats per token), and
    perplexity = exp(mean NLL) (S2).
    Returns {"loss", "ppl", "accuracy", "tokens"}.
    """
    return metrics_from_sums(evaluate_sums(model, batches))
