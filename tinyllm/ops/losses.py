"""Likelihood objectives: cross-entropy (S2), the autoregressive loss (E3.6), the masked-LM loss
(E3.7), sequence log-likelihoods and perplexity (E4.1).

All of them are the same computation, -log softmax(z)_y, applied to different positions:
- E3.6 predicts token i from tokens < i: targets are the inputs shifted left by one;
- E3.7 predicts the masked tokens from everything else: targets exist only at masked positions;
- E4.1 multiplies the per-token probabilities of whole documents; in logs that is a sum, and the
  mean over tokens is the cross-entropy whose exponential is the perplexity.
Positions whose target equals ``ignore_index`` (-100, as in PyTorch) contribute nothing.
"""

import math

import numpy as np

from tinyllm.ops._checks import check_float, check_int
from tinyllm.ops.softmax import log_softmax_forward

IGNORE_INDEX = -100


def check_targets(logits, targets, ignore_index):
    """Raise TypeError/ValueError unless logits (..., V) float and targets (...) int in [0, V) or
    ignore_index (shared with the fused kernels in tinyllm.kernels.fused)."""
    check_float("logits", logits)
    check_int("targets", targets)
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"cross-entropy: targets must have shape {logits.shape[:-1]} "
                         f"(logits without the vocabulary axis), got {targets.shape}")
    V = logits.shape[-1]
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= V))
    if bad.any():
        raise ValueError(f"cross-entropy: targets must lie in [0, {V}) or equal ignore_index="
                         f"{ignore_index}, got {int(targets[bad][0])}")


def cross_entropy_forward(logits, targets, ignore_index=IGNORE_INDEX):
    """Mean negative log-likelihood -log softmax(z)_y over the positions that are not ignored (S2).

    logits: (..., V) float   targets: (...) int, ``ignore_index`` = skip
    Returns the scalar mean NLL (0.0 when every position is ignored) and the cache: shape and dtype
    of the logits, rows (n,) the kept row indices, y (n,) their targets, p (n, V) their softmax.
    Only the kept rows go through the log-softmax, which matters for E3.7 where ~85% are ignored.
    """
    check_targets(logits, targets, ignore_index)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                              # (N, V)
    y = targets.reshape(-1)                                # (N,)
    rows = np.flatnonzero(y != ignore_index)               # (n,)
    cache = {"shape": logits.shape, "dtype": logits.dtype, "rows": rows, "y": y[rows], "p": None}
    if rows.size == 0:
        return logits.dtype.type(0.0), cache
    logp, ls_cache = log_softmax_forward(z[rows])          # (n, V)
    nll = -logp[np.arange(rows.size), y[rows]]             # (n,)
    cache["p"] = ls_cache["p"]
    return nll.mean(dtype=logits.dtype), cache


def cross_entropy_backward(dloss, cache):
    """Backward of S2: d logits = (softmax(z) - onehot(y)) / n on kept rows, 0 on ignored ones.

    dloss: scalar upstream gradient (1.0 for the loss itself) -> dlogits with the logits' shape.
    """
    V = cache["shape"][-1]
    dz = np.zeros((int(np.prod(cache["shape"][:-1])), V), dtype=cache["dtype"])
    rows = cache["rows"]
    if rows.size:
        g = cache["p"].copy()                              # (n, V)
        g[np.arange(rows.size), cache["y"]] -= 1.0
        dz[rows] = g * cache["dtype"].type(float(dloss) / rows.size)
    return dz.reshape(cache["shape"])


def causal_lm_targets(idx, pad_id=None):
    """Targets for the autoregressive loss E3.6: position t predicts token t+1.

    idx: (B, T) int -> targets (B, T) with targets[:, t] = idx[:, t+1], the last column and every
    position whose next token is padding set to IGNORE_INDEX.
    """
    check_int("idx", idx)
    targets = np.full_like(idx, IGNORE_INDEX)
    targets[:, :-1] = idx[:, 1:]
    if pad_id is not None:
        targets[targets == pad_id] = IGNORE_INDEX
    return targets


def causal_lm_loss_forward(logits, idx, pad_id=None):
    """E3.6, L(theta) = -sum_i log P(x_i | x_<i; theta), reported as the mean over predicted tokens.

    logits: (B, T, V) from a causal model run on idx (B, T). Multiply by the number of predicted
    tokens (cache["rows"].size) for the article's sum. Backward: ``cross_entropy_backward``.
    """
    return cross_entropy_forward(logits, causal_lm_targets(idx, pad_id))


def masked_lm_loss_forward(logits, labels):
    """E3.7, L(theta) = -sum_{i masked} log P(x_i | x_without_i; theta), as a mean over masked tokens.

    logits: (B, T, V) from a bidirectional model run on the corrupted input (S10);
    labels: (B, T), the original token at masked positions and IGNORE_INDEX elsewhere.
    """
    return cross_entropy_forward(logits, labels)


def sequence_log_likelihood(logits, targets, ignore_index=IGNORE_INDEX):
    """log P(x) = sum_j log P(x_j | context) per sequence: the inner product of E4.1, in logs.

    logits: (B, T, V)   targets: (B, T) int   ->   (B,) summed log-probabilities of the targets.
    Prompt scoring (S11) uses it to compare label words by their likelihood.
    """
    check_targets(logits, targets, ignore_index)
    logp, _ = log_softmax_forward(logits)                  # (B, T, V)
    keep = targets != ignore_index
    picked = np.take_along_axis(logp, np.where(keep, targets, 0)[..., None], axis=-1)[..., 0]
    return np.where(keep, picked, 0.0).sum(axis=-1)


def perplexity(mean_nll):
    """Perplexity = exp(mean NLL per token) (E4.1, S2): the effective number of equally likely
    next tokens. A model that always puts probability 1 on the truth has perplexity 1."""
    return math.exp(float(mean_nll))
