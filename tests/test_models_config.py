"""GPTConfig / BERTConfig: validation, presets, dict and Hugging Face config.json round trips."""

import numpy as np
import pytest

from tinyllm import BERT, BERTConfig, GPT, GPTConfig


@pytest.mark.parametrize("cls", [GPTConfig, BERTConfig])
def test_defaults_and_d_ff(cls):
    cfg = cls(vocab_size=10, n_layer=1, n_head=2, d_model=8, max_len=4)
    assert cfg.d_ff == 32                       # 4 * d_model by default (S6)
    assert cls(vocab_size=10, d_model=8, n_head=2, d_ff=12).d_ff == 12
    assert cfg.head_dim == 4                    # the d of E3.2


@pytest.mark.parametrize("cls", [GPTConfig, BERTConfig])
@pytest.mark.parametrize("field, value, exc, words", [
    ("d_model", 10, ValueError, "divisible by n_head"),
    ("n_layer", 0, ValueError, "n_layer must be positive"),
    ("vocab_size", -3, ValueError, "vocab_size must be positive"),
    ("max_len", 2.5, TypeError, "max_len must be an int"),
    ("n_head", True, TypeError, "n_head must be an int"),
    ("d_ff", 0, ValueError, "d_ff must be positive"),
    ("dropout", 1.0, ValueError, "dropout must be in [0, 1)"),
    ("dropout", -0.1, ValueError, "dropout must be in [0, 1)"),
    ("layer_norm_eps", 0.0, ValueError, "layer_norm_eps"),
    ("activation", "relu", ValueError, "activation"),
    ("init_std", -1.0, ValueError, "init_std"),
])
def test_validation_names_the_field(cls, field, value, exc, words):
    kwargs = dict(vocab_size=10, n_layer=1, n_head=4, d_model=8, max_len=4)
    kwargs[field] = value
    with pytest.raises(exc, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        cls(**kwargs)


def test_presets_take_overrides():
    cfg = GPTConfig.preset("tiny", vocab_size=123, dropout=0.1)
    assert (cfg.vocab_size, cfg.dropout, cfg.n_layer) == (123, 0.1, 2)
    assert GPTConfig.preset("gpt2").vocab_size == 50257
    mini = BERTConfig.preset("minilm-l6")
    assert (mini.d_model, mini.n_layer, mini.n_head, mini.d_ff) == (384, 6, 12, 1536)
    with pytest.raises(ValueError, match="unknown GPTConfig preset 'huge'"):
        GPTConfig.preset("huge")
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig.preset("tiny", n_head=5)


@pytest.mark.parametrize("cls", [GPTConfig, BERTConfig])
def test_dict_round_trip(cls):
    cfg = cls.preset("small", vocab_size=77, d_ff=100, dropout=0.2)
    assert cls.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown fields"):
        cls.from_dict({**cfg.to_dict(), "n_embd": 3})


def test_hf_round_trip():
    g = GPTConfig(vocab_size=50, n_layer=3, n_head=2, d_model=8, max_len=16, d_ff=20, layer_norm_eps=1e-6)
    hf = g.to_hf()
    assert (hf["n_embd"], hf["n_layer"], hf["n_head"], hf["n_positions"], hf["n_inner"]) == (8, 3, 2, 16, 20)
    assert hf["model_type"] == "gpt2" and hf["architectures"] == ["GPT2LMHeadModel"]
    assert GPTConfig.from_hf(hf) == g
    b = BERTConfig(vocab_size=50, n_layer=2, n_head=2, d_model=8, max_len=16, type_vocab_size=3, d_ff=24)
    hf = b.to_hf()
    assert (hf["hidden_size"], hf["num_hidden_layers"], hf["intermediate_size"], hf["type_vocab_size"],
            hf["hidden_act"], hf["layer_norm_eps"]) == (8, 2, 24, 3, "gelu", 1e-12)
    assert BERTConfig.from_hf(hf) == b
    assert b.to_hf(with_mlm_head=False)["architectures"] == ["BertModel"]


def test_hf_unsupported_variants_are_refused():
    with pytest.raises(ValueError, match="model_type must be 'gpt2'"):
        GPTConfig.from_hf({"model_type": "bert"})
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        GPTConfig.from_hf({"model_type": "gpt2", "scale_attn_by_inverse_layer_idx": True})
    with pytest.raises(ValueError, match="activation_function 'relu'"):
        GPTConfig.from_hf({"model_type": "gpt2", "activation_function": "relu"})
    with pytest.raises(ValueError, match="position_embedding_type"):
        BERTConfig.from_hf({"model_type": "bert", "position_embedding_type": "relative_key"})
    assert BERTConfig.from_hf({"model_type": "bert", "hidden_act": "gelu_new"}).activation == "tanh"


def test_model_rejects_wrong_config_and_dtype():
    with pytest.raises(TypeError, match="config must be a GPTConfig"):
        GPT(BERTConfig(vocab_size=5, d_model=8, n_head=2))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        BERT(BERTConfig(vocab_size=5, d_model=8, n_head=2), dtype=np.int32)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        GPT(GPTConfig(vocab_size=5, d_model=8, n_head=2), dtype=np.float16)


def test_shared_fields_live_once_in_the_base():
    from dataclasses import fields

    from tinyllm.models.config import TransformerConfig

    shared = {f.name for f in fields(TransformerConfig)}
    for cls, own in ((GPTConfig, {"layer_norm_eps", "activation"}),
                     (BERTConfig, {"layer_norm_eps", "activation", "type_vocab_size", "pad_token_id"})):
        assert issubclass(cls, TransformerConfig) and shared <= {f.name for f in fields(cls)}
        assert set(cls.__annotations__) == own, f"{cls.__name__} repeats fields of TransformerConfig"
    with pytest.raises(ValueError, match="BERTConfig.d_model must be divisible"):
        BERTConfig(d_model=10, n_head=3)


def test_initialisation_is_a_table():
    import numpy as np

    from tinyllm.models import BERT, GPT, BERTClassifier
    from tinyllm.models.base import INIT

    for model in (GPT(GPTConfig(vocab_size=11)), BERT(BERTConfig(vocab_size=11)),
                  BERTClassifier(BERTConfig(vocab_size=11), num_labels=2)):
        for name, p in model.params.items():
            rule = INIT[name.rsplit(".", 1)[-1]]
            if rule == "ones":
                assert np.all(p == 1), name
            elif rule == "zeros":
                assert np.all(p == 0), name
            else:
                assert p.std() > 0, name

    class Odd(GPT):
        def param_shapes(self):
            return {**super().param_shapes(), "extra.W_new": (4, 4)}

    with pytest.raises(KeyError, match="no initialisation rule.*'W_new'.*INIT"):
        Odd(GPTConfig(vocab_size=11))
