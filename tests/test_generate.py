"""Generation (S14): KV cache equality, temperature/top-k/top-p on a fixed distribution, stop tokens."""

import numpy as np
import pytest

from tinyllm.generate import generate, generate_text, next_token_probs, sample_from
from tinyllm.models import GPT, GPTConfig

V = 31


@pytest.fixture(scope="module")
def model():
    return GPT(GPTConfig(vocab_size=V, n_layer=2, n_head=2, d_model=16, max_len=20), seed=0,
               dtype=np.float64).eval()


@pytest.mark.parametrize("greedy", [True, False])
def test_kv_cache_matches_uncached_path(model, greedy):
    prompt = [1, 5, 7, 9]
    kw = dict(max_new_tokens=12, greedy=greedy, temperature=0.9, top_k=10, seed=4, return_logits=True)
    ids_c, logits_c = generate(model, prompt, use_cache=True, **kw)
    ids_u, logits_u = generate(model, prompt, use_cache=False, **kw)
    assert ids_c == ids_u and len(ids_c) == 12
    np.testing.assert_allclose(logits_c, logits_u, rtol=0, atol=1e-12)


def test_kv_cache_past_max_len_stays_identical(model):
    # 4 + 30 tokens outgrow max_len=20: both paths slide the same window
    kw = dict(max_new_tokens=30, greedy=True, return_logits=True)
    ids_c, logits_c = generate(model, [1, 2, 3, 4], use_cache=True, **kw)
    ids_u, logits_u = generate(model, [1, 2, 3, 4], use_cache=False, **kw)
    assert ids_c == ids_u and len(ids_c) == 30
    np.testing.assert_allclose(logits_c, logits_u, rtol=0, atol=1e-12)


def test_greedy_is_argmax_of_forward(model):
    ids = generate(model, [3, 4], max_new_tokens=1, greedy=True)
    assert ids == [int(np.argmax(model.forward(np.array([[3, 4]]))[0, -1]))]


def test_seeded_sampling_repeats(model):
    a = generate(model, [1, 2], max_new_tokens=10, seed=11)
    b = generate(model, [1, 2], max_new_tokens=10, seed=11)
    assert a == b


def test_temperature_top_k_top_p_on_fixed_distribution():
    p0 = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    z = np.log(p0)
    np.testing.assert_allclose(next_token_probs(z), p0)
    # temperature: p_i ∝ exp(z_i / tau) = p0_i^(1/tau)
    expected = p0 ** 2 / (p0 ** 2).sum()
    np.testing.assert_allclose(next_token_probs(z, temperature=0.5), expected)
    # top-k = 2 keeps the two largest, renormalised
    np.testing.assert_allclose(next_token_probs(z, top_k=2), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0])
    # top-p = 0.8: 0.5, 0.2 (0.7 < 0.8), 0.15 (reaches 0.85) are kept; the rest dropped
    np.testing.assert_allclose(next_token_probs(z, top_p=0.8), [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0])
    # top-p exactly at a boundary: 0.7 is reached by the first two
    np.testing.assert_allclose(next_token_probs(z, top_p=0.7), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0])
    # a tiny top-p keeps the single most likely token
    np.testing.assert_allclose(next_token_probs(z, top_p=1e-9), [1, 0, 0, 0, 0])
    # top-k then top-p
    q = next_token_probs(z, top_k=3, top_p=0.6)                 # top-3 renormalised: .588 .235 .176
    np.testing.assert_allclose(q, [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0])


def test_sampling_frequencies_follow_the_distribution():
    p = next_token_probs(np.log([0.5, 0.2, 0.15, 0.1, 0.05]), top_k=3)
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_from(p, rng) for _ in range(20000)], minlength=5)
    np.testing.assert_allclose(counts / counts.sum(), p, atol=0.015)
    assert counts[3] == counts[4] == 0


def test_stop_tokens(model):
    free = generate(model, [1, 2], max_new_tokens=10, greedy=True)
    stop = free[3]
    first = free.index(stop)
    stopped = generate(model, [1, 2], max_new_tokens=10, greedy=True, stop_ids=[stop])
    assert stopped == free[: first + 1]
    assert generate(model, [1, 2], max_new_tokens=0) == []


def test_bad_parameters(model):
    with pytest.raises(ValueError, match="temperature"):
        generate(model, [1], temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, [1], temperature=-1.0)
    generate(model, [1], temperature=0.0, greedy=True, max_new_tokens=1)     # fine when greedy
    with pytest.raises(ValueError, match="top_p"):
        generate(model, [1], top_p=0.0)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, [1], top_p=1.5)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, [1], top_k=0)
    with pytest.raises(ValueError, match="max_len"):
        generate(model, list(range(1, 22)))
    with pytest.raises(ValueError, match="prompt_ids"):
        generate(model, [])
    with pytest.raises(ValueError, match="prompt_ids"):
        generate(model, [V])
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, [1], max_new_tokens=-1)


def test_generate_text_adds_bos_and_stops_at_eos(model):
    class Tok:
        bos_id, eos_id = 1, 2

        def encode(self, text):
            return [3 + (ord(c) % (V - 3)) for c in text]

        def decode(self, ids):
            return ",".join(map(str, ids))

    tok = Tok()
    ids = generate(model, [1] + tok.encode("ab"), max_new_tokens=8, greedy=True, stop_ids=[2])
    text = generate_text(model, tok, "ab", max_new_tokens=8, greedy=True)
    expected = ids[:-1] if ids and ids[-1] == 2 else ids
    assert text == ",".join(map(str, expected))


def test_generate_text_with_prompt_uses_the_tokenizers_spacing():
    """Characters are joined without spaces: prompt + continuation decodes as one string."""
    from tinyllm.data import CharTokenizer

    tok = CharTokenizer.train(["abc cab bac"])
    m = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=8, max_len=16), seed=0)
    new = generate_text(m, tok, "ab", max_new_tokens=5, greedy=True, stop_at_eos=False)
    full = generate_text(m, tok, "ab", max_new_tokens=5, greedy=True, stop_at_eos=False, include_prompt=True)
    assert full == "ab" + new
