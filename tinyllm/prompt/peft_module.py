"""What the parameter-efficient prompt modules (S12) share: the frozen model's sizes, the module's
own parameters (name -> live array in the model's dtype), checks of given parameters and of the
upstream gradient, and the choice of vocabulary words that initialise a module.

Interface of every module (soft_prompt.py, prefix.py, p_tuning.py):

    module.kind                     "embeds" (m virtual token vectors) or "past_kv" (a prefix per layer)
    module.params                   name -> ndarray, the only arrays prompt training updates
    out, cache = module.forward()   "embeds": (m, C);  "past_kv": list over layers of (k, v) (1, H, m, D)
    grads = module.backward(dout, cache)   dout like out (a leading batch axis is summed); keys of params
    module.num_virtual_tokens       m
"""

import numpy as np


class PeftModule:
    """Base class: sizes of the frozen model and the parameter bookkeeping."""

    kind = None

    def __init__(self, config, model, seed=0, params=None):
        cfg = getattr(model, "config", None)
        if cfg is None or not hasattr(cfg, "d_model") or "tok_emb" not in getattr(model, "params", {}):
            raise TypeError(f"model must be a tinyllm GPT or BERT, got {type(model).__name__}")
        self.config = config
        self.num_virtual_tokens = int(config.num_virtual_tokens)
        self.d_model, self.n_layer, self.n_head = cfg.d_model, cfg.n_layer, cfg.n_head
        self.head_dim = cfg.d_model // cfg.n_head
        self.dtype = model.dtype
        self.vocab_size = cfg.vocab_size
        self.seed = int(seed)
        self.params = None if params is None else self._check_params(params)

    def param_shapes(self):
        """name -> shape of every parameter of this module."""
        raise NotImplementedError

    def num_params(self):
        return int(sum(p.size for p in self.params.values()))

    def _check_params(self, params):
        """Given parameters (a saved prompt): exactly the expected names, shapes and dtype."""
        shapes = self.param_shapes()
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict name -> array, got {type(params).__name__}")
        missing, extra = sorted(set(shapes) - set(params)), sorted(set(params) - set(shapes))
        if missing or extra:
            raise ValueError(f"params for {type(self).__name__}: missing {missing}, unexpected {extra}")
        out = {}
        for name, shape in shapes.items():
            a = params[name]
            if not isinstance(a, np.ndarray) or a.shape != shape:
                got = a.shape if isinstance(a, np.ndarray) else type(a).__name__
                raise ValueError(f"params[{name!r}] must have shape {shape} for this model (d_model="
                                 f"{self.d_model}, n_layer={self.n_layer}, n_head={self.n_head}) and "
                                 f"num_virtual_tokens={self.num_virtual_tokens}, got {got}")
            if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
                raise ValueError(f"params[{name!r}] must hold finite floats")
            out[name] = np.ascontiguousarray(a, dtype=self.dtype).copy()
        return out

    def _check_dout(self, dout, shape, what="dout"):
        """dout of the given shape, or with a leading batch axis that is summed (the module's output
        was broadcast over the batch)."""
        if not isinstance(dout, np.ndarray) or dout.shape[-len(shape):] != shape or dout.ndim not in (
                len(shape), len(shape) + 1):
            got = dout.shape if isinstance(dout, np.ndarray) else type(dout).__name__
            raise ValueError(f"{what} must have shape {shape} (or (B,) + that), got {got}")
        if dout.dtype != self.dtype:
            raise TypeError(f"{what} must have the model's dtype {self.dtype}, got {dout.dtype}")
        return dout.sum(axis=0) if dout.ndim == len(shape) + 1 else dout


def word_ids(m, init_ids, vocab_size, special_ids, rng, name="init_ids"):
    """m token ids that initialise a module: ``init_ids`` repeated and cut to m (PEFT's rule for
    text), or, without them, m distinct random non-special words of the vocabulary."""
    if init_ids is None:
        pool = np.setdiff1d(np.arange(vocab_size), np.fromiter(special_ids, int, len(special_ids)))
        return rng.choice(pool, size=m, replace=m > pool.size)
    ids = np.asarray(list(init_ids) if not isinstance(init_ids, np.ndarray) else init_ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty list of token ids, got {init_ids!r}")
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got {int(ids.min())}..{int(ids.max())}")
    return np.resize(ids, m)                  # repeated, then cut to m


def special_ids_of(tokenizer):
    return frozenset(getattr(tokenizer, "special_ids", ()) or ())
