"""Validation (article §3.2 step 9): mean cross-entropy, perplexity (E4.1) and token accuracy.

``evaluate(model, batches)`` scores prepared batches (the trainer's validation); ``evaluate_corpus``
is step 9 on its own: it samples fresh documents of a corpus, batches them and scores them, with
TinyWorld's two entropy floors beside the result.

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


def evaluate_corpus(model, tokenizer, corpus="tinyworld", split="test", n_docs=1000, seed=12345,
                    batch_size=64, mask_prob=0.15):
    """Cross-entropy, perplexity (E4.1) and accuracy of ``model`` on fresh text.

    TinyWorld: ``n_docs`` documents sampled from ``split``; a GPT reads each as [BOS] text [EOS] and
    predicts text + [EOS] (the tokens the floors count). Beside the result: ``entropy_floor``, the
    practical floor (the generator's own cross-entropy on these documents, which bounds any model
    that does not use the split's hash), and ``entropy_floor_split``, the exact floor of the split
    (lower by ln(10) per validation or test document; it bounds every model); see
    ``tinyllm.data.tinyworld``. A BERT gets S10-masked documents and is scored on the masked
    positions (E3.7), with no floor. Other corpora: up to ``n_docs`` windows of ``max_len`` tokens
    from the last 5% of the text, the part ``pretrain`` holds out for validation (GPT only).
    """
    from tinyllm.models import GPT
    from tinyllm.train.batches import MaskedLMBatches, WindowBatches, fixed_causal_batches
    from tinyllm.train.pretrain import frame, load_text

    is_gpt = isinstance(model, GPT)
    T = model.config.max_len
    floor = floor_split = None
    if corpus == "tinyworld":
        from tinyllm.data import tinyworld

        docs = tinyworld.sample(n_docs, seed=seed, split=split)
        framed = frame([tokenizer.encode(d.text) for d in docs], tokenizer, "gpt" if is_gpt else "bert")
        if is_gpt:
            batches = fixed_causal_batches(framed, batch_size, tokenizer.pad_id, T)
            floor = tinyworld.entropy_floor(docs, tokenizer)
            floor_split = tinyworld.split_entropy_floor(docs, tokenizer, split)
        else:
            batches = MaskedLMBatches(framed, batch_size, tokenizer, max_len=T, mask_prob=mask_prob,
                                      seed=seed).fixed_batches()
    else:
        if not is_gpt:
            raise ValueError("corpus: BERT evaluation needs TinyWorld documents; use --corpus tinyworld")
        text = load_text(corpus)
        ids = tokenizer.encode(text[int(len(text) * 0.95):])       # the held-out part pretrain used
        if len(ids) < 2:
            raise ValueError(f"corpus {corpus!r}: its held-out part (the last 5% of the text) is "
                             f"{len(ids)} token(s); scoring a next-token prediction needs at least 2; "
                             f"give a longer text")
        windows = WindowBatches(ids, batch_size, min(T, len(ids) - 1), seed=seed)
        batches = windows.fixed_batches(max(1, n_docs // batch_size))
    r = evaluate(model, batches)
    r["entropy_floor"] = floor
    r["entropy_floor_split"] = floor_split
    r["what"] = "next-token accuracy" if is_gpt else "masked-token accuracy"
    return r
