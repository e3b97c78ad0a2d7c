"""The numba backend: the tiled kernels of csrc/ written again in Python for ``@njit(parallel=True)``.

Same algorithm as the C kernels (see csrc/attention.c): attention visits the keys in tiles of BK
with an online softmax (running max m, running sum l, rescale by alpha = exp(m - m')) and keeps only
the row log-sum-exp for backward, which recomputes A tile by tile; score tiles are stored
transposed (keys down, BQ queries across). Loops are ordered so the innermost one runs along a
contiguous axis (queries or features), which LLVM vectorises, and index 2-D blocks with loop
counters: a NumPy view created per (query, key) pair would cost a reference count each.
``prange`` spreads (b, h, query block) tasks forward and (b, h) pairs backward over the threads.

Debugging: ``NUMBA_DISABLE_JIT=1`` turns every kernel back into plain Python (slow but steppable).
Implements S1, E3.2, E3.3 and S3.
"""

import types

import numpy as np

from tinyllm.kernels import _validate
from tinyllm.kernels._validate import heads, keep_mask

try:
    import numba
    from numba import njit, prange
except ImportError as exc:  # numba is a dependency, but keep the package importable without it
    numba = None
    _IMPORT_ERROR = exc

BQ = 64   # query rows per block
BK = 64   # keys per tile


PARALLEL_MIN = 1 << 20   # work (multiply-adds or elements) below which a kernel runs serially


def check_available():
    """Raise ImportError when numba is missing."""
    if numba is None:
        raise ImportError(f"numba is not installed ({_IMPORT_ERROR}); pip install numba")


class _Kernel:
    """One kernel compiled twice, lazily: ``@njit(parallel=True)`` and plain ``@njit`` (where
    ``prange`` is ``range``). ``kernel(work, *args)`` runs the parallel one when work is large."""

    def __init__(self, func):
        self.func = func
        self._compiled = {}

    def __call__(self, work, *args):
        parallel = work > PARALLEL_MIN
        if parallel not in self._compiled:
            func = self.func
            if not parallel:   # its own name, so the two versions get separate on-disk caches
                func = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial")
                func.__qualname__ = self.func.__qualname__ + "_serial"
            self._compiled[parallel] = njit(parallel=parallel, cache=True)(func)
        return self._compiled[parallel](*args)


if numba is not None:

    def _softmax_rows(x, y):
        """y = softmax(x) row by row (S1); x, y (rows, n); an all -inf row gives zeros, a row with
        a NaN gives NaN."""
        rows, n = x.shape
        for r in prange(rows):
            m = -np.inf
            nan = False
            for j in range(n):
                if x[r, j] > m:
                    m = x[r, j]
                elif x[r, j] != x[r, j]:
                    nan = True
            if nan or m == -np.inf:
                for j in range(n):
                    y[r, j] = np.nan if nan else 0
                continue
            s = 0.0
            for j in range(n):
                y[r, j] = np.exp(x[r, j] - m)
                s += y[r, j]
            inv = 1.0 / s
            for j in range(n):
                y[r, j] *= inv

    def _softmax_rows_backward(y, dy, dx):
        """dx = y * (dy - <dy, y>) row by row (S1); all (rows, n)."""
        rows, n = y.shape
        for r in prange(rows):
            dot = 0.0
            for j in range(n):
                dot += dy[r, j] * y[r, j]
            for j in range(n):
                dx[r, j] = y[r, j] * (dy[r, j] - dot)

    @njit(cache=True, inline="always")
    def _last_visible(i, off, Tk, causal):
        """The last key index query i may see under the causal rule of S3 (Tk - 1 when not causal)."""
        if causal:
            return min(i + off, Tk - 1)
        return Tk - 1

    def _matmul_softmax_fwd(q, kT, keep, A, H, scale, causal):
        """A = softmax(scale q k^T + mask) (E3.2, S3), one (b, h, query block) per task.

        q (BH, Tq, D), kT (BH, D, Tk), keep (B, Tk) uint8, A (BH, Tq, Tk) written.
        """
        BH, Tq, D = q.shape
        Tk = kT.shape[2]
        off = Tk - Tq
        nqb = (Tq + BQ - 1) // BQ
        for task in prange(BH * nqb):
            bh = task // nqb
            b = bh // H
            i0 = (task % nqb) * BQ
            for i in range(i0, min(i0 + BQ, Tq)):
                row = A[bh, i]
                qi = q[bh, i]
                row[:] = 0
                for d in range(D):   # scores as a sum of rows of K^T: the j loop vectorises
                    a = qi[d] * scale
                    kr = kT[bh, d]
                    for j in range(Tk):
                        row[j] += a * kr[j]
                last = _last_visible(i, off, Tk, causal)
                m = -np.inf
                nan = False
                kb = keep[b]
                for j in range(Tk):
                    if j > last or kb[j] == 0:
                        row[j] = -np.inf
                    elif row[j] > m:
                        m = row[j]
                    elif row[j] != row[j]:
                        nan = True
                if nan:            # a NaN among the visible scores: a NaN row, as the reference
                    row[:] = np.nan
                    continue
                if m == -np.inf:   # fully masked row: weights 0
                    row[:] = 0
                    continue
                s = 0.0
                for j in range(Tk):
                    row[j] = np.exp(row[j] - m)
                    s += row[j]
                inv = 1.0 / s
                for j in range(Tk):
                    row[j] *= inv

    def _matmul_softmax_bwd(q, k, A, dA, dq, dk, scale):
        """dS = A (dA - <dA, A>) (S1); dq = scale dS k, dk = scale dS^T q. One (b, h) per task."""
        BH, Tq, D = q.shape
        Tk = k.shape[1]
        for bh in prange(BH):
            dq[bh] = 0
            dk[bh] = 0
            ds = np.empty(Tk, q.dtype)
            for i in range(Tq):
                a_i, da_i, q_i, dq_i = A[bh, i], dA[bh, i], q[bh, i], dq[bh, i]   # 1-D views
                dot = 0.0
                for j in range(Tk):
                    dot += da_i[j] * a_i[j]
                for j in range(Tk):
                    ds[j] = scale * a_i[j] * (da_i[j] - dot)
                for j in range(Tk):
                    if ds[j] != 0:
                        k_j, dk_j = k[bh, j], dk[bh, j]
                        for d in range(D):
                            dq_i[d] += ds[j] * k_j[d]
                            dk_j[d] += ds[j] * q_i[d]

    def _attention_fwd(q, k, v, keep, out, lse, H, scale, causal):
        """Tiled attention with an online softmax (E3.2, E3.3, S3).

        q (BH, Tq, D), k (BH, Tk, D), v (BH, Tk, Dv), keep (B, Tk) uint8; out (BH, Tq, Dv) and
        lse (BH, Tq) written. One (b, h, query block) per task. As in csrc/attention.c a score
        tile is kept transposed, ST[j, i] for key j and query i, so the running max m, the sum l
        and the rescaling alpha = exp(m - m') are updated for BQ queries at once along a row.
        """
        BH, Tq, D = q.shape
        Tk, Dv = k.shape[1], v.shape[2]
        off = Tk - Tq
        nqb = (Tq + BQ - 1) // BQ
        for task in prange(BH * nqb):
            bh = task // nqb
            kb = keep[bh // H]
            i0 = (task % nqb) * BQ
            nq = min(BQ, Tq - i0)
            qt = np.zeros((D, BQ), q.dtype)   # scale * Q_block^T
            for i in range(nq):
                qi = q[bh, i0 + i]
                for d in range(D):
                    qt[d, i] = qi[d] * scale
            ST = np.empty((BK, BQ), q.dtype)
            o = np.zeros((BQ, Dv), q.dtype)   # unnormalised outputs
            m = np.full(BQ, -np.inf, q.dtype)
            l = np.zeros(BQ, q.dtype)
            ms = np.empty(BQ, q.dtype)
            alpha = np.empty(BQ, q.dtype)
            tot = np.empty(BQ, q.dtype)
            jend = min(i0 + nq + off, Tk) if causal else Tk   # no later key is visible here
            for j0 in range(0, max(jend, 0), BK):
                nk = min(BK, jend - j0)
                for j in range(nk):   # ST[j] = k_j . (scale Q^T): E3.2, one row per key
                    row = ST[j]
                    row[:] = 0
                    kj = k[bh, j0 + j]
                    for d in range(D):
                        a = kj[d]
                        qd = qt[d]
                        for i in range(BQ):
                            row[i] += a * qd[i]
                    first = nq if kb[j0 + j] == 0 else (j0 + j - off - i0 if causal else 0)
                    for i in range(max(first, 0)):   # S3: padding key, or a query before it
                        if i < nq:
                            row[i] = -np.inf
                for i in range(BQ):
                    ms[i] = m[i]
                for j in range(nk):
                    row = ST[j]
                    for i in range(BQ):
                        ms[i] = max(ms[i], row[i])          # m' = max(m, max_j s_j)
                for i in range(BQ):
                    alpha[i] = np.exp(m[i] - ms[i]) if ms[i] != -np.inf else 1.0
                    m[i] = ms[i]
                    if ms[i] == -np.inf:
                        ms[i] = 0   # nothing visible yet: every exp below is 0
                    tot[i] = 0
                for j in range(nk):
                    row = ST[j]
                    for i in range(BQ):
                        row[i] = np.exp(row[i] - ms[i])    # p = exp(s - m')
                        tot[i] += row[i]
                for i in range(nq):
                    l[i] = alpha[i] * l[i] + tot[i]
                    if alpha[i] != 1:
                        o[i] *= alpha[i]
                vb = v[bh, j0:j0 + nk]   # (nk, Dv): 2-D blocks indexed by loop counters are
                for j in range(nk):      # fast; a view per (i, j) pair would cost a refcount each
                    for i in range(nq):
                        p = ST[j, i]
                        if p != 0:
                            for d in range(Dv):   # o += p v_j  (E3.3)
                                o[i, d] += p * vb[j, d]
            for i in range(nq):
                oo = out[bh, i0 + i]
                if l[i] > 0:
                    for d in range(Dv):
                        oo[d] = o[i, d] / l[i]
                    lse[bh, i0 + i] = m[i] + np.log(l[i])
                elif l[i] == 0:   # fully masked row: out = 0, lse = -inf
                    oo[:] = 0
                    lse[bh, i0 + i] = -np.inf
                else:   # a NaN score reached the sum: NaN out, as the reference gives
                    oo[:] = np.nan
                    lse[bh, i0 + i] = np.nan

    def _attention_bwd(q, k, v, keep, out, lse, dout, dq, dk, dv, H, scale, causal):
        """Backward of tiled attention, recomputing A_ij = exp(s_ij - lse_i) (E3.2, E3.3, S1).

        Delta_i = dout_i . out_i;  dv_j += A_ij dout_i;  dS_ij = A_ij (dout_i . v_j - Delta_i);
        dq_i += scale dS_ij k_j;  dk_j += scale dS_ij q_i.  One (b, h) per task, tiles of BK keys
        by BQ queries kept transposed like the forward's.
        """
        BH, Tq, D = q.shape
        Tk, Dv = k.shape[1], v.shape[2]
        off = Tk - Tq
        nqb = (Tq + BQ - 1) // BQ
        for bh in prange(BH):
            kb = keep[bh // H]
            dq[bh] = 0
            dk[bh] = 0
            dv[bh] = 0
            qt = np.zeros((nqb, D, BQ), q.dtype)     # scale * Q^T, one panel per query block
            dot = np.zeros((nqb, Dv, BQ), q.dtype)   # dout^T
            shift = np.empty(nqb * BQ, q.dtype)      # lse, +inf for fully masked rows
            delta = np.zeros(nqb * BQ, q.dtype)      # Delta_i
            shift[:] = np.inf
            for i in range(Tq):
                qi, doi, oi = q[bh, i], dout[bh, i], out[bh, i]
                for d in range(D):
                    qt[i // BQ, d, i % BQ] = qi[d] * scale
                acc = 0.0
                for d in range(Dv):
                    dot[i // BQ, d, i % BQ] = doi[d]
                    acc += doi[d] * oi[d]
                delta[i] = acc
                if lse[bh, i] != -np.inf:
                    shift[i] = lse[bh, i]
            PT = np.empty((BK, BQ), q.dtype)
            dST = np.empty((BK, BQ), q.dtype)
            for j0 in range(0, Tk, BK):
                nk = min(BK, Tk - j0)
                istart = max(j0 - off, 0) // BQ * BQ if causal else 0
                for i0 in range(istart, Tq, BQ):
                    nq = min(BQ, Tq - i0)
                    qp, dop = qt[i0 // BQ], dot[i0 // BQ]
                    for j in range(nk):
                        pr, dr = PT[j], dST[j]
                        pr[:] = 0
                        dr[:] = 0
                        kj, vj = k[bh, j0 + j], v[bh, j0 + j]
                        for d in range(D):
                            a = kj[d]
                            qd = qp[d]
                            for i in range(BQ):
                                pr[i] += a * qd[i]            # s^T
                        for d in range(Dv):
                            a = vj[d]
                            dd = dop[d]
                            for i in range(BQ):
                                dr[i] += a * dd[i]            # dP^T = v_j . dout_i
                        first = nq if kb[j0 + j] == 0 else (j0 + j - off - i0 if causal else 0)
                        for i in range(BQ):
                            if i < first or i >= nq:          # S3 (and padding queries)
                                pr[i] = 0
                            else:
                                pr[i] = np.exp(pr[i] - shift[i0 + i])      # A_ij recomputed
                            dr[i] = scale * pr[i] * (dr[i] - delta[i0 + i])   # scale * dS_ij
                    # 2-D blocks indexed by loop counters (no per-pair views, see forward)
                    kb_, dkb, dvb = k[bh, j0:j0 + nk], dk[bh, j0:j0 + nk], dv[bh, j0:j0 + nk]
                    qb, dob, dqb = q[bh, i0:i0 + nq], dout[bh, i0:i0 + nq], dq[bh, i0:i0 + nq]
                    for j in range(nk):
                        for i in range(nq):
                            p = PT[j, i]
                            if p == 0:
                                continue
                            ds = dST[j, i]
                            for d in range(Dv):
                                dvb[j, d] += p * dob[i, d]    # dv_j += A_ij dout_i
                            for d in range(D):
                                dkb[j, d] += ds * qb[i, d]    # dk_j += scale dS_ij q_i
                                dqb[i, d] += ds * kb_[j, d]   # dq_i += scale dS_ij k_j


    # each kernel twice: parallel for big inputs, serial for small ones (a parallel region costs
    # far more than a tiny attention call when the cores are busy); compiled on first use
    _softmax_rows = _Kernel(_softmax_rows)
    _softmax_rows_backward = _Kernel(_softmax_rows_backward)
    _matmul_softmax_fwd = _Kernel(_matmul_softmax_fwd)
    _matmul_softmax_bwd = _Kernel(_matmul_softmax_bwd)
    _attention_fwd = _Kernel(_attention_fwd)
    _attention_bwd = _Kernel(_attention_bwd)

def _t(x):
    """(B*H, T, D) -> contiguous (B*H, D, T)."""
    return np.ascontiguousarray(x.transpose(0, 2, 1))


def softmax_forward(x):
    """Row softmax over the last axis (S1). x (..., N) -> y (..., N), cache {"y"}."""
    check_available()
    x2 = _validate.as_rows("x", x)
    y = np.empty_like(x2)
    _softmax_rows(x2.size, x2, y)
    y = y.reshape(x.shape)
    return y, {"y": y}


def softmax_backward(dy, cache):
    """Backward of S1: dx = y * (dy - <dy, y>). dy (..., N) -> dx (..., N)."""
    y = cache["y"]
    dy2 = _validate.grad_like("dy", dy, y).reshape(-1, y.shape[-1])
    dx = np.empty_like(dy2)
    _softmax_rows_backward(dy2.size, y.reshape(-1, y.shape[-1]), dy2, dx)
    return dx.reshape(y.shape)


def matmul_softmax_forward(q, k, causal=False, key_mask=None, scale=None):
    """A = softmax(scale q k^T + mask) (E3.2, S3). q (B,H,Tq,D), k (B,H,Tk,D) -> A (B,H,Tq,Tk)."""
    check_available()
    q, k, mask, scale = _validate.qk(q, k, key_mask, scale)
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    A = np.zeros((B * H, Tq, Tk), q.dtype)
    _matmul_softmax_fwd(A.size * D, heads(q), _t(heads(k)), keep_mask(mask, B, Tk), A, H, q.dtype.type(scale),
                        bool(causal))
    A = A.reshape(B, H, Tq, Tk)
    return A, {"q": q, "k": k, "A": A, "scale": scale}


def matmul_softmax_backward(dA, cache):
    """Backward of the fused E3.2 -> dq (B,H,Tq,D), dk (B,H,Tk,D)."""
    q, k, A, scale = cache["q"], cache["k"], cache["A"], cache["scale"]
    dA = _validate.grad_like("dA", dA, A)
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    dq = np.empty((B * H, Tq, D), q.dtype)
    dk = np.empty((B * H, Tk, D), q.dtype)
    _matmul_softmax_bwd(A.size * D, heads(q), heads(k), A.reshape(B * H, Tq, Tk), dA.reshape(B * H, Tq, Tk),
                        dq, dk, q.dtype.type(scale))
    return dq.reshape(q.shape), dk.reshape(k.shape)


def attention_forward(q, k, v, causal=False, key_mask=None, scale=None):
    """softmax(scale q k^T + mask) v, tiled with an online softmax (E3.2, E3.3, S3).

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), key_mask (B, Tk) bool
    -> out (B, H, Tq, Dv), cache holding the inputs, out and lse (B, H, Tq).
    """
    check_available()
    q, k, v, mask, scale = _validate.qkv(q, k, v, key_mask, scale)
    B, H, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    keep = keep_mask(mask, B, Tk)
    out = np.empty((B * H, Tq, Dv), q.dtype)
    lse = np.empty((B * H, Tq), q.dtype)
    _attention_fwd(B * H * Tq * Tk * (D + Dv), heads(q), heads(k), heads(v), keep, out, lse, H,
                   q.dtype.type(scale), bool(causal))
    out = out.reshape(B, H, Tq, Dv)
    return out, {"q": q, "k": k, "v": v, "keep": keep, "out": out, "lse": lse, "scale": scale,
                 "causal": bool(causal)}


def attention_backward(dout, cache):
    """Backward of E3.3 and E3.2, recomputing A from q, k and lse -> dq, dk, dv."""
    q, k, v, out = cache["q"], cache["k"], cache["v"], cache["out"]
    dout = _validate.grad_like("dout", dout, out)
    B, H, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    dq = np.empty((B * H, Tq, D), q.dtype)
    dk = np.empty((B * H, Tk, D), q.dtype)
    dv = np.empty((B * H, Tk, Dv), q.dtype)
    _attention_bwd(B * H * Tq * Tk * (D + Dv), heads(q), heads(k), heads(v), cache["keep"],
                   heads(out), cache["lse"], heads(dout), dq, dk, dv, H, q.dtype.type(cache["scale"]),
                   cache["causal"])
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)

