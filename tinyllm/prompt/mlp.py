"""The small MLPs of parameter-efficient prompts (S12): prefix tuning's reparameterisation (tanh, Li &
Liang) and P-tuning's prompt-encoder heads (ReLU, Liu et al.), with a hand-written backward.

    z_1 = x W_1 + b_1,  a_1 = act(z_1),  ...,  out = a_{n-1} W_n + b_n      (no activation at the end)

Weights are (C_in, C_out), names ``{prefix}.W_k`` / ``{prefix}.b_k`` for k = 1..n.
"""

import numpy as np

from tinyllm.ops.linear import linear_backward, linear_forward

ACTIVATIONS = ("tanh", "relu")


def mlp_init(prefix, sizes, rng, dtype):
    """Parameters of an MLP with layer widths ``sizes`` (C_0, C_1, ..., C_n): W_k ~ N(0, 1/C_{k-1}),
    b_k = 0."""
    params = {}
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"{prefix}.W_{k}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
        params[f"{prefix}.b_{k}"] = np.zeros(b, dtype)
    return params


def mlp_forward(x, params, prefix, n_layers, activation):
    """x (..., C_0) -> out (..., C_n), cache."""
    caches = []
    for k in range(1, n_layers + 1):
        x, c_lin = linear_forward(x, params[f"{prefix}.W_{k}"], params[f"{prefix}.b_{k}"])
        a = None
        if k < n_layers:
            x = np.tanh(x) if activation == "tanh" else np.maximum(x, 0)
            a = x
        caches.append((c_lin, a))
    return x, {"layers": caches, "prefix": prefix, "activation": activation}


def mlp_backward(dout, cache):
    """dout (..., C_n) -> dx (..., C_0), grads {name: array} of every W_k and b_k."""
    grads, prefix = {}, cache["prefix"]
    for k in range(len(cache["layers"]), 0, -1):
        c_lin, a = cache["layers"][k - 1]
        if a is not None:   # in the forward pass: a = tanh(z) or max(z, 0)
            dout = dout * (1 - a * a) if cache["activation"] == "tanh" else dout * (a > 0)
        dout, grads[f"{prefix}.W_{k}"], grads[f"{prefix}.b_{k}"] = linear_backward(dout, c_lin)
    return dout, grads
