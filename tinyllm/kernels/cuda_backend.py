"""The cuda backend: attention, the fused matmul-softmax and softmax as Numba CUDA kernels.

The algorithm is the one of the C and Numba kernels (csrc/attention.c), mapped onto a GPU:

- forward: one thread block per (query tile, b*h); thread t owns query row i. The block loads a tile
  of keys and values into shared memory, every thread runs the online softmax of its row over it
  (running max m, running sum l, rescale by exp(m - m') when the max grows), and only out and the
  row log-sum-exp lse go back to global memory (E3.2, E3.3, S3).
- backward: two kernels, neither with atomics. One thread per query row recomputes
  A_ij = exp(s_ij - lse_i) tile by tile and accumulates dq_i; one thread per key row walks the query
  tiles and accumulates dk_j and dv_j. Memory stays O(T) per row.

Rules for real hardware that the simulator does not enforce: every thread of a block reaches every
``syncthreads`` (loops that contain one run the same number of times in all threads; the range test
``active`` guards only the arithmetic), shared arrays have static sizes (TILE rows of MAX_D
features, at most 32 KiB per block), and out-of-range rows still help load the tiles.

Arrays are NumPy arrays on the host: each call copies its inputs to the device and its results
back. ``benchmarks/gpu_check.py`` times the device part on its own. Tests run these kernels on
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) at tiny shapes.
"""

import math

import numpy as np

from tinyllm.kernels import _validate
from tinyllm.kernels._validate import heads, keep_mask

MAX_D = 128                                    # largest head dimension (local and shared arrays)
TILES = {np.dtype(np.float32): 32, np.dtype(np.float64): 16}   # rows per tile = threads per block

try:
    from numba import cuda
    _IMPORT_ERROR = None
except ImportError as exc:
    cuda = None
    _IMPORT_ERROR = exc

_kernels = {}


def check_available():
    """Raise RuntimeError when numba.cuda has neither a GPU nor the simulator."""
    if cuda is None:
        raise ImportError(f"numba.cuda is missing ({_IMPORT_ERROR})")
    if not cuda.is_available():
        raise RuntimeError("no CUDA GPU found (set NUMBA_ENABLE_CUDASIM=1 to use the simulator)")


def is_simulator():
    """True when numba.cuda runs on the CPU simulator, not a GPU."""
    from numba import config
    return bool(config.ENABLE_CUDASIM)


def _make_kernels(dtype):
    """Compile the kernels for one float dtype (shared arrays need their dtype at compile time)."""
    from numba import float32, float64
    nbtype = float32 if dtype == np.float32 else float64
    TILE = TILES[np.dtype(dtype)]
    NEG_INF = -math.inf   # scalars are built as nbtype(...) so float32 kernels stay in float32

    @cuda.jit
    def attention_fwd(q, k, v, keep, out, lse, H, scale, causal):
        """out_i = sum_j softmax_j(scale q_i . k_j + mask) v_j by an online softmax (E3.2, E3.3).
        q (BH, Tq, D), k (BH, Tk, D), v (BH, Tk, Dv), keep (B, Tk); out (BH, Tq, Dv), lse (BH, Tq)."""
        ks = cuda.shared.array((TILE, MAX_D), nbtype)   # one tile of keys
        vs = cuda.shared.array((TILE, MAX_D), nbtype)   # and of values
        qi = cuda.local.array(MAX_D, nbtype)
        o = cuda.local.array(MAX_D, nbtype)
        Tq, D = q.shape[1], q.shape[2]
        Tk, Dv = k.shape[1], v.shape[2]
        bh, t = cuda.blockIdx.y, cuda.threadIdx.x
        b, i = bh // H, cuda.blockIdx.x * TILE + t
        off = Tk - Tq
        active = i < Tq
        last = -1   # last key this row may see (S3)
        if active:
            last = min(i + off, Tk - 1) if causal else Tk - 1
            for d in range(D):
                qi[d] = q[bh, i, d] * scale
        for d in range(Dv):
            o[d] = 0
        m = nbtype(NEG_INF)
        l = nbtype(0)
        # the same trip count in every thread: up to the last key of the block's last row
        jend = Tk
        if causal:
            jend = min(min(cuda.blockIdx.x * TILE + TILE - 1, Tq - 1) + off + 1, Tk)
        for j0 in range(0, jend, TILE):
            j = j0 + t
            if j < Tk:
                for d in range(D):
                    ks[t, d] = k[bh, j, d]
                for d in range(Dv):
                    vs[t, d] = v[bh, j, d]
            cuda.syncthreads()
            if active:
                for jj in range(min(TILE, Tk - j0)):
                    j = j0 + jj
                    if j <= last and keep[b, j] != 0:
                        s = nbtype(0)
                        for d in range(D):
                            s += qi[d] * ks[jj, d]
                        if s > m:   # new running max: rescale what was summed so far
                            alpha = math.exp(m - s)
                            l *= alpha
                            for d in range(Dv):
                                o[d] *= alpha
                            m = s
                        p = math.exp(s - m)
                        l += p
                        for d in range(Dv):
                            o[d] += p * vs[jj, d]
            cuda.syncthreads()
        if active:
            if l > 0:
                for d in range(Dv):
                    out[bh, i, d] = o[d] / l
                lse[bh, i] = m + math.log(l)
            elif l == 0:   # fully masked row
                for d in range(Dv):
                    out[bh, i, d] = 0
                lse[bh, i] = NEG_INF
            else:   # a NaN score reached the sum: NaN out, as the reference gives
                for d in range(Dv):
                    out[bh, i, d] = math.nan
                lse[bh, i] = math.nan

    @cuda.jit
    def attention_bwd_dq(q, k, v, keep, out, lse, dout, dq, delta, H, scale, causal):
        """dq_i = scale sum_j A_ij (dout_i . v_j - Delta_i) k_j, A recomputed from lse; writes
        Delta_i = dout_i . out_i for the dk/dv kernel. One thread per query row."""
        ks = cuda.shared.array((TILE, MAX_D), nbtype)
        vs = cuda.shared.array((TILE, MAX_D), nbtype)
        qi = cuda.local.array(MAX_D, nbtype)
        doi = cuda.local.array(MAX_D, nbtype)
        acc = cuda.local.array(MAX_D, nbtype)
        Tq, D = q.shape[1], q.shape[2]
        Tk, Dv = k.shape[1], v.shape[2]
        bh, t = cuda.blockIdx.y, cuda.threadIdx.x
        b, i = bh // H, cuda.blockIdx.x * TILE + t
        off = Tk - Tq
        active = i < Tq
        last = -1
        lse_i = nbtype(NEG_INF)
        delta_i = nbtype(0)
        if active:
            last = min(i + off, Tk - 1) if causal else Tk - 1
            lse_i = lse[bh, i]
            for d in range(D):
                qi[d] = q[bh, i, d] * scale
            for d in range(Dv):
                doi[d] = dout[bh, i, d]
                delta_i += doi[d] * out[bh, i, d]
            delta[bh, i] = delta_i
        for d in range(D):
            acc[d] = 0
        for j0 in range(0, Tk, TILE):
            j = j0 + t
            if j < Tk:
                for d in range(D):
                    ks[t, d] = k[bh, j, d]
                for d in range(Dv):
                    vs[t, d] = v[bh, j, d]
            cuda.syncthreads()
            if active and lse_i != NEG_INF:
                for jj in range(min(TILE, Tk - j0)):
                    j = j0 + jj
                    if j <= last and keep[b, j] != 0:
                        s = nbtype(0)
                        for d in range(D):
                            s += qi[d] * ks[jj, d]
                        dp = nbtype(0)
                        for d in range(Dv):
                            dp += doi[d] * vs[jj, d]
                        ds = math.exp(s - lse_i) * (dp - delta_i)
                        for d in range(D):
                            acc[d] += ds * ks[jj, d]
            cuda.syncthreads()
        if active:
            for d in range(D):
                dq[bh, i, d] = scale * acc[d]

    @cuda.jit
    def attention_bwd_dkv(q, k, v, keep, lse, dout, delta, dk, dv, H, scale, causal):
        """dv_j = sum_i A_ij dout_i and dk_j = scale sum_i A_ij (dout_i . v_j - Delta_i) q_i.
        One thread per key row; query tiles (scaled q, dout, lse, Delta) in shared memory."""
        qs = cuda.shared.array((TILE, MAX_D), nbtype)
        dos = cuda.shared.array((TILE, MAX_D), nbtype)
        ls = cuda.shared.array(TILE, nbtype)
        des = cuda.shared.array(TILE, nbtype)
        kj = cuda.local.array(MAX_D, nbtype)
        vj = cuda.local.array(MAX_D, nbtype)
        dkj = cuda.local.array(MAX_D, nbtype)
        dvj = cuda.local.array(MAX_D, nbtype)
        Tq, D = q.shape[1], q.shape[2]
        Tk, Dv = k.shape[1], v.shape[2]
        bh, t = cuda.blockIdx.y, cuda.threadIdx.x
        b, j = bh // H, cuda.blockIdx.x * TILE + t
        off = Tk - Tq
        active = j < Tk and keep[b, min(j, Tk - 1)] != 0
        if j < Tk:
            for d in range(D):
                kj[d] = k[bh, j, d]
            for d in range(Dv):
                vj[d] = v[bh, j, d]
        for d in range(D):
            dkj[d] = 0
        for d in range(Dv):
            dvj[d] = 0
        for i0 in range(0, Tq, TILE):
            i = i0 + t
            if i < Tq:
                for d in range(D):
                    qs[t, d] = q[bh, i, d] * scale
                for d in range(Dv):
                    dos[t, d] = dout[bh, i, d]
                ls[t] = lse[bh, i]
                des[t] = delta[bh, i]
            cuda.syncthreads()
            if active:
                for ii in range(min(TILE, Tq - i0)):
                    i = i0 + ii
                    if (not causal or j <= i + off) and ls[ii] != NEG_INF:
                        s = nbtype(0)
                        for d in range(D):
                            s += qs[ii, d] * kj[d]
                        p = math.exp(s - ls[ii])
                        dp = nbtype(0)
                        for d in range(Dv):
                            dp += dos[ii, d] * vj[d]
                            dvj[d] += p * dos[ii, d]
                        ds = p * (dp - des[ii])
                        for d in range(D):
                            dkj[d] += ds * qs[ii, d]   # qs already holds scale * q
            cuda.syncthreads()
        if j < Tk:
            for d in range(D):
                dk[bh, j, d] = dkj[d]
            for d in range(Dv):
                dv[bh, j, d] = dvj[d]

    @cuda.jit
    def matmul_softmax_fwd(q, k, keep, A, H, scale, causal):
        """A_i = softmax(scale q_i k^T + mask) (E3.2, S3): pass 1 writes the masked scores while it
        keeps the running max and sum, pass 2 normalises the row in place. One thread per row."""
        ks = cuda.shared.array((TILE, MAX_D), nbtype)
        qi = cuda.local.array(MAX_D, nbtype)
        Tq, D = q.shape[1], q.shape[2]
        Tk = k.shape[1]
        bh, t = cuda.blockIdx.y, cuda.threadIdx.x
        b, i = bh // H, cuda.blockIdx.x * TILE + t
        off = Tk - Tq
        active = i < Tq
        last = -1
        if active:
            last = min(i + off, Tk - 1) if causal else Tk - 1
            for d in range(D):
                qi[d] = q[bh, i, d] * scale
        m = nbtype(NEG_INF)
        l = nbtype(0)
        for j0 in range(0, Tk, TILE):
            j = j0 + t
            if j < Tk:
                for d in range(D):
                    ks[t, d] = k[bh, j, d]
            cuda.syncthreads()
            if active:
                for jj in range(min(TILE, Tk - j0)):
                    j = j0 + jj
                    s = nbtype(NEG_INF)
                    if j <= last and keep[b, j] != 0:
                        s = nbtype(0)
                        for d in range(D):
                            s += qi[d] * ks[jj, d]
                        if s > m:
                            l *= math.exp(m - s)
                            m = s
                        l += math.exp(s - m)
                    A[bh, i, j] = s
            cuda.syncthreads()
        if active:
            for j in range(Tk):
                A[bh, i, j] = math.exp(A[bh, i, j] - m) / l if l != 0 else 0   # l NaN: a NaN row

    @cuda.jit
    def matmul_softmax_bwd_dq(k, A, dA, dq, rowdot, scale):
        """dq_i = scale sum_j A_ij (dA_ij - <dA_i, A_i>) k_j (S1); also stores <dA_i, A_i>."""
        ks = cuda.shared.array((TILE, MAX_D), nbtype)
        acc = cuda.local.array(MAX_D, nbtype)
        Tq, Tk, D = A.shape[1], A.shape[2], k.shape[2]
        bh, t = cuda.blockIdx.y, cuda.threadIdx.x
        i = cuda.blockIdx.x * TILE + t
        active = i < Tq
        dot = nbtype(0)
        if active:
            for j in range(Tk):
                dot += dA[bh, i, j] * A[bh, i, j]
            rowdot[bh, i] = dot
        for d in range(D):
            acc[d] = 0
        for j0 in range(0, Tk, TILE):
            j = j0 + t
            if j < Tk:
                for d in range(D):
                    ks[t, d] = k[bh, j, d]
            cuda.syncthreads()
            if active:
                for jj in range(min(TILE, Tk - j0)):
                    ds = A[bh, i, j0 + jj] * (dA[bh, i, j0 + jj] - dot)
                    for d in range(D):
                        acc[d] += ds * ks[jj, d]
            cuda.syncthreads()
        if active:
            for d in range(D):
                dq[bh, i, d] = scale * acc[d]

    @cuda.jit
    def matmul_softmax_bwd_dk(q, A, dA, rowdot, dk, scale):
        """dk_j = scale sum_i A_ij (dA_ij - <dA_i, A_i>) q_i. One thread per key row."""
        qs = cuda.shared.array((TILE, MAX_D), nbtype)
        acc = cuda.local.array(MAX_D, nbtype)
        Tq, Tk, D = A.shape[1], A.shape[2], q.shape[2]
        bh, t = cuda.blockIdx.y, cuda.threadIdx.x
        j = cuda.blockIdx.x * TILE + t
        active = j < Tk
        for d in range(D):
            acc[d] = 0
        for i0 in range(0, Tq, TILE):
            i = i0 + t
            if i < Tq:
                for d in range(D):
                    qs[t, d] = q[bh, i, d]
            cuda.syncthreads()
            if active:
                for ii in range(min(TILE, Tq - i0)):
                    i = i0 + ii
                    ds = A[bh, i, j] * (dA[bh, i, j] - rowdot[bh, i])
                    for d in range(D):
                        acc[d] += ds * qs[ii, d]
            cuda.syncthreads()
        if active:
            for d in range(D):
                dk[bh, j, d] = scale * acc[d]

    @cuda.jit
    def softmax_fwd(x, y):
        """y = softmax(x) for one row per thread (S1); an all -inf row gives zeros, a row with a
        NaN gives NaN."""
        r = cuda.grid(1)
        if r < x.shape[0]:
            n = x.shape[1]
            m = nbtype(NEG_INF)
            nan = False
            for j in range(n):
                m = max(m, x[r, j])
                if x[r, j] != x[r, j]:
                    nan = True
            if nan or m == NEG_INF:
                for j in range(n):
                    y[r, j] = math.nan if nan else 0
            else:
                s = nbtype(0)
                for j in range(n):
                    y[r, j] = math.exp(x[r, j] - m)
                    s += y[r, j]
                for j in range(n):
                    y[r, j] /= s

    @cuda.jit
    def softmax_bwd(y, dy, dx):
        """dx = y * (dy - <dy, y>) for one row per thread (S1)."""
        r = cuda.grid(1)
        if r < y.shape[0]:
            dot = nbtype(0)
            for j in range(y.shape[1]):
                dot += dy[r, j] * y[r, j]
            for j in range(y.shape[1]):
                dx[r, j] = y[r, j] * (dy[r, j] - dot)

    return dict(attention_fwd=attention_fwd, attention_bwd_dq=attention_bwd_dq,
                attention_bwd_dkv=attention_bwd_dkv, matmul_softmax_fwd=matmul_softmax_fwd,
                matmul_softmax_bwd_dq=matmul_softmax_bwd_dq,
                matmul_softmax_bwd_dk=matmul_softmax_bwd_dk, softmax_fwd=softmax_fwd,
                softmax_bwd=softmax_bwd, TILE=TILE)


def kernels(dtype):
    """The compiled kernels for ``dtype`` (float32 or float64), built on first use."""
    dtype = np.dtype(dtype)
    if dtype not in _kernels:
        _kernels[dtype] = _make_kernels(dtype)
    return _kernels[dtype]


def _check_head_dims(*dims):
    for name, n in dims:
        if n > MAX_D:
            raise ValueError(f"cuda backend: {name} must be at most {MAX_D}, got {n}")


def _grid(n_rows, BH, tile):
    return (max(1, -(-n_rows // tile)), BH)


def softmax_forward(x):
    """Row softmax over the last axis (S1). x (..., N) -> y (..., N), cache {"y"}."""
    check_available()
    x2 = _validate.as_rows("x", x)
    K = kernels(x2.dtype)
    y = np.zeros_like(x2)
    if x2.size:
        d_y = cuda.device_array_like(x2)
        K["softmax_fwd"][max(1, -(-x2.shape[0] // 64)), 64](cuda.to_device(x2), d_y)
        y = d_y.copy_to_host()
    y = y.reshape(x.shape)
    return y, {"y": y}


def softmax_backward(dy, cache):
    """Backward of S1: dx = y * (dy - <dy, y>). dy (..., N) -> dx (..., N)."""
    y = cache["y"]
    dy2 = _validate.grad_like("dy", dy, y).reshape(-1, y.shape[-1])
    y2 = y.reshape(-1, y.shape[-1])
    dx = np.zeros_like(dy2)
    if dy2.size:
        d_dx = cuda.device_array_like(dy2)
        kernels(y.dtype)["softmax_bwd"][max(1, -(-y2.shape[0] // 64)), 64](
            cuda.to_device(y2), cuda.to_device(dy2), d_dx)
        dx = d_dx.copy_to_host()
    return dx.reshape(y.shape)


def matmul_softmax_forward(q, k, causal=False, key_mask=None, scale=None):
    """A = softmax(scale q k^T + mask) (E3.2, S3). q (B,H,Tq,D), k (B,H,Tk,D) -> A (B,H,Tq,Tk)."""
    check_available()
    q, k, mask, scale = _validate.qk(q, k, key_mask, scale)
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    _check_head_dims(("D", D))
    K = kernels(q.dtype)
    d_A = cuda.device_array((B * H, Tq, Tk), q.dtype)
    K["matmul_softmax_fwd"][_grid(Tq, B * H, K["TILE"]), K["TILE"]](
        cuda.to_device(heads(q)), cuda.to_device(heads(k)), cuda.to_device(keep_mask(mask, B, Tk)),
        d_A, H, q.dtype.type(scale), bool(causal))
    A = d_A.copy_to_host().reshape(B, H, Tq, Tk)
    return A, {"q": q, "k": k, "A": A, "scale": scale}


def matmul_softmax_backward(dA, cache):
    """Backward of the fused E3.2 -> dq (B,H,Tq,D), dk (B,H,Tk,D)."""
    q, k, A, scale = cache["q"], cache["k"], cache["A"], cache["scale"]
    dA = _validate.grad_like("dA", dA, A)
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    K = kernels(q.dtype)
    d_q, d_k = cuda.to_device(heads(q)), cuda.to_device(heads(k))
    d_A = cuda.to_device(A.reshape(B * H, Tq, Tk))
    d_dA = cuda.to_device(dA.reshape(B * H, Tq, Tk))
    d_dq = cuda.device_array((B * H, Tq, D), q.dtype)
    d_dk = cuda.device_array((B * H, Tk, D), q.dtype)
    d_dot = cuda.device_array((B * H, Tq), q.dtype)
    s = q.dtype.type(scale)
    K["matmul_softmax_bwd_dq"][_grid(Tq, B * H, K["TILE"]), K["TILE"]](d_k, d_A, d_dA, d_dq, d_dot, s)
    K["matmul_softmax_bwd_dk"][_grid(Tk, B * H, K["TILE"]), K["TILE"]](d_q, d_A, d_dA, d_dot, d_dk, s)
    return d_dq.copy_to_host().reshape(q.shape), d_dk.copy_to_host().reshape(k.shape)


def attention_forward(q, k, v, causal=False, key_mask=None, scale=None):
    """softmax(scale q k^T + mask) v with an online softmax (E3.2, E3.3, S3).

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), key_mask (B, Tk) bool
    -> out (B, H, Tq, Dv), cache holding the inputs, out and lse (B, H, Tq).
    """
    check_available()
    q, k, v, mask, scale = _validate.qkv(q, k, v, key_mask, scale)
    B, H, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    _check_head_dims(("D", D), ("Dv", Dv))
    keep = keep_mask(mask, B, Tk)
    out, lse = attention_forward_device(cuda.to_device(heads(q)), cuda.to_device(heads(k)),
                                        cuda.to_device(heads(v)), cuda.to_device(keep), H,
                                        q.dtype.type(scale), bool(causal))
    out = out.copy_to_host().reshape(B, H, Tq, Dv)
    return out, {"q": q, "k": k, "v": v, "keep": keep, "out": out, "lse": lse.copy_to_host(),
                 "scale": scale, "causal": bool(causal)}


def attention_forward_device(d_q, d_k, d_v, d_keep, H, scale, causal):
    """The forward kernel on device arrays: q (BH, Tq, D), k (BH, Tk, D), v (BH, Tk, Dv),
    keep (B, Tk) uint8 -> device arrays out (BH, Tq, Dv), lse (BH, Tq). No copies to the host."""
    BH, Tq, _ = d_q.shape
    K = kernels(d_q.dtype)
    d_out = cuda.device_array((BH, Tq, d_v.shape[2]), d_q.dtype)
    d_lse = cuda.device_array((BH, Tq), d_q.dtype)
    K["attention_fwd"][_grid(Tq, BH, K["TILE"]), K["TILE"]](d_q, d_k, d_v, d_keep, d_out, d_lse,
                                                           H, scale, causal)
    return d_out, d_lse


def attention_backward_device(d_q, d_k, d_v, d_keep, d_out, d_lse, d_dout, H, scale, causal):
    """The backward kernels on device arrays -> device arrays dq, dk, dv."""
    BH, Tq, D = d_q.shape
    Tk = d_k.shape[1]
    K = kernels(d_q.dtype)
    d_dq = cuda.device_array_like(d_q)
    d_dk = cuda.device_array_like(d_k)
    d_dv = cuda.device_array_like(d_v)
    d_delta = cuda.device_array((BH, Tq), d_q.dtype)
    K["attention_bwd_dq"][_grid(Tq, BH, K["TILE"]), K["TILE"]](
        d_q, d_k, d_v, d_keep, d_out, d_lse, d_dout, d_dq, d_delta, H, scale, causal)
    K["attention_bwd_dkv"][_grid(Tk, BH, K["TILE"]), K["TILE"]](
        d_q, d_k, d_v, d_keep, d_lse, d_dout, d_delta, d_dk, d_dv, H, scale, causal)
    return d_dq, d_dk, d_dv


def attention_backward(dout, cache):
    """Backward of E3.3 and E3.2, recomputing A from q, k and lse -> dq, dk, dv."""
    q, k, v, out = cache["q"], cache["k"], cache["v"], cache["out"]
    dout = _validate.grad_like("dout", dout, out)
    H = q.shape[1]
    dev = [cuda.to_device(a) for a in (heads(q), heads(k), heads(v), cache["keep"],
                                       heads(out), cache["lse"], heads(dout))]
    d_dq, d_dk, d_dv = attention_backward_device(*dev[:6], dev[6], H, q.dtype.type(cache["scale"]),
                                                 cache["causal"])
    return (d_dq.copy_to_host().reshape(q.shape), d_dk.copy_to_host().reshape(k.shape),
            d_dv.copy_to_host().reshape(v.shape))
