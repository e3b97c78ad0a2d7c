"""Contextual calibration (S11; Zhao et al. 2021, "Calibrate before use").

A prompt's label probabilities are biased (towards labels that appear last in the demonstrations,
towards frequent words). Estimate the bias with content-free inputs ("N/A", "", "[MASK]"):
p_cf = P(y | t(content-free)), then divide it out and renormalise:

    q = diag(p_cf)^-1 p / || diag(p_cf)^-1 p ||_1                 (S11)

so a content-free input is mapped to the uniform distribution.
"""

import numpy as np


def calibrate(probs, p_cf):
    """Contextual calibration (S11): p_hat = diag(p_cf)^-1 p, renormalised.

    probs (N, L) or (L,) rows of P(y | x, t); p_cf (L,) content-free probabilities
    (``PromptModel.content_free_probs``) -> calibrated probabilities, same shape, rows sum to 1."""
    p = np.asarray(probs, dtype=np.float64)
    cf = np.asarray(p_cf, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[-1] < 1:
        raise ValueError(f"probs must have shape (N, L) or (L,), got {p.shape}")
    if cf.shape != (p.shape[-1],):
        raise ValueError(f"p_cf must have shape ({p.shape[-1]},) (one probability per label), got {cf.shape}")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0)):
        raise ValueError("probs must be finite and non-negative")
    if not (np.all(np.isfinite(cf)) and np.all(cf > 0)):
        raise ValueError(f"p_cf must be finite and positive (it is divided by), got {cf}")
    q = p / cf                                                   # diag(p_cf)^-1 p
    s = q.sum(axis=-1, keepdims=True)
    if np.any(s == 0):
        raise ValueError("a row of probs is all zeros: nothing to renormalise")
    return q / s
