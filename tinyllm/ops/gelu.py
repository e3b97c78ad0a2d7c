"""GELU (S5): x * Phi(x), exact with erf (BERT) or with the tanh approximation (GPT-2)."""

import math

import numpy as np

from tinyllm.ops._checks import check_float

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_erf_object = np.frompyfunc(math.erf, 1, 1)   # math.erf on every element (NumPy has no erf)


def _erf_array(x):
    """Element-wise erf in x's dtype: C's erf through ``math.erf``, exact but one Python call per
    element. The fast path (tinyllm.kernels.fused) calls C's erf directly."""
    return np.asarray(_erf_object(x), dtype=x.dtype)


def gelu_forward(x, approximate="tanh"):
    """Implements S5.

    approximate="none":  y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
    approximate="tanh":  y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
    x: any shape -> y: same shape.
    cache: x, approximate, and t = tanh(u) (tanh form) or cdf = Phi(x) (exact form), both x's shape.
    """
    check_float("x", x)
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))
        t = np.tanh(u)
        y = 0.5 * x * (1.0 + t)
        return y, {"x": x, "t": t, "approximate": "tanh"}
    if approximate == "none":
        cdf = 0.5 * (1.0 + _erf_array(x / math.sqrt(2.0)))
        return x * cdf, {"x": x, "cdf": cdf, "approximate": "none"}
    raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")


def gelu_backward(dy, cache):
    """Backward of S5.

    exact:  dy/dx = Phi(x) + x * phi(x),  phi the standard normal density
    tanh:   dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    """
    x = cache["x"]
    if cache["approximate"] == "tanh":
        t = cache["t"]
        du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * (x * x))
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return dy * (cache["cdf"] + x * pdf)
