"""Model configurations: the hyper-parameters of article section 3.2 step 5 (layers, heads, width).

``GPTConfig`` describes a GPT-2 style causal LM, ``BERTConfig`` a BERT style masked LM. Both are
``TransformerConfig``s (the shared fields and their checks live there, once): small dataclasses that validate themselves on construction, have named presets
(``GPTConfig.preset("tiny", vocab_size=100)``), round-trip through plain dicts, and translate to and
from the fields of a Hugging Face ``config.json`` (the only place HF names appear besides hf.py).
"""

from dataclasses import asdict, dataclass, fields, replace

# Activation names in HF config.json -> the `approximate` argument of tinyllm.ops.gelu (S5).
_HF_ACT_TO_APPROX = {
    "gelu": "none",
    "gelu_python": "none",
    "gelu_new": "tanh",
    "gelu_pytorch_tanh": "tanh",
    "gelu_fast": "tanh",
}


def _check_positive_int(cls_name, name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{cls_name}.{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{cls_name}.{name} must be positive, got {value}")


@dataclass
class TransformerConfig:
    """The fields GPT and BERT share, their validation, presets and dict round trips (one home).

    A subclass sets its own defaults (``layer_norm_eps``, ``activation``), adds its own fields and
    its ``PRESETS``.
    """

    vocab_size: int = 256
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 64
    max_len: int = 128
    dropout: float = 0.0
    d_ff: int = None
    layer_norm_eps: float = 1e-5
    activation: str = "tanh"
    init_std: float = None

    PRESETS = {}

    def __post_init__(self):
        name = type(self).__name__
        for attr in ("vocab_size", "n_layer", "n_head", "d_model", "max_len"):
            _check_positive_int(name, attr, getattr(self, attr))
        if self.d_model % self.n_head != 0:
            raise ValueError(
                f"{name}.d_model must be divisible by n_head (head size D = d_model / n_head, E3.5); "
                f"got d_model={self.d_model}, n_head={self.n_head}"
            )
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        _check_positive_int(name, "d_ff", self.d_ff)
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool):
            raise TypeError(f"{name}.dropout must be a float, got {type(self.dropout).__name__}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"{name}.dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.layer_norm_eps, (int, float)) or not self.layer_norm_eps > 0:
            raise ValueError(f"{name}.layer_norm_eps must be a positive float, got {self.layer_norm_eps!r}")
        if self.init_std is not None and not (isinstance(self.init_std, (int, float)) and self.init_std > 0):
            raise ValueError(f"{name}.init_std must be None (width-scaled) or a positive float, got {self.init_std!r}")
        if self.activation not in ("tanh", "none"):
            raise ValueError(
                f"{name}.activation must be 'tanh' (GELU tanh form) or 'none' (exact erf GELU), S5; "
                f"got {self.activation!r}"
            )

    @property
    def head_dim(self):
        """D = d_model / n_head, the per-head key size `d` of E3.2."""
        return self.d_model // self.n_head

    @classmethod
    def preset(cls, name, **overrides):
        """A named configuration, e.g. ``GPTConfig.preset("tiny", vocab_size=512)``."""
        if name not in cls.PRESETS:
            raise ValueError(
                f"unknown {cls.__name__} preset {name!r}; choose one of {sorted(cls.PRESETS)}"
            )
        return cls(**{**cls.PRESETS[name], **overrides})

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}.from_dict: unknown fields {unknown}; known: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


@dataclass
class GPTConfig(TransformerConfig):
    """GPT-2 architecture: learned positions, pre-LN blocks (S7), tanh-GELU FFN (S5, S6), tied head (S8).

    `dropout` is applied to the embeddings and to both residual branches of every block (there is
    no dropout on the attention weights). `d_ff` defaults to 4 * d_model. `init_std`: None scales
    the random initial weights with the width (see Model._init_params); GPT-2 itself used 0.02.
    """

    layer_norm_eps: float = 1e-5
    activation: str = "tanh"

    PRESETS = {
        "tiny": dict(n_layer=2, n_head=2, d_model=64, max_len=128),
        "small": dict(n_layer=4, n_head=4, d_model=128, max_len=256),
        "medium": dict(n_layer=6, n_head=8, d_model=256, max_len=512),
        "gpt2": dict(vocab_size=50257, n_layer=12, n_head=12, d_model=768, max_len=1024),
    }

    def to_hf(self):
        """The fields of a Hugging Face GPT2 config.json."""
        return {
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": self.vocab_size,
            "n_positions": self.max_len,
            "n_embd": self.d_model,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_inner": self.d_ff,
            "activation_function": "gelu_new" if self.activation == "tanh" else "gelu",
            "layer_norm_epsilon": self.layer_norm_eps,
            "resid_pdrop": self.dropout,
            "embd_pdrop": self.dropout,
            "attn_pdrop": 0.0,
            "scale_attn_weights": True,
            "scale_attn_by_inverse_layer_idx": False,
            "reorder_and_upcast_attn": False,
            "tie_word_embeddings": True,
            "initializer_range": self.init_std or 0.02,
            "bos_token_id": None,
            "eos_token_id": None,
        }

    @classmethod
    def from_hf(cls, hf):
        """Read a Hugging Face GPT2 config.json dict; refuses variants tinyllm does not implement."""
        if hf.get("model_type", "gpt2") != "gpt2":
            raise ValueError(f"config.json: model_type must be 'gpt2' for GPT, got {hf.get('model_type')!r}")
        for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"):
            if hf.get(flag, False):
                raise ValueError(f"config.json: {flag}=true is not supported by tinyllm's GPT")
        if not hf.get("scale_attn_weights", True):
            raise ValueError("config.json: scale_attn_weights=false is not supported (E3.2 scales by 1/sqrt(d))")
        if not hf.get("tie_word_embeddings", True):
            raise ValueError("config.json: tie_word_embeddings=false is not supported (S8 ties the LM head)")
        act = hf.get("activation_function", "gelu_new")
        if act not in _HF_ACT_TO_APPROX:
            raise ValueError(f"config.json: activation_function {act!r} is not supported; use one of {sorted(_HF_ACT_TO_APPROX)}")
        n_embd = hf.get("n_embd", 768)
        return cls(
            vocab_size=hf.get("vocab_size", 50257),
            n_layer=hf.get("n_layer", 12),
            n_head=hf.get("n_head", 12),
            d_model=n_embd,
            max_len=hf.get("n_positions", hf.get("n_ctx", 1024)),
            dropout=float(hf.get("resid_pdrop", 0.0)),
            d_ff=hf.get("n_inner") or 4 * n_embd,
            layer_norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
            activation=_HF_ACT_TO_APPROX[act],
        )


@dataclass
class BERTConfig(TransformerConfig):
    """BERT architecture: token + position + segment embeddings with LN (S8), post-LN blocks (S7),
    exact erf-GELU FFN (S5, S6), MLM head tied to the word embeddings (E3.7).

    `dropout` is applied after the embedding LayerNorm and to both residual branches of every block
    (there is no dropout on the attention weights). `d_ff` defaults to 4 * d_model. `init_std`: None
    scales the random initial weights with the width (see Model._init_params); BERT used 0.02.
    `pad_token_id` is only carried to and from config.json.
    """

    layer_norm_eps: float = 1e-12
    activation: str = "none"
    type_vocab_size: int = 2
    pad_token_id: int = 0

    PRESETS = {
        "tiny": dict(n_layer=2, n_head=2, d_model=64, max_len=128),
        "small": dict(n_layer=4, n_head=4, d_model=128, max_len=256),
        "medium": dict(n_layer=6, n_head=8, d_model=256, max_len=512),
        "minilm-l6": dict(vocab_size=30522, n_layer=6, n_head=12, d_model=384, max_len=512, d_ff=1536),
        "bert-base": dict(vocab_size=30522, n_layer=12, n_head=12, d_model=768, max_len=512),
    }

    def __post_init__(self):
        super().__post_init__()
        _check_positive_int(type(self).__name__, "type_vocab_size", self.type_vocab_size)

    def to_hf(self, with_mlm_head=True):
        """The fields of a Hugging Face BERT config.json."""
        return {
            "model_type": "bert",
            "architectures": ["BertForMaskedLM" if with_mlm_head else "BertModel"],
            "vocab_size": self.vocab_size,
            "hidden_size": self.d_model,
            "num_hidden_layers": self.n_layer,
            "num_attention_heads": self.n_head,
            "intermediate_size": self.d_ff,
            "hidden_act": "gelu" if self.activation == "none" else "gelu_new",
            "hidden_dropout_prob": self.dropout,
            "attention_probs_dropout_prob": 0.0,
            "max_position_embeddings": self.max_len,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "tie_word_embeddings": True,
            "initializer_range": self.init_std or 0.02,
        }

    @classmethod
    def from_hf(cls, hf):
        """Read a Hugging Face BERT config.json dict; refuses variants tinyllm does not implement."""
        if hf.get("model_type", "bert") != "bert":
            raise ValueError(f"config.json: model_type must be 'bert' for BERT, got {hf.get('model_type')!r}")
        if hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                f"config.json: position_embedding_type {hf['position_embedding_type']!r} is not supported (S8 uses 'absolute')"
            )
        if hf.get("is_decoder", False) or hf.get("add_cross_attention", False):
            raise ValueError("config.json: decoder BERT (is_decoder / add_cross_attention) is not supported")
        act = hf.get("hidden_act", "gelu")
        if act not in _HF_ACT_TO_APPROX:
            raise ValueError(f"config.json: hidden_act {act!r} is not supported; use one of {sorted(_HF_ACT_TO_APPROX)}")
        return cls(
            vocab_size=hf.get("vocab_size", 30522),
            n_layer=hf.get("num_hidden_layers", 12),
            n_head=hf.get("num_attention_heads", 12),
            d_model=hf.get("hidden_size", 768),
            max_len=hf.get("max_position_embeddings", 512),
            type_vocab_size=hf.get("type_vocab_size", 2),
            dropout=float(hf.get("hidden_dropout_prob", 0.0)),
            d_ff=hf.get("intermediate_size", 3072),
            layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
            activation=_HF_ACT_TO_APPROX[act],
            pad_token_id=hf.get("pad_token_id") or 0,
        )
