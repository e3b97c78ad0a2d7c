"""The affine map y = x W + b, the building block of E3.1 (Q = X W^Q), E3.4 (W^O) and S6."""

from tinyllm.ops._checks import check_float, check_same_dtype


def linear_forward(x, W, b=None):
    """y = x W + b. Implements the projections of E3.1 and E3.4.

    x: (..., C_in)   W: (C_in, C_out)   b: (C_out,) or None   ->   y: (..., C_out)
    cache: x (..., C_in), W (C_in, C_out), has_b (bool).
    """
    check_float("x", x)
    check_float("W", W)
    check_same_dtype(x=x, W=W, b=b)
    if W.ndim != 2 or x.shape[-1] != W.shape[0]:
        raise ValueError(f"linear: x has last dim {x.shape[-1]} but W has shape {W.shape}; "
                         f"expected W of shape ({x.shape[-1]}, C_out)")
    if b is not None and b.shape != (W.shape[1],):
        raise ValueError(f"linear: b must have shape ({W.shape[1]},), got {b.shape}")
    # one 2-D product over all rows: NumPy's stacked (3-D @ 2-D) matmul can miss BLAS and be ~100x slower
    y = (x.reshape(-1, x.shape[-1]) @ W).reshape(x.shape[:-1] + (W.shape[1],))
    if b is not None:
        y = y + b
    return y, {"x": x, "W": W, "has_b": b is not None}


def linear_backward(dy, cache, need_dW=True):
    """Backward of y = x W + b:  dx = dy W^T,  dW = x^T dy (summed over rows),  db = sum dy.

    dy: (..., C_out) -> dx (..., C_in), dW (C_in, C_out), db (C_out,) or None.
    need_dW=False skips dW and db (both None): a frozen layer only passes the gradient on.
    """
    x, W = cache["x"], cache["W"]
    x2 = x.reshape(-1, x.shape[-1])          # (N, C_in)
    dy2 = dy.reshape(-1, dy.shape[-1])       # (N, C_out)
    dx = (dy2 @ W.T).reshape(x.shape)
    if not need_dW:
        return dx, None, None
    dW = x2.T @ dy2
    db = dy2.sum(axis=0) if cache["has_b"] else None
    return dx, dW, db
