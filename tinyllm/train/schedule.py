"""Learning-rate schedules (S9): linear warm-up followed by cosine decay, and a constant rate.

A schedule is a callable ``lr = schedule(step)`` with ``step`` counting updates from 0.
"""

import math


class Constant:
    """lr(step) = lr, optionally after a linear warm-up over ``warmup`` steps."""

    def __init__(self, lr, warmup=0):
        if lr < 0:
            raise ValueError(f"lr: expected >= 0, got {lr}")
        if warmup < 0:
            raise ValueError(f"warmup: expected >= 0 steps, got {warmup}")
        self.lr = float(lr)
        self.warmup = int(warmup)

    def __call__(self, step):
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        return self.lr


class WarmupCosine:
    """Warm-up + cosine schedule (S9).

    lr(s) = lr_max (s+1)/W                                            for s < W
    lr(s) = lr_min + (lr_max - lr_min) (1 + cos(pi (s-W)/(S-W))) / 2  for W <= s < S
    lr(s) = lr_min                                                    for s >= S
    with W = ``warmup`` and S = ``total`` steps.
    """

    def __init__(self, lr, total, warmup=0, min_lr=0.0):
        if lr < 0 or min_lr < 0:
            raise ValueError(f"lr, min_lr: expected >= 0, got {lr}, {min_lr}")
        if min_lr > lr:
            raise ValueError(f"min_lr: expected <= lr={lr}, got {min_lr}")
        if total < 1:
            raise ValueError(f"total: expected >= 1 step, got {total}")
        if not 0 <= warmup <= total:
            raise ValueError(f"warmup: expected 0 <= warmup <= total={total}, got {warmup}")
        self.lr = float(lr)
        self.total = int(total)
        self.warmup = int(warmup)
        self.min_lr = float(min_lr)

    def __call__(self, step):
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if step >= self.total:
            return self.min_lr
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_schedule(name, lr, total, warmup=0, min_lr=0.0):
    """Build a schedule by name: ``"cosine"`` (WarmupCosine) or ``"constant"``."""
    if name == "cosine":
        return WarmupCosine(lr, total, warmup, min_lr)
    if name == "constant":
        return Constant(lr, warmup)
    raise ValueError(f"schedule: expected 'cosine' or 'constant', got {name!r}")
