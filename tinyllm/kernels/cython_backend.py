"""The cython backend: the C99 kernels of csrc/ through the extension tinyllm._C.

Python checks the arguments and makes strided inputs contiguous; C does the loops with OpenMP.
Attention stores only the row log-sum-exp (B, H, Tq) besides its inputs and output; backward
recomputes the weights A from q, k and lse (FlashAttention on a CPU). Implements S1, E3.2, E3.3, S3.
"""

import numpy as np

from tinyllm.kernels import _validate

try:
    from tinyllm import _C
except ImportError as exc:  # the extension was not built
    _C = None
    _IMPORT_ERROR = exc


def check_available():
    """Raise ImportError, with the command that builds the extension, when it is missing."""
    if _C is None:
        raise ImportError(f"the C extension tinyllm._C is missing ({_IMPORT_ERROR}); "
                          "build with: pip install -e .")


def softmax_forward(x):
    """Row softmax over the last axis (S1). x (..., N) -> y (..., N), cache {"y"}."""
    check_available()
    x2 = _validate.as_rows("x", x)                      # (rows, N)
    y = np.empty_like(x2)
    _C.softmax_forward(x2, y)
    y = y.reshape(x.shape)
    return y, {"y": y}


def softmax_backward(dy, cache):
    """Backward of S1: dx = y * (dy - <dy, y>). dy (..., N) -> dx (..., N)."""
    y = cache["y"]
    dy2 = _validate.grad_like("dy", dy, y).reshape(-1, y.shape[-1])
    dx = np.empty_like(dy2)
    _C.softmax_backward(y.reshape(-1, y.shape[-1]), dy2, dx)
    return dx.reshape(y.shape)
