"""tinyllm.scaling: the scaling-law fit recovers known laws, N is counted as Kaplan et al. count it,
bad input is refused clearly, and a run (E3.6 training, E4.1 validation) is deterministic."""

import math

import numpy as np
import pytest

from tinyllm import scaling


def synthetic(alpha=0.35, beta=0.45, A=30.0, B=200.0, noise=0.0, seed=0):
    """A 5 x 3 grid of (N, D) and the law's reducible loss there, with relative noise."""
    N, D = np.meshgrid([6e3, 1.4e4, 2.5e4, 5.6e4, 1e5], [4e4, 8e4, 1.6e5], indexing="ij")
    N, D = N.ravel(), D.ravel()
    L = A * N ** -alpha + B * D ** -beta
    return N, D, L * np.exp(noise * np.random.default_rng(seed).standard_normal(L.shape))


def test_fit_recovers_exact_law():
    N, D, L = synthetic()
    fit = scaling.fit_power_law(N, D, L)
    assert fit["alpha"] == pytest.approx(0.35, abs=1e-4)
    assert fit["beta"] == pytest.approx(0.45, abs=1e-4)
    assert fit["A"] == pytest.approx(30.0, rel=1e-3) and fit["B"] == pytest.approx(200.0, rel=1e-3)
    assert fit["rmse_log"] < 1e-6
    # extrapolation 10x in N is exact for an exact law
    assert scaling.predict(fit, 1e6, 1.6e5) == pytest.approx(30 * 1e6 ** -0.35 + 200 * 1.6e5 ** -0.45, rel=1e-4)


def test_fit_recovers_other_exponents_and_kaplan_form():
    N, D, L = synthetic(alpha=0.08, beta=0.9, A=5.0, B=3e4)
    fit = scaling.fit_power_law(N, D, L)
    assert fit["alpha"] == pytest.approx(0.08, abs=1e-3) and fit["beta"] == pytest.approx(0.9, abs=1e-3)
    # (N_c / N)^alpha + (D_c / D)^beta is the same law
    kaplan = (fit["N_c"] / N) ** fit["alpha"] + (fit["D_c"] / D) ** fit["beta"]
    np.testing.assert_allclose(kaplan, scaling.predict(fit, N, D), rtol=1e-9)


def test_fit_with_noise_stays_near_and_bootstrap_brackets():
    N, D, L = synthetic(noise=0.01, seed=3)
    fit = scaling.fit_power_law(N, D, L)
    assert abs(fit["alpha"] - 0.35) < 0.1 and abs(fit["beta"] - 0.45) < 0.15
    boots = scaling.bootstrap_fit(N, D, L, n_boot=20, seed=0)
    s = scaling.summarize_bootstrap(boots, 1e6, 1.6e5)
    assert s["alpha"]["std"] > 0 and s["beta"]["std"] > 0 and s["prediction"]["std_log"] > 0
    # deterministic for a seed
    again = scaling.bootstrap_fit(N, D, L, n_boot=20, seed=0)
    assert [b["alpha"] for b in boots] == [b["alpha"] for b in again]


@pytest.mark.parametrize("n_layer,d_model", [(1, 16), (2, 24), (2, 64), (3, 48), (2, 204)])
def test_non_embedding_params_match_the_arrays(n_layer, d_model):
    m = scaling.make_model(n_layer, d_model, seed=0)
    embeddings = m.params["tok_emb"].size + m.params["pos_emb"].size
    assert scaling.non_embedding_params(m) == m.num_params() - embeddings
    assert scaling.non_embedding_params(m) == scaling.count_non_embedding_params(n_layer, d_model)
    # Kaplan's 12 L d^2 leaves out 13 d per block and 2 d: within 13/(12 d) + small
    approx = scaling.kaplan_approx_params(n_layer, d_model)
    assert 0 < 1 - approx / scaling.non_embedding_params(m) < 1.2 / d_model + 0.01


def test_count_with_custom_ffn_and_flops():
    assert scaling.count_non_embedding_params(2, 32, d_ff=64) == 2 * (4 * 32 * 32 + 4 * 32 + 2 * 32 * 64 + 64 + 32
                                                                       + 4 * 32) + 2 * 32
    assert scaling.training_flops(1e6, 2e5) == pytest.approx(1.2e12)


@pytest.mark.parametrize("N,D,L,match", [
    ([1e3, 2e3, 3e3, 4e3], [1e4, 2e4, 1e4, 2e4], [1.0, 0.9, 0.8, 0.7], "more points than"),
    ([1e3, 2e3, 3e3, 4e3, 5e3], [1e4, 2e4, 1e4, 2e4, 1e4], [1.0, 0.9, 0.0, 0.7, 0.6], "positive"),
    ([1e3, 2e3, 3e3, 4e3, 5e3], [1e4, 2e4, 1e4, 2e4, 1e4], [1.0, 0.9, -0.1, 0.7, 0.6], "floor"),
    ([1e3, 1e3, 1e3, 1e3, 1e3], [1e4, 2e4, 1e4, 2e4, 1e4], [1.0, 0.9, 0.8, 0.7, 0.6], "distinct"),
    # two seeds' runs at "the same" D differ by a few tokens: not a second amount of data
    ([1e3, 2e3, 3e3, 4e3, 5e3], [16e4, 16e4 + 2, 16e4, 16e4 + 2, 16e4], [1.0, 0.9, 0.8, 0.7, 0.6], "spans only"),
    ([1e3, 2e3, 3e3, 4e3, 5e3], [1e4, 2e4, 1e4, 2e4], [1.0, 0.9, 0.8, 0.7, 0.6], "same length"),
    ([1e3, 2e3, 3e3, 4e3, 5e3], [1e4, 2e4, 1e4, 2e4, 1e4], [1.0, 0.9, float("nan"), 0.7, 0.6], "finite"),
    ([[1e3, 2e3, 3e3, 4e3, 5e3]], [1e4, 2e4, 1e4, 2e4, 1e4], [1.0, 0.9, 0.8, 0.7, 0.6], "1-D"),
])
def test_bad_points_raise_clear_errors(N, D, L, match):
    with pytest.raises(ValueError, match=match):
        scaling.fit_power_law(N, D, L)


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="split it evenly"):
        scaling.n_head_for(56)                  # 3 heads of 16 do not divide 56
    with pytest.raises(ValueError, match="positive int"):
        scaling.n_head_for(0)
    with pytest.raises(ValueError, match="n_tokens"):
        scaling.train_documents(0, seed=0)
    with pytest.raises(ValueError, match="positive"):
        scaling.predict({"A": 1, "alpha": 1, "B": 1, "beta": 1}, 0, 10)


def test_train_documents_are_nested_and_long_enough():
    small = scaling.train_documents(500, seed=1)
    big = scaling.train_documents(2000, seed=1)
    assert big[: len(small)] == small
    assert sum(len(d) - 1 for d in small) >= 500 > sum(len(d) - 1 for d in small[:-1])


def test_a_tiny_run_is_deterministic_and_consistent():
    tok = scaling.tokenizer()
    val = scaling.validation_set(n_docs=20, seed=7, tok=tok)
    assert val["floor_split"] < val["floor"]
    runs = [scaling.train_run(1, 16, 600, seed=0, val=val, tok=tok) for _ in range(2)]
    timeless = [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in runs]
    assert timeless[0] == timeless[1]
    r = runs[0]
    assert r["D"] >= 600 and r["n_tokens"] == 600 and r["steps"] == math.ceil(r["steps"])
    assert r["reducible"] == pytest.approx(r["val_loss"] - val["floor"])
    assert r["N"] == scaling.count_non_embedding_params(1, 16)
    other = scaling.train_run(1, 16, 600, seed=1, val=val, tok=tok)
    assert other["val_loss"] != r["val_loss"]


def test_run_grid_reuses_finished_runs():
    fake = {"n_layer": 1, "d_model": 16, "n_tokens": 300, "seed": 0, "reducible": 1.0, "marker": True}
    tok = scaling.tokenizer()
    val = scaling.validation_set(n_docs=10, seed=7, tok=tok)
    logged = []
    rows = scaling.run_grid([16], [300, 600], (0,), n_layer=1, val=val, tok=tok, log=logged.append, done=[fake])
    assert rows[0] is fake and len(logged) == 1 and logged[0] is rows[1]
    assert scaling.run_key(rows[1]) == (1, 16, 600, 0)
