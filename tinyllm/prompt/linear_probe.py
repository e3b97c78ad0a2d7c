"""A linear probe: logistic regression (E2.1 with a linear head) on frozen features, trained on the
whole (small) training set at once (full batch). The cheapest "head-only" baseline: the encoder runs
once per text (its features can be cached, tinyllm.prompt.sentence_embed), only W and b train.

    P(y | x) = softmax(W^T e(x) + b)_y                          W (C, L), b (L,); e(x) (C,) frozen
    J(W, b) = mean_n -log P(y_n | x_n) + (lam / 2) ||W||^2      cross-entropy (S2) + L2 on W
    W, b <- full-batch gradient descent with Adam (S9) for ``steps`` steps from zero

J is convex, so from W = 0 the result does not depend on a seed; with K = 16 examples per class and
C = 384 features the L2 term is what keeps the probe from fitting noise.
"""

import numpy as np


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probe_loss_and_grads(W, b, X, y, l2):
    """J and its gradients. X (N, C), y (N,) int, W (C, L), b (L,) -> (loss, dW (C, L), db (L,))."""
    N = X.shape[0]
    P = _softmax(X @ W + b)                                         # (N, L)  S1
    loss = -np.log(P[np.arange(N), y] + 1e-300).mean() + 0.5 * l2 * float((W * W).sum())
    dz = P.copy()
    dz[np.arange(N), y] -= 1.0                                      # S2: softmax - onehot
    dz /= N
    return float(loss), X.T @ dz + l2 * W, dz.sum(axis=0)


def fit_probe(X, y, num_labels, l2=1e-2, steps=300, lr=0.1):
    """Fit the probe by full-batch Adam on J (float64). Returns (W (C, L), b (L,))."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
        raise ValueError(f"X must be (N, C) and y (N,) with N >= 1, got {X.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= num_labels:
        raise ValueError(f"y must hold labels in [0, {num_labels}), got {y.min()}..{y.max()}")
    if not (l2 >= 0 and lr > 0 and int(steps) >= 1):
        raise ValueError(f"need l2 >= 0, lr > 0 and steps >= 1, got {l2}, {lr}, {steps}")
    W, b = np.zeros((X.shape[1], num_labels)), np.zeros(num_labels)
    state = [np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, int(steps) + 1):                              # Adam (S9), no weight decay
        _, dW, db = probe_loss_and_grads(W, b, X, y, l2)
        for p, g, m, v in ((W, dW, state[0], state[1]), (b, db, state[2], state[3])):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return W, b


def predict_probe(W, b, X):
    """argmax_y P(y | x) (E2.1) -> (N,) int."""
    return (np.asarray(X, dtype=np.float64) @ W + b).argmax(axis=1)
