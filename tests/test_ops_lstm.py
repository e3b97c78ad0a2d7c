"""The LSTM op of P-tuning's prompt encoder (S12): backward through time against central differences
(float64, relative error <= 1e-6), both directions and a stacked bidirectional LSTM; parity with
torch.nn.LSTM(bidirectional=True) when torch is installed; errors for bad shapes."""

import numpy as np
import pytest

from tinyllm.gradcheck import check_op, numerical_grad, rel_error
from tinyllm.ops.lstm import bilstm_backward, bilstm_forward, lstm_backward, lstm_forward

TOL = 1e-6


def _weights(rng, I, H, dtype=np.float64):
    s = 1 / np.sqrt(H)
    return (rng.uniform(-s, s, (I, 4 * H)).astype(dtype), rng.uniform(-s, s, (H, 4 * H)).astype(dtype),
            rng.uniform(-s, s, 4 * H).astype(dtype))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("B, T, I, H", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 7, 6, 2)])
def test_S12_lstm_backward_through_time(reverse, B, T, I, H):
    rng = np.random.default_rng(B * 100 + T)
    W_x, W_h, b = _weights(rng, I, H)
    inputs = dict(x=rng.standard_normal((B, T, I)), W_x=W_x * 2, W_h=W_h * 2, b=b)   # gates away from 0.5
    errors = check_op(lstm_forward, lstm_backward, inputs, ["x", "W_x", "W_h", "b"], seed=1, reverse=reverse)
    assert max(errors.values()) < TOL, errors


def test_S12_bilstm_two_layers_backward():
    rng = np.random.default_rng(3)
    I, H = 5, 3
    layers = [(_weights(rng, I, H), _weights(rng, I, H)), (_weights(rng, 2 * H, H), _weights(rng, 2 * H, H))]
    x = rng.standard_normal((2, 4, I))
    y, cache = bilstm_forward(x, layers)
    assert y.shape == (2, 4, 2 * H)
    dy = rng.standard_normal(y.shape)
    dx, grads = bilstm_backward(dy, cache)

    def f():
        return np.sum(bilstm_forward(x, layers)[0] * dy)

    errors = {"x": rel_error(dx, numerical_grad(f, x))}
    for li, pair in enumerate(layers):
        for d, triple in enumerate(pair):
            for j, w in enumerate(triple):
                errors[(li, d, j)] = rel_error(grads[li][d][j], numerical_grad(f, w))
    assert max(errors.values()) < TOL, errors


def test_reverse_direction_reads_from_the_end():
    rng = np.random.default_rng(4)
    W_x, W_h, b = _weights(rng, 3, 2)
    x = rng.standard_normal((1, 5, 3))
    h_rev, _ = lstm_forward(x, W_x, W_h, b, reverse=True)
    h_fwd_of_flipped, _ = lstm_forward(x[:, ::-1].copy(), W_x, W_h, b)
    np.testing.assert_allclose(h_rev, h_fwd_of_flipped[:, ::-1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_S12_parity_with_torch_bidirectional_lstm(num_layers):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    I, H = 6, 4
    ref = torch.nn.LSTM(I, H, num_layers=num_layers, bidirectional=True, batch_first=True).double()
    x = np.random.default_rng(5).standard_normal((3, 7, I))

    def triple(suffix):
        w = lambda n: getattr(ref, f"{n}{suffix}").detach().numpy()           # noqa: E731
        return (w("weight_ih_l").T.copy(), w("weight_hh_l").T.copy(), w("bias_ih_l") + w("bias_hh_l"))

    layers = [(triple(f"{k}"), triple(f"{k}_reverse")) for k in range(num_layers)]
    y, cache = bilstm_forward(x, layers)
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = ref(xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
    dy = np.random.default_rng(6).standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    dx, grads = bilstm_backward(dy, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads[-1][1][1], getattr(ref, f"weight_hh_l{num_layers - 1}_reverse").grad.numpy().T,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads[0][0][2], ref.bias_ih_l0.grad.numpy(), rtol=0, atol=1e-12)


def test_bad_shapes_are_clear_errors():
    rng = np.random.default_rng(7)
    W_x, W_h, b = _weights(rng, 3, 2)
    with pytest.raises(ValueError, match=r"lstm: x must be \(B, T, I\)"):
        lstm_forward(rng.standard_normal((5, 3)), W_x, W_h, b)
    with pytest.raises(ValueError, match=r"expected W_x \(4, 8\)"):
        lstm_forward(rng.standard_normal((1, 5, 4)), W_x, W_h, b)
    with pytest.raises(TypeError, match="share one float dtype"):
        lstm_forward(rng.standard_normal((1, 5, 3)).astype(np.float32), W_x, W_h, b)
    with pytest.raises(ValueError, match="non-empty list"):
        bilstm_forward(rng.standard_normal((1, 5, 3)), [])
