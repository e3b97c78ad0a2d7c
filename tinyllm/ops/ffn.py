"""The position-wise feed-forward network (S6): FFN(x) = GELU(x W_1 + b_1) W_2 + b_2."""

from tinyllm.ops.gelu import gelu_backward, gelu_forward
from tinyllm.ops.linear import linear_backward, linear_forward


def ffn_forward(x, W_1, b_1, W_2, b_2, approximate="tanh"):
    """Implements S6, the second half of every Transformer block (§3.1: attention + feed-forward).

    x: (B, T, C)   W_1: (C, F)   b_1: (F,)   W_2: (F, C)   b_2: (C,)   ->   y: (B, T, C)
    approximate: "tanh" (GPT-2) or "none" (BERT's exact erf GELU), see S5.
    cache: fc_1, gelu, fc_2 (the caches of the first linear, the GELU and the second linear).
    """
    h, c_1 = linear_forward(x, W_1, b_1)            # (B, T, F)
    g, c_g = gelu_forward(h, approximate)           # (B, T, F)   S5
    y, c_2 = linear_forward(g, W_2, b_2)            # (B, T, C)
    return y, {"fc_1": c_1, "gelu": c_g, "fc_2": c_2}


def ffn_backward(dy, cache, need_dW=True):
    """Backward of S6, in reverse order: second linear, GELU, first linear.

    dy: (B, T, C) -> dx (B, T, C), dW_1 (C, F), db_1 (F,), dW_2 (F, C), db_2 (C,)
    need_dW=False returns None for the four parameter gradients (a frozen FFN).
    """
    dg, dW_2, db_2 = linear_backward(dy, cache["fc_2"], need_dW)
    dh = gelu_backward(dg, cache["gelu"])
    dx, dW_1, db_1 = linear_backward(dh, cache["fc_1"], need_dW)
    return dx, dW_1, db_1, dW_2, db_2
