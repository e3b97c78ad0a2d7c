"""The LSTM (Hochreiter & Schmidhuber) with a hand-written backward through time: P-tuning's prompt
encoder (S12) runs its virtual tokens through a bidirectional LSTM so that they depend on each other.

One direction, gates in PyTorch's order (i, f, g, o), h_0 = c_0 = 0:

    a_t = x_t W_x + h_{t-1} W_h + b                     (B, 4H)   all four gates at once
    i_t = sigma(a_i)   f_t = sigma(a_f)   g_t = tanh(a_g)   o_t = sigma(a_o)
    c_t = f_t * c_{t-1} + i_t * g_t                     (B, H)    the cell carries the memory
    h_t = o_t * tanh(c_t)                               (B, H)    the output at step t

W_x: (I, 4H), W_h: (H, 4H), b: (4H,) (PyTorch's weight_ih^T, weight_hh^T, bias_ih + bias_hh).
A reverse direction reads t = T-1 .. 0; its output at t is still aligned with x_t. A bidirectional
layer concatenates both directions (B, T, 2H) and feeds the next layer, as torch.nn.LSTM does.
"""

import numpy as np

from tinyllm.ops._checks import check_float, check_same_dtype


def _sigmoid(a):
    return 0.5 * (np.tanh(0.5 * a) + 1.0)          # = 1 / (1 + exp(-a)), without overflow


def lstm_forward(x, W_x, W_h, b, reverse=False):
    """One LSTM direction over a sequence.

    x: (B, T, I)   W_x: (I, 4H)   W_h: (H, 4H)   b: (4H,)   ->   h: (B, T, H), cache
    reverse: read the sequence from its end (the second direction of a bidirectional LSTM).
    """
    for name, a in (("x", x), ("W_x", W_x), ("W_h", W_h), ("b", b)):
        check_float(name, a)
    check_same_dtype(x=x, W_x=W_x, W_h=W_h, b=b)
    if x.ndim != 3:
        raise ValueError(f"lstm: x must be (B, T, I), got shape {x.shape}")
    I, T = x.shape[2], x.shape[1]
    H = W_h.shape[0]
    if W_x.shape != (I, 4 * H) or W_h.shape != (H, 4 * H) or b.shape != (4 * H,):
        raise ValueError(f"lstm: with I={I} inputs and H={H} units expected W_x {(I, 4 * H)}, "
                         f"W_h {(H, 4 * H)}, b {(4 * H,)}; got {W_x.shape}, {W_h.shape}, {b.shape}")
    B = x.shape[0]
    ax = (x.reshape(B * T, I) @ W_x).reshape(B, T, 4 * H) + b      # input part of a_t, all steps
    gates = np.empty((B, T, 4 * H), x.dtype)                      # i, f, g, o after their nonlinearity
    c = np.empty((B, T, H), x.dtype)
    h = np.empty((B, T, H), x.dtype)
    h_prev = np.zeros((B, H), x.dtype)
    c_prev = np.zeros((B, H), x.dtype)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        a = ax[:, t] + h_prev @ W_h                                 # (B, 4H)
        gi, gf, gg, go = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
        c_prev = gf * c_prev + gi * gg                              # c_t
        h_prev = go * np.tanh(c_prev)                               # h_t
        gates[:, t] = np.concatenate([gi, gf, gg, go], axis=1)
        c[:, t], h[:, t] = c_prev, h_prev
    return h, {"x": x, "W_x": W_x, "W_h": W_h, "gates": gates, "c": c, "h": h, "reverse": reverse}


def lstm_backward(dh, cache):
    """Backpropagation through time, walking lstm_forward's steps in the opposite order.

    dh: (B, T, H), the gradient of the outputs h -> dx (B, T, I), dW_x (I, 4H), dW_h (H, 4H), db (4H,).
    """
    x, W_x, W_h, gates, c, h = (cache[k] for k in ("x", "W_x", "W_h", "gates", "c", "h"))
    B, T, H = h.shape
    order = range(T - 1, -1, -1) if cache["reverse"] else range(T)
    steps = list(order)
    da = np.empty_like(gates)                                       # (B, T, 4H)
    dW_h = np.zeros_like(W_h)
    dh_next = np.zeros((B, H), h.dtype)                             # from step t+1 through h_t W_h
    dc_next = np.zeros((B, H), h.dtype)                             # from step t+1 through f_{t+1} c_t
    zeros = np.zeros((B, H), h.dtype)
    for k in range(T - 1, -1, -1):                                  # the forward's steps, last first
        t = steps[k]
        prev = steps[k - 1] if k > 0 else None
        gi, gf, gg, go = (gates[:, t, j * H:(j + 1) * H] for j in range(4))
        c_prev = c[:, prev] if prev is not None else zeros
        h_prev = h[:, prev] if prev is not None else zeros
        dht = dh[:, t] + dh_next
        tc = np.tanh(c[:, t])
        # in the forward pass: h_t = o_t * tanh(c_t)  and  c_t = f_t * c_{t-1} + i_t * g_t
        dc = dc_next + dht * go * (1 - tc * tc)
        da[:, t] = np.concatenate([dc * gg * gi * (1 - gi),          # d a_i  (sigma' = s (1 - s))
                                   dc * c_prev * gf * (1 - gf),      # d a_f
                                   dc * gi * (1 - gg * gg),          # d a_g  (tanh' = 1 - g^2)
                                   dht * tc * go * (1 - go)], axis=1)  # d a_o
        dc_next = dc * gf
        dh_next = da[:, t] @ W_h.T
        dW_h += h_prev.T @ da[:, t]
    I = x.shape[2]
    da2 = da.reshape(B * T, 4 * H)
    dx = (da2 @ W_x.T).reshape(B, T, I)
    dW_x = x.reshape(B * T, I).T @ da2
    return dx, dW_x, dW_h, da2.sum(axis=0)


def bilstm_forward(x, layers):
    """A stack of bidirectional LSTM layers (torch.nn.LSTM(bidirectional=True) with num_layers).

    x: (B, T, I)   layers: list of pairs (forward, reverse), each a triple (W_x, W_h, b); layer 0
    has W_x (I, 4H), later ones (2H, 4H)   ->   y: (B, T, 2H) = [h_forward, h_reverse], cache
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("bilstm: layers must be a non-empty list of (forward, reverse) weight triples")
    caches = []
    for fwd, rev in layers:
        hf, cf = lstm_forward(x, *fwd)
        hr, cr = lstm_forward(x, *rev, reverse=True)
        x = np.concatenate([hf, hr], axis=2)                        # (B, T, 2H)
        caches.append((cf, cr, hf.shape[2]))
    return x, caches


def bilstm_backward(dy, caches):
    """Backward of bilstm_forward: dy (B, T, 2H) -> dx (B, T, I) and, per layer, a pair of
    (dW_x, dW_h, db) triples (forward, reverse), in the order of ``layers``."""
    grads = []
    for cf, cr, H in reversed(caches):
        dxf, *gf = lstm_backward(dy[:, :, :H], cf)
        dxr, *gr = lstm_backward(dy[:, :, H:], cr)
        dy = dxf + dxr                                              # both directions read x
        grads.append((tuple(gf), tuple(gr)))
    return dy, grads[::-1]
