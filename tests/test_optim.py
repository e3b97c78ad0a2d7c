"""Optimizers, schedules and clipping (S9): hand-computed steps and torch.optim parity."""

import math

import numpy as np
import pytest

from tinyllm.train.clip import clip_grad_norm, global_norm
from tinyllm.train.optim import SGD, Adam, AdamW, decays
from tinyllm.train.schedule import Constant, WarmupCosine, make_schedule


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "h.0.attn.W_Q": rng.standard_normal((4, 3)).astype(dtype),
        "h.0.attn.b_Q": rng.standard_normal(3).astype(dtype),
        "h.0.ln_1.gamma": rng.standard_normal(4).astype(dtype),
        "wte": rng.standard_normal((5, 4)).astype(dtype),
    }


def make_grads(params, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}


def test_decay_rule_skips_biases_layernorm_embeddings():
    p = make_params()
    assert decays("h.0.attn.W_Q", p["h.0.attn.W_Q"])
    assert not decays("h.0.attn.b_Q", p["h.0.attn.b_Q"])
    assert not decays("h.0.ln_1.gamma", p["h.0.ln_1.gamma"])
    assert not decays("wte", p["wte"])
    assert decays("wte", p["wte"], decay_embeddings=True)


def test_sgd_momentum_hand_computed():
    p = {"w": np.array([[1.0, 2.0]])}
    opt = SGD(p, lr=0.1, momentum=0.9)
    opt.step({"w": np.array([[1.0, -1.0]])})      # v = g;  w = w - 0.1 g
    np.testing.assert_allclose(p["w"], [[0.9, 2.1]])
    opt.step({"w": np.array([[1.0, -1.0]])})      # v = 0.9 g + g = 1.9 g
    np.testing.assert_allclose(p["w"], [[0.9 - 0.19, 2.1 + 0.19]])


def test_adamw_first_step_hand_computed():
    # S9: after one step m_hat = g and v_hat = g^2, so the move is lr * g/(|g|+eps) = lr * sign(g),
    # plus the decoupled decay lr * wd * w on matrices only.
    p = {"W": np.array([[2.0, -3.0]]), "b": np.array([5.0])}
    g = {"W": np.array([[0.5, -4.0]]), "b": np.array([1.0])}
    lr, wd, eps = 0.01, 0.1, 1e-8
    opt = AdamW(p, lr=lr, weight_decay=wd, eps=eps)
    opt.step(g)
    W = np.array([[2.0, -3.0]]) * (1 - lr * wd) - lr * np.array([[0.5 / (0.5 + eps), -4.0 / (4.0 + eps)]])
    np.testing.assert_allclose(p["W"], W, rtol=1e-14)
    np.testing.assert_allclose(p["b"], [5.0 - lr * 1.0 / (1.0 + eps)], rtol=1e-14)   # bias: no decay


def test_adam_second_step_hand_computed():
    p = {"b": np.array([1.0])}
    opt = Adam(p, lr=0.1, betas=(0.5, 0.75), eps=0.0 + 1e-12)
    opt.step({"b": np.array([2.0])})
    opt.step({"b": np.array([4.0])})
    m = 0.5 * (0.5 * 2.0) + 0.5 * 4.0            # 3.0
    v = 0.75 * (0.25 * 4.0) + 0.25 * 16.0        # 4.75
    m_hat, v_hat = m / (1 - 0.5 ** 2), v / (1 - 0.75 ** 2)
    expected = 1.0 - 0.1 * 1.0 - 0.1 * m_hat / math.sqrt(v_hat)   # first step moved by lr*sign(g)
    np.testing.assert_allclose(p["b"], [expected], rtol=1e-12)


@pytest.mark.parametrize("decay_embeddings", [False, True])
def test_adamw_matches_torch(decay_embeddings):
    torch = pytest.importorskip("torch")
    params = make_params()
    opt = AdamW(params, lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                decay_embeddings=decay_embeddings)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    decay = [tparams[k] for k in params if decays(k, params[k], decay_embeddings)]
    no_decay = [tparams[k] for k in params if not decays(k, params[k], decay_embeddings)]
    topt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    for step in range(6):
        grads = make_grads(params, seed=step + 10)
        opt.step(grads)
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        topt.step()
    for k in params:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_momentum_matches_torch():
    torch = pytest.importorskip("torch")
    params = make_params()
    opt = SGD(params, lr=0.05, momentum=0.9)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    topt = torch.optim.SGD(list(tparams.values()), lr=0.05, momentum=0.9)
    for step in range(5):
        grads = make_grads(params, seed=step)
        opt.step(grads)
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        topt.step()
    for k in params:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-12)


def test_float32_stays_float32():
    params = make_params(np.float32)
    opt = AdamW(params, lr=1e-3)
    opt.step(make_grads(params, 1))
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(s.dtype == np.float32 for st in opt.state.values() for s in st.values())


def test_state_dict_round_trip_continues_identically():
    a = make_params()
    b = {k: v.copy() for k, v in a.items()}
    opt_a = AdamW(a, lr=1e-2, weight_decay=0.1)
    for s in range(3):
        opt_a.step(make_grads(a, s))
    b.update({k: v.copy() for k, v in a.items()})
    opt_b = AdamW(b, lr=1e-2, weight_decay=0.1)
    header, arrays = opt_a.flat_state()
    opt_b.load_flat_state(header, arrays)
    for s in range(3, 6):
        opt_a.step(make_grads(a, s))
        opt_b.step(make_grads(b, s))
    for k in a:
        assert np.array_equal(a[k], b[k])
    with pytest.raises(ValueError, match="AdamW"):
        SGD(b, lr=0.1).load_state_dict(opt_a.state_dict())


def test_bad_arguments():
    p = make_params()
    with pytest.raises(ValueError, match="lr"):
        AdamW(p, lr=-1)
    with pytest.raises(ValueError, match="betas"):
        AdamW(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="grads"):
        AdamW(p).step({"wte": p["wte"]})
    with pytest.raises(ValueError, match="shape"):
        AdamW(p).step({k: np.zeros(2) for k in p})


def test_warmup_cosine_values():
    s = WarmupCosine(lr=1.0, total=110, warmup=10, min_lr=0.1)
    assert s(0) == pytest.approx(0.1)
    assert s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5)          # half way: cos(pi/2) = 0
    assert s(110) == pytest.approx(0.1)
    assert s(500) == pytest.approx(0.1)
    lrs = [s(i) for i in range(10, 110)]
    assert all(x >= y for x, y in zip(lrs, lrs[1:]))         # monotone decay after warm-up
    assert Constant(0.5, warmup=2)(0) == pytest.approx(0.25)
    assert Constant(0.5)(1000) == 0.5
    with pytest.raises(ValueError, match="schedule"):
        make_schedule("linear", 1.0, 10)
    with pytest.raises(ValueError, match="warmup"):
        WarmupCosine(1.0, total=10, warmup=20)


def test_clip_grad_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert global_norm(g) == pytest.approx(5.0)
    norm = clip_grad_norm(g, 1.0)
    assert norm == pytest.approx(5.0)
    assert global_norm(g) == pytest.approx(1.0, rel=1e-5)
    g2 = {"a": np.array([0.3, 0.4])}
    clip_grad_norm(g2, 1.0)                                   # below the threshold: unchanged
    np.testing.assert_array_equal(g2["a"], [0.3, 0.4])
    g3 = {"a": np.array([np.nan, 1.0])}
    assert math.isnan(clip_grad_norm(g3, 1.0))


def test_clip_matches_torch():
    torch = pytest.importorskip("torch")
    params = make_params()
    grads = make_grads(params, 3)
    tp = [torch.tensor(v, requires_grad=True) for v in params.values()]
    for t, g in zip(tp, grads.values()):
        t.grad = torch.tensor(g.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(tp, 0.5)
    norm = clip_grad_norm(grads, 0.5)
    assert norm == pytest.approx(float(tnorm))
    for t, g in zip(tp, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)
