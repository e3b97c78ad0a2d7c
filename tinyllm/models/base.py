"""What GPT and BERT share: a dict of named parameters, initialisation, train/eval mode, dtype, and the
selection of gradients a caller asked for (``wrt``)."""

import hashlib
import json

import numpy as np

from tinyllm.models.block import attention_kernel, block_backward, block_forward
from tinyllm.models.inputs import check_ids

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
GRAD_INPUTS = ("inputs_embeds", "past_kv")   # what backward(wrt=...) can return besides parameters


def check_dtype(dtype):
    """float32 or float64 -> np.dtype; anything else is a TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _FLOATS:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt



MAX_LABELS = 100_000    # classes of a classifier head: far above any task, far below a memory blow-up


def check_num_labels(num_labels):
    """num_labels as an int in [1, MAX_LABELS]; anything else is a ValueError (a config.json's
    num_labels of 10**12 would otherwise allocate a (C, 10**12) head)."""
    if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
    if num_labels > MAX_LABELS:
        raise ValueError(f"num_labels must be at most {MAX_LABELS:,}, got {num_labels:,}")
    return int(num_labels)

# How each parameter starts, by the last part of its name (one table instead of rules on name
# patterns): "ones" | "zeros" | "weight" (normal, std from the fan-in C_in of a (C_in, C_out)
# matrix) | "residual" (a weight whose output is added to the residual stream, S7: also scaled by
# Model._residual_scale) | "table" (an embedding table (N, C), std from its width C, S8).
INIT = {
    "gamma": "ones", "beta": "zeros",                                           # LayerNorm (S4)
    "b": "zeros", "b_Q": "zeros", "b_K": "zeros", "b_V": "zeros", "b_O": "zeros",
    "b_1": "zeros", "b_2": "zeros", "out_bias": "zeros",                       # biases
    "W": "weight", "W_Q": "weight", "W_K": "weight", "W_V": "weight", "W_1": "weight",   # E3.1, S6
    "W_O": "residual", "W_2": "residual",                                     # E3.4, S6 into the residual
    "tok_emb": "table", "pos_emb": "table", "seg_emb": "table",               # S8
}


class Model:
    """Base class: ``params`` (name -> ndarray), ``config``, ``dtype``, ``training``.

    A model starts in training mode (dropout active when config.dropout > 0), as in PyTorch;
    ``from_pretrained`` returns it in evaluation mode.
    """

    config_class = None

    def __init__(self, config, seed=0, dtype=np.float32, params=None):
        if not isinstance(config, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.dtype = check_dtype(dtype)
        self.training = True
        self._rng = np.random.default_rng([int(seed), 1])   # dropout masks when no rng= is given
        self.params = self._init_params(np.random.default_rng(int(seed))) if params is None else \
            self._check_params(params)

    # ------------------------------------------------------------ parameters

    def param_shapes(self):
        """name -> shape of every parameter."""
        raise NotImplementedError

    def _check_params(self, params):
        """Given parameters must have exactly the expected names, shapes and the model's dtype."""
        shapes = self.param_shapes()
        missing, extra = sorted(set(shapes) - set(params)), sorted(set(params) - set(shapes))
        if missing or extra:
            raise ValueError(f"params: missing {missing}, unexpected {extra}")
        for name, shape in shapes.items():
            a = params[name]
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != self.dtype:
                got = (a.shape, a.dtype) if isinstance(a, np.ndarray) else type(a).__name__
                raise ValueError(f"params[{name!r}] must be an array of shape {shape} and dtype {self.dtype}, got {got}")
        return dict(params)

    def _init_params(self, rng):
        """Random initial parameters, each by its rule in ``INIT`` (looked up by the last part of its
        name): LayerNorm gamma = 1, beta and biases = 0, normal weights and embedding tables. With
        config.init_std set (GPT-2 and BERT use 0.02) every weight and table has that standard
        deviation; by default (None) it scales with the width: 1/sqrt(C_in) for a (C_in, C_out)
        weight and 1/sqrt(d_model) for an (N, d_model) table, which keeps activations and gradients
        of order one at any width (and well above round-off in a gradient check). The "residual"
        weights (W_O, W_2) are also scaled by ``_residual_scale`` (GPT-2: 1/sqrt(2 n_layer))."""
        params = {}
        fixed = self.config.init_std
        for name, shape in self.param_shapes().items():
            leaf = name.rsplit(".", 1)[-1]
            rule = INIT.get(leaf)
            if rule is None:
                raise KeyError(f"_init_params: no initialisation rule for parameter {name!r}; add {leaf!r} "
                               f"to tinyllm.models.base.INIT")
            if rule in ("ones", "zeros"):
                params[name] = (np.ones if rule == "ones" else np.zeros)(shape, self.dtype)
                continue
            fan_in = shape[1] if rule == "table" else shape[0]     # W: (C_in, C_out); tables: (N, C)
            std = fixed if fixed is not None else 1.0 / np.sqrt(fan_in)
            if rule == "residual":
                std *= self._residual_scale()
            params[name] = (rng.standard_normal(shape) * std).astype(self.dtype)
        return params

    def _residual_scale(self):
        return 1.0

    def _block_params(self, i):
        prefix = f"h.{i}."
        return {k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}

    def embed_tokens(self, idx):
        """The token embeddings E[idx] (B, T, C), a copy: the start of an ``inputs_embeds`` into which
        soft prompts are spliced (S12)."""
        cfg = self.config
        idx = check_ids("idx", idx, cfg.vocab_size, cfg.max_len)
        return self.params["tok_emb"][idx]

    def fingerprint(self):
        """sha256 (hex) of the model class and its config (JSON, sorted keys): names the architecture
        a saved prompt was trained for, so that loading it onto another model fails clearly."""
        blob = json.dumps({"class": type(self).__name__, "config": self.config.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def num_params(self):
        """The number of scalar parameters (the tied output projection counted once)."""
        return int(sum(p.size for p in self.params.values()))

    # ------------------------------------------------------------ modes and dtypes

    def train(self):
        """Training mode: dropout on (when config.dropout > 0). Returns self."""
        self.training = True
        return self

    def eval(self):
        """Evaluation mode: dropout off. Returns self."""
        self.training = False
        return self

    def astype(self, dtype):
        """Convert every parameter to float32 or float64 in place; returns self."""
        self.dtype = check_dtype(dtype)
        self.params = {k: v.astype(self.dtype) for k, v in self.params.items()}
        return self

    # ------------------------------------------------------------ helpers for forward/backward

    def _dropout_args(self, rng):
        """Keyword arguments for the dropout ops: active only in training mode with dropout > 0."""
        active = self.training and self.config.dropout > 0
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return dict(dropout=float(self.config.dropout) if active else 0.0,
                    rng=(rng if rng is not None else self._rng) if active else None,
                    training=active)

    @staticmethod
    def _kernel():
        return attention_kernel()

    def _blocks_forward(self, x, norm, causal, key_mask, past_kv, drop):
        """The stack of n_layer Transformer blocks (S7), in order. x (B, T, C) -> x, block caches.

        norm: "pre" (GPT-2) or "post" (BERT); past_kv: per-layer (k, v) or None; drop: the
        keyword arguments from ``_dropout_args``."""
        cfg, kernel = self.config, self._kernel()
        caches = []
        for i in range(cfg.n_layer):
            x, c = block_forward(x, self._block_params(i), cfg.n_head, norm=norm, causal=causal,
                                 key_mask=key_mask, past_kv=None if past_kv is None else past_kv[i],
                                 activation=cfg.activation, eps=cfg.layer_norm_eps, kernel=kernel, **drop)
            caches.append(c)
        return x, caches

    def _blocks_backward(self, dx, caches, wanted, grads):
        """Walk the block stack in reverse; adds the ``h.{i}.*`` gradients to ``grads`` (frozen blocks
        skip their weights). Returns dx (B, T, C) and the per-layer past_kv gradients (or Nones)."""
        dpast = [None] * len(caches)
        for i in reversed(range(len(caches))):
            dx, g, dpast[i] = block_backward(dx, caches[i], self._block_needed(wanted, i))
            grads.update({f"h.{i}.{k}": v for k, v in g.items()})
        return dx, dpast

    @staticmethod
    def _block_needed(wanted, i):
        """Whether any parameter of block i is among the wanted gradients (else it is frozen)."""
        prefix = f"h.{i}."
        return any(k.startswith(prefix) for k in wanted)

    def _in_order(self, wanted):
        """The wanted names in a fixed order: parameters as in ``params``, then the inputs."""
        return [k for k in self.params if k in wanted] + [k for k in GRAD_INPUTS if k in wanted]

    def _wanted(self, wrt, extra=()):
        """The gradient names a caller asked for: None = every parameter; else a subset of the
        parameter names plus the optional inputs in `extra` (e.g. "inputs_embeds", "past_kv")."""
        if wrt is None:
            return set(self.params)
        if isinstance(wrt, str):
            wrt = [wrt]
        wanted = set(wrt)
        unknown = sorted(wanted - set(self.params) - set(extra))
        if unknown:
            raise ValueError(f"wrt: unknown names {unknown}; use parameter names or {sorted(extra)}")
        return wanted


def check_backward_args(dlogits, cache, wanted, dtype):
    """What a model's ``backward`` receives: dlogits shaped like the logits of the forward that made
    ``cache``, and "past_kv" wanted only when that forward had one."""
    if not isinstance(cache, dict) or "logits_shape" not in cache:
        raise TypeError("cache must be the second value returned by forward_with_cache")
    if not isinstance(dlogits, np.ndarray) or dlogits.shape != cache["logits_shape"]:
        got = dlogits.shape if isinstance(dlogits, np.ndarray) else type(dlogits).__name__
        raise ValueError(f"dlogits must be an array shaped like the logits {cache['logits_shape']}, got {got}")
    if dlogits.dtype != dtype:
        raise TypeError(f"dlogits must have the model's dtype {np.dtype(dtype)}, got {dlogits.dtype}")
    if "past_kv" in wanted and not cache["has_past"]:
        raise ValueError('wrt: "past_kv" was asked for but the forward pass had no past_kv')


def scatter_rows(d, at, shape):
    """Backward of x[at[:, 0], at[:, 1]]: d (n, C) -> (B, T, C), zeros where no head ran (pairs may
    repeat: their gradients add). With at None, d is already (B, T, C)."""
    if at is None:
        return d
    dx = np.zeros(shape, d.dtype)
    np.add.at(dx, (at[:, 0], at[:, 1]), d)
    return dx
