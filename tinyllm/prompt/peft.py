"""Parameter-efficient prompts (S12) with PEFT's names: three configs and ``make_peft``, which builds
the trainable module for a frozen GPT or BERT.

    PromptTuningConfig(num_virtual_tokens=8, init="random"|"vocab"|"text"|"labels", init_text=None)
        -> SoftPrompt (soft_prompt.py): m free vectors among the input embeddings   kind "embeds"
    PrefixTuningConfig(num_virtual_tokens=8, prefix_projection=True, encoder_hidden_size=None)
        -> PrefixEncoder (prefix.py): keys and values at every layer                kind "past_kv"
    PromptEncoderConfig(num_virtual_tokens=8, encoder_hidden_size=64, encoder_type="mlp"|"lstm",
                        encoder_num_layers=2)
        -> PromptEncoder (p_tuning.py): P-tuning's MLP or BiLSTM prompt encoder     kind "embeds"

    module = make_peft(config, model, tokenizer, seed=0, init_ids=None)
    out, cache = module.forward();  grads = module.backward(dout, cache)   # see peft_module.py

A config round-trips through ``to_dict()`` / ``config_from_dict`` (with PEFT's ``peft_type``).
"""

from dataclasses import asdict, dataclass, fields

from tinyllm.prompt.p_tuning import PromptEncoder
from tinyllm.prompt.prefix import PrefixEncoder
from tinyllm.prompt.soft_prompt import SoftPrompt

INITS = ("random", "vocab", "text", "labels")
ENCODER_TYPES = ("mlp", "lstm")


def _check_int(cls, name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{cls}: {name} must be a positive int{' or None' if allow_none else ''}, got {value!r}")


class _Config:
    peft_type = None

    def to_dict(self):
        return {"peft_type": self.peft_type, **asdict(self)}


@dataclass
class PromptTuningConfig(_Config):
    """Prompt tuning (Lester et al.): m trainable input vectors; init as in soft_prompt.py."""

    num_virtual_tokens: int = 8
    init: str = "random"
    init_text: str = None
    peft_type = "PROMPT_TUNING"

    def __post_init__(self):
        _check_int("PromptTuningConfig", "num_virtual_tokens", self.num_virtual_tokens)
        if self.init not in INITS:
            raise ValueError(f"PromptTuningConfig: init must be one of {INITS}, got {self.init!r}")
        if self.init_text is not None and not isinstance(self.init_text, str):
            raise ValueError(f"PromptTuningConfig: init_text must be a string or None, got {self.init_text!r}")


@dataclass
class PrefixTuningConfig(_Config):
    """Prefix tuning (Li & Liang): m keys and values per layer, through an MLP when prefix_projection
    (hidden width encoder_hidden_size, default d_model)."""

    num_virtual_tokens: int = 8
    prefix_projection: bool = True
    encoder_hidden_size: int = None
    peft_type = "PREFIX_TUNING"

    def __post_init__(self):
        _check_int("PrefixTuningConfig", "num_virtual_tokens", self.num_virtual_tokens)
        _check_int("PrefixTuningConfig", "encoder_hidden_size", self.encoder_hidden_size, allow_none=True)
        if not isinstance(self.prefix_projection, bool):
            raise ValueError("PrefixTuningConfig: prefix_projection must be True or False, "
                             f"got {self.prefix_projection!r}")


@dataclass
class PromptEncoderConfig(_Config):
    """P-tuning (Liu et al.): the virtual tokens come out of an MLP or a bidirectional LSTM + MLP."""

    num_virtual_tokens: int = 8
    encoder_hidden_size: int = 64
    encoder_type: str = "mlp"
    encoder_num_layers: int = 2
    peft_type = "P_TUNING"

    def __post_init__(self):
        for name in ("num_virtual_tokens", "encoder_hidden_size", "encoder_num_layers"):
            _check_int("PromptEncoderConfig", name, getattr(self, name))
        if self.encoder_type not in ENCODER_TYPES:
            raise ValueError(f"PromptEncoderConfig: encoder_type must be one of {ENCODER_TYPES}, "
                             f"got {self.encoder_type!r}")


_BUILDERS = {PromptTuningConfig: SoftPrompt, PrefixTuningConfig: PrefixEncoder, PromptEncoderConfig: PromptEncoder}
_BY_TYPE = {cls.peft_type: cls for cls in _BUILDERS}


def config_from_dict(d):
    """The inverse of ``config.to_dict()``: {"peft_type": ..., fields...} -> a config."""
    if not isinstance(d, dict) or d.get("peft_type") not in _BY_TYPE:
        got = d.get("peft_type") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"peft_type must be one of {sorted(_BY_TYPE)}, got {got!r}")
    cls = _BY_TYPE[d["peft_type"]]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known - {"peft_type"})
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(known)}")
    return cls(**{k: v for k, v in d.items() if k != "peft_type"})


def _check_size(config, model):
    """Refuse, before anything is allocated, a module that cannot be meant: more virtual tokens than
    the model's context, or an encoder far larger than the frozen model itself."""
    name, cfg = type(config).__name__, model.config
    n, C = config.num_virtual_tokens, cfg.d_model
    if n > cfg.max_len:
        raise ValueError(f"{name}: num_virtual_tokens={n:,} is more than the model's context max_len={cfg.max_len}")
    H = getattr(config, "encoder_hidden_size", None) or 0
    weights = H * (C + 2 * cfg.n_layer * C + H)        # an upper bound for the MLP, LSTM or prefix encoder
    limit = 10 * model.num_params() + 10_000_000
    if weights > limit:
        raise ValueError(f"{name}: encoder_hidden_size={H:,} would build an encoder of about {weights:,} "
                         f"weights, far more than the frozen model's {model.num_params():,}; choose a smaller width")


def make_peft(config, model, tokenizer=None, seed=0, init_ids=None, params=None):
    """The trainable prompt module of ``config`` for a frozen ``model`` (GPT or BERT), S12.

    tokenizer: used by init="text" (to encode init_text) and to keep special tokens out of random
    word choices. init_ids: token ids for init="text" / "labels" (the text's ids, or the label
    words' ids) and, for prefixes and P-tuning, the words whose embeddings / activations start the
    module. params: a saved module's arrays (name -> array) instead of a fresh initialisation.
    The model's own parameters are only read.
    """
    builder = _BUILDERS.get(type(config))
    if builder is None:
        raise TypeError(f"config must be a PromptTuningConfig, PrefixTuningConfig or PromptEncoderConfig, "
                        f"got {type(config).__name__}")
    if hasattr(model, "config") and hasattr(model, "num_params"):    # else the builder's TypeError
        _check_size(config, model)
    return builder(config, model, tokenizer=tokenizer, seed=seed, init_ids=init_ids, params=params)
