"""Optimizers for article §3.2 step 7: SGD with momentum, Adam and AdamW (S9).

Every optimizer shares one signature, in the CS231n habit: a per-parameter *rule*

    rule(p, g, state, lr, t) -> None      # updates p in place, keeps its moments in ``state``

and a small class that owns the parameter dict and one ``state`` dict beside each parameter::

    opt = AdamW(model.params, lr=3e-4, weight_decay=0.1)
    loss, grads = model.loss_and_grads(idx, targets)
    opt.step(grads)                       # one update of every parameter, in place
    opt.state_dict() / opt.load_state_dict(sd)

Weight decay is decoupled (AdamW) and applied only to weight matrices: biases and LayerNorm gains
and biases (all 1-D) are never decayed, and embedding tables only when ``decay_embeddings=True``.
"""

import math

import numpy as np

from tinyllm.kernels import fused

# Substrings that mark an embedding table in a parameter name (token, position and segment tables).
EMBEDDING_MARKERS = ("wte", "wpe", "emb", "tok_", "pos_", "seg_", "token_type")


def is_embedding(name):
    """True when the parameter ``name`` looks like an embedding table (see EMBEDDING_MARKERS)."""
    leaf = name.lower()
    return any(marker in leaf for marker in EMBEDDING_MARKERS)


def decays(name, p, decay_embeddings=False):
    """Whether AdamW's decoupled weight decay applies to parameter ``name`` (S9).

    Only matrices decay. 1-D parameters (biases, LayerNorm gamma/beta) never do; embedding tables
    decay only when ``decay_embeddings`` is True.
    """
    if p.ndim < 2:
        return False
    if is_embedding(name):
        return decay_embeddings
    return True


def sgd_rule(p, g, state, lr, t, momentum=0.0, weight_decay=0.0, nesterov=False):
    """SGD with (heavy-ball) momentum: v <- mu v + g;  p <- p - lr v.

    ``weight_decay`` here is the classic L2 term added to the gradient (g + wd p).
    """
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        v = state.setdefault("v", np.zeros_like(p))
        v *= momentum
        v += g
        g = g + momentum * v if nesterov else v
    p -= lr * g


def adam_rule(p, g, state, lr, t, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
              decoupled=True):
    """Adam / AdamW update with bias correction (S9).

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  m_hat = m/(1-b1^t);  v_hat = v/(1-b2^t)
    AdamW (decoupled=True):  p <- p - lr * (m_hat/(sqrt(v_hat)+eps) + wd p)
    Adam  (decoupled=False): g <- g + wd p before the moments (L2 regularisation).
    ``t`` counts updates from 1.
    """
    if weight_decay and not decoupled:
        g = g + weight_decay * p
    m = state.setdefault("m", np.zeros_like(p))
    v = state.setdefault("v", np.zeros_like(p))
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    # Bias correction folded into the step size (same arithmetic as torch.optim.AdamW).
    bc1 = 1.0 - beta1 ** t
    bc2 = 1.0 - beta2 ** t
    if weight_decay and decoupled:
        p *= 1.0 - lr * weight_decay
    denom = np.sqrt(v) / math.sqrt(bc2)      # math.sqrt: a Python float keeps float32 temporaries float32
    denom += eps
    p -= (lr / bc1) * (m / denom)


def adam_rule_fused(p, g, state, lr, t, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                    decoupled=True):
    """``adam_rule`` as one C loop over the parameter (csrc/fused.c): each entry of p, m and v is
    read and written once, with no temporaries. Same arithmetic; falls back to ``adam_rule`` when
    the extension is missing, the reference path is selected, or an array is not contiguous."""
    m = state.setdefault("m", np.zeros_like(p))
    v = state.setdefault("v", np.zeros_like(p))
    flat = all(a.flags.c_contiguous and a.dtype == p.dtype for a in (p, m, v))
    if not (flat and g.dtype == p.dtype and fused.enabled()):
        return adam_rule(p, g, state, lr, t, beta1, beta2, eps, weight_decay, decoupled)
    fused.adamw_step(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), m.reshape(-1), v.reshape(-1),
                     lr, beta1, beta2, eps, weight_decay, 1.0 - beta1 ** t, 1.0 - beta2 ** t,
                     decoupled)


class Optimizer:
    """Owns ``params`` (name -> array, updated in place) and a state dict beside each parameter.

    Subclasses set ``rule`` and the hyper-parameters passed to it. ``step(grads, lr=None)`` applies
    one update; ``lr`` overrides the base rate for this step (schedules pass it in).
    """

    rule = None

    def __init__(self, params, lr, weight_decay=0.0, decay_embeddings=False):
        if not isinstance(params, dict) or not params:
            raise TypeError(f"params: expected a non-empty dict name -> ndarray, got {type(params).__name__}")
        if not np.isfinite(lr) or lr < 0:
            raise ValueError(f"lr: expected a finite number >= 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay: expected >= 0, got {weight_decay}")
        self.params = params
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.decay_embeddings = bool(decay_embeddings)
        self.t = 0
        self.state = {name: {} for name in params}

    def hyper(self):
        """Keyword arguments of ``rule`` other than weight decay (subclasses override)."""
        return {}

    def decay_for(self, name):
        """The weight decay that applies to parameter ``name`` (0 for biases, LayerNorm, embeddings)."""
        p = self.params[name]
        return self.weight_decay if decays(name, p, self.decay_embeddings) else 0.0

    def step(self, grads, lr=None):
        """Update every parameter from ``grads`` (same keys as params, same shapes and dtypes)."""
        if set(grads) != set(self.params):
            missing = sorted(set(self.params) - set(grads))[:3]
            extra = sorted(set(grads) - set(self.params))[:3]
            raise ValueError(f"grads: keys must match params; missing {missing}, unexpected {extra}")
        lr = self.lr if lr is None else float(lr)
        self.t += 1
        hyper = self.hyper()
        for name, p in self.params.items():
            g = grads[name]
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}]: expected shape {p.shape}, got {g.shape}")
            type(self).rule(p, g, self.state[name], lr, self.t,
                            weight_decay=self.decay_for(name), **hyper)

    def state_dict(self):
        """A picklable snapshot: step count, hyper-parameters and copies of every moment array."""
        return {
            "type": type(self).__name__,
            "t": self.t,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "decay_embeddings": self.decay_embeddings,
            "hyper": self.hyper(),
            "state": {n: {k: v.copy() for k, v in s.items()} for n, s in self.state.items()},
        }

    def load_state_dict(self, sd):
        """Restore a ``state_dict()`` taken from the same kind of optimizer on the same params."""
        if sd.get("type") != type(self).__name__:
            raise ValueError(f"state_dict: expected an {type(self).__name__} state, got {sd.get('type')!r}")
        if set(sd["state"]) != set(self.params):
            raise ValueError("state_dict: parameter names differ from this optimizer's params")
        self.t = int(sd["t"])
        self.lr = float(sd["lr"])
        self.weight_decay = float(sd["weight_decay"])
        self.decay_embeddings = bool(sd["decay_embeddings"])
        for k, v in sd["hyper"].items():
            setattr(self, k, v)
        self.state = {}
        for name, s in sd["state"].items():
            p = self.params[name]
            self.state[name] = {k: np.array(v, dtype=p.dtype).reshape(p.shape) for k, v in s.items()}

    def flat_state(self):
        """The state as flat name -> ndarray (for .npz files) plus a JSON-able header."""
        arrays = {f"{n}::{k}": v for n, s in self.state.items() for k, v in s.items()}
        header = {key: val for key, val in self.state_dict().items() if key != "state"}
        return header, arrays

    def load_flat_state(self, header, arrays):
        """Inverse of ``flat_state``."""
        state = {name: {} for name in self.params}
        for key, v in arrays.items():
            name, _, slot = key.rpartition("::")
            if name not in state:
                raise ValueError(f"optimizer state: unknown parameter {name!r}")
            state[name][slot] = v
        self.load_state_dict(dict(header, state=state))


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (and L2 weight decay)."""

    rule = staticmethod(sgd_rule)

    def __init__(self, params, lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0,
                 decay_embeddings=False):
        super().__init__(params, lr, weight_decay, decay_embeddings)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum: expected 0 <= momentum < 1, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def hyper(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (S9) with bias correction; weight decay, if any, is the coupled L2 kind."""

    rule = staticmethod(adam_rule_fused)
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decay_embeddings=False):
        super().__init__(params, lr, weight_decay, decay_embeddings)
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"betas[{i}]: expected 0 <= beta < 1, got {b}")
        if eps <= 0:
            raise ValueError(f"eps: expected > 0, got {eps}")
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)

    def hyper(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "decoupled": self.decoupled}


class AdamW(Adam):
    """AdamW (S9): Adam with decoupled weight decay, p <- p - lr wd p, on weight matrices only."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                 decay_embeddings=False):
        super().__init__(params, lr, betas, eps, weight_decay, decay_embeddings)
