"""Prompts survive generation (S12, issue 7 item 9): a soft prompt (virtual tokens before the ids) and
a prefix (keys and values in the cache, no positions), alone and together; the KV-cache path equals the
uncached path equals a manual forward pass, also once the sequence outgrows max_len. A small stand-in
object plays tinyllm.prompt.PromptModel (only its generation_prefix() is used)."""

import numpy as np
import pytest

from tinyllm.data.word_tokenizer import WordTokenizer
from tinyllm.generate import generate, generate_text
from tinyllm.models import GPT, GPTConfig
from tinyllm.prompt.peft import PrefixTuningConfig, PromptEncoderConfig, make_peft

V, C, H, D, L = 17, 16, 2, 8, 2


class StandIn:
    """What generate needs from a PromptModel: generation_prefix() -> dict(inputs_embeds, past_kv)."""

    def __init__(self, inputs_embeds=None, past_kv=None):
        self.out = dict(inputs_embeds=inputs_embeds, past_kv=past_kv)

    def generation_prefix(self):
        return dict(self.out)


@pytest.fixture(scope="module")
def model():
    return GPT(GPTConfig(vocab_size=V, n_layer=L, n_head=H, d_model=C, max_len=12), seed=0, dtype=np.float64).eval()


def _soft(m, seed=1):
    return np.random.default_rng(seed).standard_normal((m, C)) * 0.5


def _prefix(m, seed=2):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((1, H, m, D)), rng.standard_normal((1, H, m, D))) for _ in range(L)]


def _manual_logits(model, ids, new, soft, prefix):
    """One forward over the prompt ids and the generated tokens (all but the last) behind the prompt:
    the logits that chose each new token."""
    seq = np.array([ids + new[:-1]])
    kw = {} if prefix is None else dict(past_kv=prefix, pos_offset=0)
    if soft is not None:
        logits = model.forward(inputs_embeds=np.concatenate([soft[None], model.embed_tokens(seq)], axis=1), **kw)
        logits = logits[:, soft.shape[0]:]
    else:
        logits = model.forward(seq, **kw)
    return logits[0, len(ids) - 1:]                                      # (n_new, V)


@pytest.mark.parametrize("kind", ["soft", "prefix", "both"])
@pytest.mark.parametrize("greedy", [True, False])
def test_S12_cached_equals_uncached_equals_manual(model, kind, greedy):
    soft = _soft(3) if kind in ("soft", "both") else None
    prefix = _prefix(4) if kind in ("prefix", "both") else None
    prompt = StandIn(soft, prefix)
    kw = dict(max_new_tokens=5, greedy=greedy, temperature=0.9, seed=3, return_logits=True, prompt=prompt)
    ids_c, logits_c = generate(model, [1, 5, 7], use_cache=True, **kw)
    ids_u, logits_u = generate(model, [1, 5, 7], use_cache=False, **kw)
    assert ids_c == ids_u and len(ids_c) == 5
    np.testing.assert_allclose(logits_c, logits_u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(logits_c, _manual_logits(model, [1, 5, 7], ids_c, soft, prefix), rtol=0, atol=1e-12)
    plain = generate(model, [1, 5, 7], max_new_tokens=5, greedy=True, return_logits=True)[1]
    assert np.abs(plain - logits_c).max() > 1e-3                         # the prompt changes the output


@pytest.mark.parametrize("kind", ["soft", "prefix"])
def test_S12_past_max_len_both_paths_slide_the_same_window(model, kind):
    prompt = StandIn(_soft(4)) if kind == "soft" else StandIn(past_kv=_prefix(5))
    kw = dict(max_new_tokens=14, greedy=True, return_logits=True, prompt=prompt)
    ids_c, logits_c = generate(model, [1, 2, 3], use_cache=True, **kw)   # 4 virtual + 3 + 14 > 12
    ids_u, logits_u = generate(model, [1, 2, 3], use_cache=False, **kw)
    assert ids_c == ids_u and len(ids_c) == 14
    np.testing.assert_allclose(logits_c, logits_u, rtol=0, atol=1e-12)


def test_S12_a_prefix_module_and_a_p_tuning_module_drive_generation(model):
    tok = WordTokenizer(["it", "was", "great", "awful", "the", "movie", "a", "film", "good", "bad"])
    for cfg in (PrefixTuningConfig(3, prefix_projection=True, encoder_hidden_size=8),
                PromptEncoderConfig(3, encoder_hidden_size=4, encoder_type="lstm")):
        module = make_peft(cfg, model, tok, seed=4)
        out, _ = module.forward()
        prompt = StandIn(**({"past_kv": out} if module.kind == "past_kv" else {"inputs_embeds": out}))
        ids_c, logits_c = generate(model, [8, 9], max_new_tokens=4, greedy=True, return_logits=True, prompt=prompt)
        ids_u, logits_u = generate(model, [8, 9], max_new_tokens=4, greedy=True, return_logits=True, prompt=prompt,
                                   use_cache=False)
        assert ids_c == ids_u
        np.testing.assert_allclose(logits_c, logits_u, rtol=0, atol=1e-12)
    text = generate_text(model, tok, "it was", max_new_tokens=3, greedy=True, prompt_model=prompt)
    assert isinstance(text, str)


class BadReturn:
    def generation_prefix(self):
        return [1, 2]


def test_bad_prompts_are_clear_errors(model):
    with pytest.raises(TypeError, match="generation_prefix"):
        generate(model, [1, 2], max_new_tokens=1, prompt=object())
    with pytest.raises(ValueError, match=r"inputs_embeds must be an \(m, d_model=16\) array"):
        generate(model, [1, 2], max_new_tokens=1, prompt=StandIn(np.zeros((3, 8))))
    with pytest.raises(ValueError, match="model's dtype float64"):
        generate(model, [1, 2], max_new_tokens=1, prompt=StandIn(np.zeros((3, C), np.float32)))
    with pytest.raises(ValueError, match="leave no room"):
        generate(model, [1, 2], max_new_tokens=1, prompt=StandIn(np.zeros((12, C))))
    with pytest.raises(ValueError, match="after 4 virtual tokens exceed the model's max_len=12"):
        generate(model, list(range(9)), max_new_tokens=1, prompt=StandIn(_soft(4)))
    with pytest.raises(ValueError, match="past_kv must be a list of n_layer=2"):
        generate(model, [1, 2], max_new_tokens=1, prompt=StandIn(past_kv=_prefix(3)[:1]))
    with pytest.raises(TypeError, match="must return a dict"):
        generate(model, [1, 2], max_new_tokens=1, prompt=BadReturn())
