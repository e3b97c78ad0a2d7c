"""Gradient checking: compare a hand-written backward pass with central differences.

For a scalar function f and one entry x_i of an input,

    df/dx_i  ~  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

with an error of order eps^2. In float64 with eps = 1e-6 that leaves a relative error around 1e-9
to 1e-7 for well-scaled inputs; a wrong backward is off by order 1. Relative error here is
norm-wise, ||a - b|| / max(||a||, ||b||), which does not blow up on entries that are nearly zero.

An op ``y, cache = forward(**inputs)`` is turned into a scalar by a fixed random projection,
f = sum(y * dy), whose gradient is exactly what ``backward(dy, cache)`` returns.
"""

import numpy as np


def rel_error(a, b, zero=1e-7):
    """Norm-wise relative error ||a - b|| / max(||a||, ||b||).

    A gradient that is truly zero (the key bias b_K of attention is one: adding the same number to
    every score of a row leaves its softmax unchanged) has no meaningful relative error; finite
    differences only see round-off there. When both norms are below ``zero`` the absolute
    difference ||a - b|| is returned instead.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    diff = float(np.linalg.norm(a - b))
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return diff if scale < zero else diff / float(scale)


def numerical_grad(f, x, eps=1e-6, indices=None):
    """Central-difference gradient of the scalar function f() with respect to the array x.

    f: callable with no arguments that reads x (x is perturbed in place and restored).
    indices: optional iterable of flat indices to check (default: all). Returns an array shaped
    like x holding the estimates at ``indices`` (and NaN elsewhere when indices is given).
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_grad needs float64 inputs for meaningful differences, got {x.dtype}")
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_grad needs a contiguous array it can perturb in place")
    grad = np.full(x.shape, np.nan if indices is not None else 0.0)
    gflat = grad.reshape(-1)
    for i in (range(flat.size) if indices is None else indices):
        old = flat[i]
        flat[i] = old + eps
        f_plus = float(f())
        flat[i] = old - eps
        f_minus = float(f())
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_op(forward, backward, inputs, wrt, grad_names=None, seed=0, eps=1e-6, **kwargs):
    """Check backward(dy, cache) against central differences for the inputs named in ``wrt``.

    forward: callable(**inputs, **kwargs) -> (y, cache); y an array or a scalar.
    backward: callable(dy, cache) -> a tuple of gradients in the order ``grad_names`` (default:
              the order of ``wrt``) or a dict with keys "d" + name.
    inputs: dict name -> array (float64 for the ones checked). Returns {name: relative error}.
    """
    rng = np.random.default_rng(seed)
    y, cache = forward(**inputs, **kwargs)
    dy = rng.standard_normal(np.shape(y))
    if np.ndim(y) == 0:
        dy = float(dy)
    grads = backward(dy, cache)
    if isinstance(grads, dict):
        analytic = {name: grads["d" + name] for name in wrt}
    else:
        grads = grads if isinstance(grads, tuple) else (grads,)
        names = list(grad_names or wrt)
        if len(grads) != len(names):
            raise ValueError(f"check_op: backward returned {len(grads)} gradients for names {names}")
        analytic = {n: g for n, g in zip(names, grads) if n in wrt}

    def f():
        out, _ = forward(**inputs, **kwargs)
        return np.sum(out * dy)

    return {name: rel_error(analytic[name], numerical_grad(f, inputs[name], eps)) for name in wrt}


def check_model(loss_and_grads, params, n_samples=6, seed=0, eps=1e-6):
    """Check a whole model's gradients: for each parameter tensor, a few random entries.

    loss_and_grads: callable() -> (loss, grads dict); it must read ``params`` (perturbed in place).
    params: dict name -> float64 array. Returns {name: relative error over the sampled entries}.
    """
    rng = np.random.default_rng(seed)
    _, grads = loss_and_grads()
    if set(grads) != set(params):
        raise ValueError(f"check_model: grads keys differ from params: "
                         f"missing {sorted(set(params) - set(grads))}, extra {sorted(set(grads) - set(params))}")
    errors = {}
    for name, p in params.items():
        idx = rng.choice(p.size, size=min(n_samples, p.size), replace=False)
        num = numerical_grad(lambda: loss_and_grads()[0], p, eps, indices=idx)
        errors[name] = rel_error(np.asarray(grads[name]).reshape(-1)[idx], num.reshape(-1)[idx])
    return errors
