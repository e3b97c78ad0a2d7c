"""The kernel contract's edge cases (docs/KERNELS.md), the same under every backend.

- NaN in, NaN out: a NaN in q, or in a key a row can see, makes that row of A (E3.2) and of the
  output (E3.3) NaN, exactly where the NumPy reference has NaN; a NaN in a masked key (S3) is
  ignored; a softmax row (S1) with a NaN is NaN.
- Empty sizes are a ValueError naming them, never a reshape error or an empty result.
- CUDA on shapes larger than one tile and one block (the simulator's tiles are 32 float32 / 16
  float64 rows), causal and masked, against the reference.
"""

import numpy as np
import pytest

import tinyllm.kernels as K

BACKENDS = K.available()
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=2e-5)}


def _qkv(seed, B=2, H=2, Tq=6, Tk=6, D=3, Dv=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, H, Tq, D)).astype(dtype), rng.standard_normal((B, H, Tk, D)).astype(dtype),
            rng.standard_normal((B, H, Tk, Dv)).astype(dtype))


def _run(backend, q, k, v, causal, key_mask):
    with K.use(backend):
        out, _ = K.attention_forward(q, k, v, causal=causal, key_mask=key_mask)
        A, _ = K.matmul_softmax_forward(q, k, causal=causal, key_mask=key_mask)
    return out, A


def _same_nans_and_values(got, ref, what):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN pattern")
    assert np.isnan(ref).any() and not np.isnan(ref).all(), f"{what}: the case must mix NaN and numbers"
    keep = ~np.isnan(ref)
    np.testing.assert_allclose(got[keep], ref[keep], err_msg=what, **TOL[np.float64])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["q", "k"])
@pytest.mark.parametrize("causal", [False, True])
def test_nan_in_gives_nan_out(backend, where, causal):
    q, k, v = _qkv(1)
    key_mask = np.ones((2, 6), bool)
    key_mask[1, 4] = False
    if where == "q":
        q[0, 1, 2, 0] = np.nan          # one query row
    else:
        k[0, 0, 3, 1] = np.nan          # a key seen by every row (by rows >= 3 when causal)
        k[1, 0, 4, 0] = np.nan          # a masked key: ignored (S3)
    ref = _run("numpy", q, k, v, causal, key_mask)
    got = _run(backend, q, k, v, causal, key_mask)
    for name, g, r in zip(("out (E3.3)", "A (E3.2)"), got, ref):
        _same_nans_and_values(g, r, f"{backend} {name} NaN in {where}, causal={causal}")
    assert not np.isnan(ref[0][1]).any()                       # the masked NaN key changed nothing


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_row_with_nan_is_nan(backend):
    x = np.random.default_rng(2).standard_normal((4, 5))
    x[0, 2] = np.nan                    # one NaN among numbers
    x[1] = np.nan                       # all NaN
    x[2, :4] = -np.inf                  # masked entries and a NaN
    x[2, 4] = np.nan
    x[3] = -np.inf                      # fully masked: zeros (S1, S3)
    with K.use(backend):
        y, _ = K.softmax_forward(x)
    assert np.isnan(y[:3]).all() and np.array_equal(y[3], np.zeros(5))


EMPTY = [((1, 1, 0, 3), (1, 1, 4, 3), (1, 1, 4, 2)),     # Tq = 0
         ((1, 1, 4, 3), (1, 1, 0, 3), (1, 1, 0, 2)),     # Tk = 0
         ((0, 1, 4, 3), (0, 1, 4, 3), (0, 1, 4, 2)),     # B = 0
         ((1, 1, 4, 3), (1, 1, 4, 3), (1, 1, 4, 0))]     # Dv = 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shapes", EMPTY, ids=["Tq0", "Tk0", "B0", "Dv0"])
def test_empty_sizes_are_a_clear_error(backend, shapes):
    q, k, v = (np.zeros(s) for s in shapes)
    with K.use(backend):
        with pytest.raises(ValueError, match="attention: .*(empty|at least 1)"):
            K.attention_forward(q, k, v)
        if shapes[2][3] != 0:
            with pytest.raises(ValueError, match="attention: empty"):
                K.matmul_softmax_forward(q, k)
        with pytest.raises(ValueError, match="at least one entry"):
            K.softmax_forward(np.zeros((3, 0)))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_across_tiles_and_blocks(dtype):
    """E3.2, E3.3, S3 on the cuda backend with Tq and Tk over one tile (several key tiles, several
    query blocks per head), causal with Tk > Tq and with padding keys, forward and backward."""
    if "cuda" not in BACKENDS:
        pytest.skip(f"cuda backend unavailable: {K.unavailable_reason('cuda')}")
    from tinyllm.kernels.cuda_backend import TILES

    tile = TILES[np.dtype(dtype)]
    Tq, Tk = tile + 3, 2 * tile + 5                 # 2 query blocks, 3 key tiles
    rng = np.random.default_rng(3)
    q, k, v = _qkv(4, B=1, H=2, Tq=Tq, Tk=Tk, D=4, Dv=3, dtype=dtype)
    dout = rng.standard_normal((1, 2, Tq, 3)).astype(dtype)
    key_mask = rng.random((1, Tk)) > 0.25
    for causal, mask in ((True, None), (False, key_mask), (True, key_mask)):
        results = {}
        for name in ("numpy", "cuda"):
            with K.use(name):
                out, cache = K.attention_forward(q, k, v, causal=causal, key_mask=mask)
                A, _ = K.matmul_softmax_forward(q, k, causal=causal, key_mask=mask)
                results[name] = (out, A, *K.attention_backward(dout, cache))
        for label, ref, got in zip(("out", "A", "dq", "dk", "dv"), results["numpy"], results["cuda"]):
            np.testing.assert_allclose(got, ref, err_msg=f"cuda {label} causal={causal} "
                                                         f"masked={mask is not None}", **TOL[dtype])
