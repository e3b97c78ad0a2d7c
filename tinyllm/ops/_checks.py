"""Small input checks shared by the ops, so every op fails with the same kind of message."""

import numpy as np


def check_float(name, x):
    """Raise TypeError unless ``x`` is a float32 or float64 ndarray."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {x.dtype}")


def check_same_dtype(**arrays):
    """Raise TypeError when float arrays disagree in dtype (ops never cast silently)."""
    present = {k: v for k, v in arrays.items() if v is not None}
    dtypes = {v.dtype for v in present.values()}
    if len(dtypes) > 1:
        got = ", ".join(f"{k}={v.dtype}" for k, v in present.items())
        raise TypeError(f"all inputs must share one float dtype, got {got}")


def check_int(name, x):
    """Raise TypeError unless ``x`` is an integer ndarray."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of integers, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
