"""Bad input to the models fails early with a ValueError/TypeError that names the argument."""

import numpy as np
import pytest

from tinyllm import BERT, BERTConfig, GPT, GPTConfig

V, L = 11, 8


@pytest.fixture(scope="module")
def gpt():
    return GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=8, max_len=L), seed=0, dtype=np.float64)


@pytest.fixture(scope="module")
def bert():
    return BERT(BERTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=8, max_len=L), seed=0, dtype=np.float64)


IDX = np.array([[1, 2, 3], [4, 5, 6]])


def _calls(model):
    """Every public entry point that takes token ids, as (name, callable(idx, **kw))."""
    if isinstance(model, GPT):
        return [("forward", lambda i, **k: model.forward(i, **k)),
                ("forward_cached", lambda i, **k: model.forward_cached(i, **k)),
                ("loss_and_grads", lambda i, **k: model.loss_and_grads(i, np.zeros(np.shape(i), int), **k))]
    return [("forward", lambda i, **k: model.forward(i, **k)),
            ("encode", lambda i, **k: model.encode(i, **k)),
            ("loss_and_grads", lambda i, **k: model.loss_and_grads(i, np.zeros(np.shape(i), int), **k))]


@pytest.mark.parametrize("which", ["gpt", "bert"])
@pytest.mark.parametrize("bad, exc, words", [
    (np.array([[1, V]]), ValueError, f"idx must lie in \\[0, vocab_size={V}\\), got id {V}"),
    (np.array([[1, -2]]), ValueError, "idx must lie in .* got negative id -2"),
    (np.ones((1, L + 1), int), ValueError, f"idx has sequence length T={L + 1}.*max_len={L}"),
    (np.array([[1.0, 2.0]]), TypeError, "idx must hold integer token ids, got dtype float64"),
    (np.array([[True, False]]), TypeError, "idx must hold integer token ids, got dtype bool"),
    (np.array([1, 2, 3]), ValueError, r"idx must be 2-D \(B, T\), got shape \(3,\).*ids\[None\]"),
    (np.ones((1, 2, 3), int), ValueError, r"idx must be 2-D \(B, T\), got shape \(1, 2, 3\)"),
    (np.zeros((1, 0), int), ValueError, "at least one sequence and one position"),
    ("hello", TypeError, "idx must be a numpy.ndarray"),
])
def test_bad_token_ids(request, which, bad, exc, words):
    model = request.getfixturevalue(which)
    for name, call in _calls(model):
        with pytest.raises(exc, match=words):
            call(bad)


def test_nested_lists_are_accepted(gpt):
    np.testing.assert_array_equal(gpt.forward([[1, 2, 3]]), gpt.forward(np.array([[1, 2, 3]])))


def test_kv_cache_longer_than_max_len(gpt):
    _, past = gpt.forward_cached(np.ones((1, L - 1), int))
    gpt.forward_cached(np.ones((1, 1), int), past_kv=past)          # exactly max_len: fine
    with pytest.raises(ValueError, match=r"T=2 plus 7 cached positions, more than the model's max_len=8"):
        gpt.forward_cached(np.ones((1, 2), int), past_kv=past)


@pytest.mark.parametrize("which, arg", [("gpt", "targets"), ("bert", "labels")])
def test_bad_targets_and_labels(request, which, arg):
    model = request.getfixturevalue(which)
    with pytest.raises(ValueError, match=rf"{arg} must have the shape of the inputs \(2, 3\), got \(2, 2\)"):
        model.loss_and_grads(IDX, np.zeros((2, 2), int))
    with pytest.raises(ValueError, match=rf"{arg} must lie in \[0, {V}\) or equal -100.*got {V} at position \(1, 2\)"):
        model.loss_and_grads(IDX, np.array([[0, 1, 2], [3, 4, V]]))
    with pytest.raises(ValueError, match=rf"{arg} must lie in .* got -1"):
        model.loss_and_grads(IDX, np.array([[0, -1, 2], [3, 4, 5]]))
    with pytest.raises(TypeError, match=rf"{arg} must hold integer class ids, got dtype float64"):
        model.loss_and_grads(IDX, np.zeros((2, 3)))


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_bad_attention_mask(request, which):
    model = request.getfixturevalue(which)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(2, 3\), got \(2, 4\)"):
        model.forward(IDX, attention_mask=np.ones((2, 4), int))
    with pytest.raises(ValueError, match="attention_mask must hold only 0 and 1"):
        model.forward(IDX, attention_mask=np.full((2, 3), 2))
    with pytest.raises(TypeError, match="attention_mask must hold integer 0/1 flags .or be bool., got dtype float64"):
        model.forward(IDX, attention_mask=np.ones((2, 3)))


def test_bad_token_type_ids(bert):
    with pytest.raises(ValueError, match=r"token_type_ids must lie in \[0, vocab_size=2\), got id 2"):
        bert.forward(IDX, token_type_ids=np.full((2, 3), 2))
    with pytest.raises(ValueError, match=r"token_type_ids must have shape \(2, 3\), got \(1, 3\)"):
        bert.forward(IDX, token_type_ids=np.zeros((1, 3), int))
    with pytest.raises(TypeError, match="token_type_ids must hold integer"):
        bert.forward(IDX, token_type_ids=np.zeros((2, 3)))


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_bad_inputs_embeds(request, which):
    model = request.getfixturevalue(which)
    with pytest.raises(ValueError, match="exactly one of idx"):
        model.forward(IDX, inputs_embeds=np.zeros((2, 3, 8)))
    with pytest.raises(ValueError, match="exactly one of idx"):
        model.forward()
    with pytest.raises(TypeError, match="inputs_embeds must have the model's dtype float64, got float32"):
        model.forward(inputs_embeds=np.zeros((2, 3, 8), np.float32))
    with pytest.raises(ValueError, match=r"inputs_embeds must have shape \(B, T, d_model=8\), got \(2, 3, 5\)"):
        model.forward(inputs_embeds=np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="inputs_embeds has sequence length T=9"):
        model.forward(inputs_embeds=np.zeros((1, 9, 8)))


def test_bad_past_kv(gpt):
    k = np.zeros((2, 2, 3, 4))
    with pytest.raises(ValueError, match="past_kv must be a list of n_layer=1"):
        gpt.forward(IDX, past_kv=[(k, k), (k, k)])
    with pytest.raises(ValueError, match=r"past_kv\[0\].v must have shape \(B, H, P, D\) = \(2, 2, 3, 4\), got \(2, 2, 2, 4\)"):
        gpt.forward(IDX, past_kv=[(k, np.zeros((2, 2, 2, 4)))])
    with pytest.raises(TypeError, match=r"past_kv\[0\].k must be a numpy array of dtype float64, got float32"):
        gpt.forward(IDX, past_kv=[(k.astype(np.float32), k)])
    with pytest.raises(ValueError, match="past_kv has batch size 1 but the input has 2"):
        gpt.forward(IDX, past_kv=[(k[:1], k[:1])])


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_bad_wrt_and_rng(request, which):
    model = request.getfixturevalue(which)
    with pytest.raises(ValueError, match=r"wrt: unknown names \['W_Q'\]"):
        model.loss_and_grads(IDX, np.zeros((2, 3), int), wrt=["W_Q"])
    model.train()
    try:
        model.config.dropout = 0.1
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, got int"):
            model.forward(IDX, rng=3)
    finally:
        model.config.dropout = 0.0
        model.eval()


def test_given_params_are_checked():
    cfg = GPTConfig(vocab_size=V, n_layer=1, n_head=2, d_model=8, max_len=L)
    good = GPT(cfg, dtype=np.float64).params
    with pytest.raises(ValueError, match=r"params: missing \['ln_f.beta'\]"):
        GPT(cfg, dtype=np.float64, params={k: v for k, v in good.items() if k != "ln_f.beta"})
    bad = dict(good, pos_emb=np.zeros((L + 1, 8)))
    with pytest.raises(ValueError, match=r"params\['pos_emb'\] must be an array of shape \(8, 8\)"):
        GPT(cfg, dtype=np.float64, params=bad)
    with pytest.raises(ValueError, match=r"params\['tok_emb'\] must be an array of shape \(11, 8\) and dtype float32"):
        GPT(cfg, dtype=np.float32, params=good)
