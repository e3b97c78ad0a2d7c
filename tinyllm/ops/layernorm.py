"""Layer normalisation (S4): y = gamma * (x - mu) / sqrt(var + eps) + beta over the last axis."""

import numpy as np

from tinyllm.ops._checks import check_float, check_same_dtype


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Implements S4 over the last axis (biased variance, as GPT-2 and BERT use).

    x: (..., C)   gamma, beta: (C,)   ->   y: (..., C)
    cache: x_hat (..., C) the normalised input, rstd (..., 1) = 1/sigma, gamma (C,): all the
    backward needs.
    """
    check_float("x", x)
    check_same_dtype(x=x, gamma=gamma, beta=beta)
    C = x.shape[-1]
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"layernorm: gamma and beta must have shape ({C},), "
                         f"got {gamma.shape} and {beta.shape}")
    mu = x.mean(axis=-1, keepdims=True)                          # (..., 1)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)           # (..., 1)
    rstd = 1.0 / np.sqrt(var + eps)                              # (..., 1)
    x_hat = (x - mu) * rstd                                      # (..., C)
    y = x_hat * gamma + beta
    return y, {"x_hat": x_hat, "rstd": rstd, "gamma": gamma}


def layernorm_backward(dy, cache):
    """Backward of S4.

    With g = dy * gamma, the gradient through the normalisation is
        dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))
    (mean over the last axis): subtracting mean(g) undoes the shift by mu, and the x_hat term undoes
    the scaling by sigma. dgamma = sum(dy * x_hat), dbeta = sum(dy) over every axis but the last.
    """
    x_hat, rstd, gamma = cache["x_hat"], cache["rstd"], cache["gamma"]
    g = dy * gamma
    dx = rstd * (g - g.mean(axis=-1, keepdims=True)
                 - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    C = x_hat.shape[-1]
    dgamma = (dy * x_hat).reshape(-1, C).sum(axis=0)
    dbeta = dy.reshape(-1, C).sum(axis=0)
    return dx, dgamma, dbeta
