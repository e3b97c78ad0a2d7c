"""Global-norm gradient clipping (S9)."""

import math

import numpy as np


def global_norm(grads):
    """||g||_2 over every gradient array together: sqrt(sum_i sum(g_i^2)), as a Python float."""
    total = 0.0
    for g in grads.values():
        total += float(np.vdot(g, g))
    return math.sqrt(total)


def clip_grad_norm(grads, max_norm):
    """Scale every gradient in place by min(1, max_norm / ||g||) (S9); return the norm before clipping.

    A non-finite norm is returned unchanged and nothing is scaled, so the caller can stop training.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm: expected > 0, got {max_norm}")
    norm = global_norm(grads)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm
