/* Attention, forward and backward, FlashAttention-style on a CPU (E3.2, E3.3, S3). Type-generic:
 * included by kernels_f32.c and kernels_f64.c; not compiled on its own.
 *
 * Forward, for one query row with scores s_j = scale * q . k_j (masked: -inf), visits the keys one
 * tile at a time and keeps three running values: the max m, the sum l = sum_j exp(s_j - m) and the
 * unnormalised output o = sum_j exp(s_j - m) v_j. A new tile with scores s'_j gives
 *
 *     m' = max(m, max_j s'_j)          alpha = exp(m - m')        (rescales what was summed so far)
 *     l' = alpha * l + sum_j exp(s'_j - m')
 *     o' = alpha * o + sum_j exp(s'_j - m') v_j
 *
 * and at the end out = o / l = sum_j A_j v_j (E3.3) with A = softmax(s) (E3.2), never storing a
 * row of A. The only thing kept for backward is lse = m + log l, the row's log-sum-exp.
 *
 * Backward recomputes A_ij = exp(s_ij - lse_i) tile by tile and uses, with Delta_i = dout_i . out_i,
 *
 *     dV_j = sum_i A_ij dout_i              dP_ij = dout_i . v_j
 *     dS_ij = A_ij (dP_ij - Delta_i)        (S1: sum_j A_ij dP_ij = Delta_i)
 *     dQ_i = scale * sum_j dS_ij k_j        dK_j = scale * sum_i dS_ij q_i
 *
 * so its memory is O(T) per row. A row with no visible key has lse = -inf, out = 0 and no gradient.
 *
 * Layout: a score tile is kept transposed, ST[j][i] for key j and query i (TL_BK x TL_BQ), computed
 * as K_tile (scale Q_block)^T. Then the per-row max, exp and sum of the online softmax run across
 * the rows of ST, vectorised over the queries i, and no tile of K or V needs transposing; the
 * products that want A itself read ST through the transposed-A form of FN(gemm).
 * OpenMP: forward over (b, h, query block) tasks, backward over (b, h) (each owns its dK, dV, dQ).
 * Both return 0, or -1 when scratch memory could not be allocated.
 *
 * Strides: the _strided entry points read and write every (B, H, T, D) array through its element
 * strides (batch, head, row; the last axis is contiguous), so q, k and v can be read straight from
 * a fused (B, T, 3C) QKV projection, out written into a head-merged (B, T, C) buffer and dq, dk, dv
 * into a (B, T, 3C) gradient, with no split, merge or assembly copies. The arithmetic, and so every
 * result bit, is the same for any strides. lse stays C-contiguous (B, H, Tq). The plain entry points
 * are these with the strides of C-contiguous arrays. */

/* Element offset of head bh = b * H + h's first row in an array with strides st. */
static inline int64_t FN(head_offset)(tl_strides st, int64_t bh, int64_t H)
{
    return (bh / H) * st.b + (bh % H) * st.h;
}

static inline tl_strides FN(contiguous)(int64_t H, int64_t T, int64_t D)
{
    tl_strides st = {H * T * D, T * D, D};
    return st;
}

/* x[r][0:cols] = 0 for r < rows, rows ld apart. */
static void FN(zero_rows)(REAL *x, int64_t ld, int64_t rows, int64_t cols)
{
    if (ld == cols) {
        memset(x, 0, (size_t)(rows * cols) * sizeof(REAL));
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        REAL *d = x + r * ld;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++)
            d[c] = 0;
    }
}

int FN(tl_attention_forward_strided)(const REAL *q, tl_strides qs, const REAL *k, tl_strides ks,
                                     const REAL *v, tl_strides vs, const uint8_t *key_mask,
                                     REAL *out, tl_strides os, REAL *lse, int64_t B, int64_t H,
                                     int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, REAL scale,
                                     int causal)
{
    const int64_t nqb = (Tq + TL_BQ - 1) / TL_BQ, off = Tk - Tq;
    int failed = 0;
#pragma omp parallel if (B * H * Tq * Tk * (D + Dv) > TL_PARALLEL_MIN)
    {
        REAL *qt = FN(scratch)(D * TL_BQ);      /* (D, TL_BQ) scale * Q_block^T */
        REAL *ST = FN(scratch)(TL_BK * TL_BQ);  /* (TL_BK, TL_BQ) scores, then weights, transposed */
        REAL m[TL_BQ], l[TL_BQ];                /* running max and sum per query */
        REAL mt[TL_BQ], ms[TL_BQ], alpha[TL_BQ], sum[TL_BQ];
        if (!qt || !ST) {
#pragma omp atomic write
            failed = 1;
        }
        int64_t task;
#pragma omp for schedule(dynamic)
        for (task = 0; task < B * H * nqb; task++) {
            if (!qt || !ST)
                continue;
            const int64_t bh = task / nqb, i0 = (task % nqb) * TL_BQ, b = bh / H;
            const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
            const REAL *kh = k + FN(head_offset)(ks, bh, H);   /* (Tk, D), rows ks.t apart */
            const REAL *vh = v + FN(head_offset)(vs, bh, H);   /* (Tk, Dv), rows vs.t apart */
            REAL *ob = out + FN(head_offset)(os, bh, H) + i0 * os.t;   /* (nq, Dv), holds o */
            const uint8_t *keep = key_mask ? key_mask + b * Tk : NULL;
            /* causal: no query of this block sees a key after i0 + nq - 1 + off */
            int64_t jend = causal ? i0 + nq + off : Tk;
            jend = jend < 0 ? 0 : (jend > Tk ? Tk : jend);
            FN(transpose)(q + FN(head_offset)(qs, bh, H) + i0 * qs.t, qs.t, nq, D, qt, TL_BQ);
            for (int64_t e = 0; e < D * TL_BQ; e++)
                qt[e] *= scale;
            FN(zero_rows)(ob, os.t, nq, Dv);
            for (int64_t i = 0; i < TL_BQ; i++) {
                m[i] = -INFINITY;
                l[i] = 0;
            }
            for (int64_t j0 = 0; j0 < jend; j0 += TL_BK) {
                const int64_t nk = jend - j0 < TL_BK ? jend - j0 : TL_BK;
                memset(ST, 0, (size_t)(nk * TL_BQ) * sizeof(REAL));
                FN(gemm)(ST, TL_BQ, kh + j0 * ks.t, ks.t, 1, qt, TL_BQ, nk, TL_BQ, D);   /* s^T (E3.2) */
                FN(mask_tile_t)(ST, TL_BQ, nk, nq, i0, j0, keep, causal, off);      /* S3 */
                for (int64_t i = 0; i < TL_BQ; i++)
                    mt[i] = -INFINITY;
                for (int64_t j = 0; j < nk; j++) {
                    const REAL *s = ST + j * TL_BQ;
#pragma omp simd
                    for (int64_t i = 0; i < TL_BQ; i++)
                        mt[i] = s[i] > mt[i] ? s[i] : mt[i];
                }
                for (int64_t i = 0; i < TL_BQ; i++) {
                    const REAL mnew = mt[i] > m[i] ? mt[i] : m[i];
                    ms[i] = mnew == -INFINITY ? 0 : mnew;   /* nothing visible yet: exps give 0 */
                    alpha[i] = m[i] - ms[i];                  /* exp taken below */
                    m[i] = mnew;
                    sum[i] = 0;
                }
                FN(exp_vec)(alpha, TL_BQ);                       /* alpha = exp(m - m') */
                FN(exp_cols)(ST, TL_BQ, nk, TL_BQ, ms, sum);     /* p = exp(s - m'), sum over keys */
                for (int64_t i = 0; i < nq; i++) {
                    l[i] = alpha[i] * l[i] + sum[i];
                    if (alpha[i] != 1) {
                        REAL *o = ob + i * os.t;
#pragma omp simd
                        for (int64_t d = 0; d < Dv; d++)
                            o[d] *= alpha[i];
                    }
                }
                FN(gemm)(ob, os.t, ST, 1, TL_BQ, vh + j0 * vs.t, vs.t, nq, Dv, nk);   /* o += P V (E3.3) */
            }
            for (int64_t i = 0; i < nq; i++) {
                REAL *o = ob + i * os.t;
                if (l[i] > 0) {
                    const REAL inv = 1 / l[i];
#pragma omp simd
                    for (int64_t d = 0; d < Dv; d++)
                        o[d] *= inv;
                    lse[bh * Tq + i0 + i] = m[i] + LOG(l[i]);
                } else if (l[i] == 0) {   /* fully masked row: out = 0 (already), lse = -inf */
                    lse[bh * Tq + i0 + i] = -INFINITY;
                } else {   /* a NaN score reached the sum: NaN out, as the reference gives */
                    for (int64_t d = 0; d < Dv; d++)
                        o[d] = NAN;
                    lse[bh * Tq + i0 + i] = NAN;
                }
            }
        }
        free(qt);
        free(ST);
    }
    return failed ? -1 : 0;
}

int FN(tl_attention_backward_strided)(const REAL *q, tl_strides qs, const REAL *k,
                                      tl_strides ks, const REAL *v, tl_strides vs,
                                      const uint8_t *key_mask, const REAL *out, tl_strides os,
                                      const REAL *lse, const REAL *dout, tl_strides dos, REAL *dq,
                                      tl_strides dqs, REAL *dk, tl_strides dks, REAL *dv,
                                      tl_strides dvs, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                      int64_t D, int64_t Dv, REAL scale, int causal)
{
    const int64_t off = Tk - Tq;
    int failed = 0;
    int64_t bh;
#pragma omp parallel if (B * H * Tq * Tk * (D + Dv) > TL_PARALLEL_MIN)
    {
        const int64_t nqb = (Tq + TL_BQ - 1) / TL_BQ;
        /* scale * Q^T and dout^T of one head, stored as nqb panels of (D, TL_BQ) and (Dv, TL_BQ):
         * rows 256 bytes apart instead of 4 * Tq, which would alias in the L1 cache */
        REAL *qt = FN(scratch)(nqb * D * TL_BQ);
        REAL *dot = FN(scratch)(nqb * Dv * TL_BQ);
        REAL *PT = FN(scratch)(TL_BK * TL_BQ);     /* (TL_BK, TL_BQ) recomputed A, transposed */
        REAL *dST = FN(scratch)(TL_BK * TL_BQ);    /* (TL_BK, TL_BQ) dP^T, then scale * dS^T */
        REAL *delta = FN(scratch)(Tq);             /* (Tq,) Delta_i = dout_i . out_i */
        REAL *shift = FN(scratch)(Tq);             /* (Tq,) lse, +inf for fully masked rows */
        REAL *unused = FN(scratch)(TL_BQ);         /* column sums that backward does not need */
        const int ok = qt && dot && PT && dST && delta && shift && unused;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic)
        for (bh = 0; bh < B * H; bh++) {
            if (!ok)
                continue;
            /* this head's (T, D) rows, each array's rows its own .t apart */
            const REAL *qh = q + FN(head_offset)(qs, bh, H), *kh = k + FN(head_offset)(ks, bh, H);
            const REAL *vh = v + FN(head_offset)(vs, bh, H), *oh = out + FN(head_offset)(os, bh, H);
            const REAL *doh = dout + FN(head_offset)(dos, bh, H), *lh = lse + bh * Tq;
            REAL *dqh = dq + FN(head_offset)(dqs, bh, H), *dkh = dk + FN(head_offset)(dks, bh, H);
            REAL *dvh = dv + FN(head_offset)(dvs, bh, H);
            const uint8_t *keep = key_mask ? key_mask + (bh / H) * Tk : NULL;
            for (int64_t i = 0; i < Tq; i++) {
                REAL acc = 0;
#pragma omp simd reduction(+ : acc)
                for (int64_t d = 0; d < Dv; d++)
                    acc += doh[i * dos.t + d] * oh[i * os.t + d];
                delta[i] = acc;
                shift[i] = lh[i] == -INFINITY ? INFINITY : lh[i];   /* exp(s - inf) = 0 */
            }
            for (int64_t i0 = 0; i0 < Tq; i0 += TL_BQ) {
                const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
                REAL *qp = qt + (i0 / TL_BQ) * D * TL_BQ;
                FN(transpose)(qh + i0 * qs.t, qs.t, nq, D, qp, TL_BQ);
                for (int64_t e = 0; e < D * TL_BQ; e++)
                    qp[e] *= scale;
                FN(transpose)(doh + i0 * dos.t, dos.t, nq, Dv, dot + (i0 / TL_BQ) * Dv * TL_BQ, TL_BQ);
            }
            FN(zero_rows)(dqh, dqs.t, Tq, D);
            FN(zero_rows)(dkh, dks.t, Tk, D);
            FN(zero_rows)(dvh, dvs.t, Tk, Dv);
            for (int64_t j0 = 0; j0 < Tk; j0 += TL_BK) {
                const int64_t nk = Tk - j0 < TL_BK ? Tk - j0 : TL_BK;
                /* causal: queries before j0 - off see none of these keys */
                int64_t istart = causal ? j0 - off : 0;
                istart = istart < 0 ? 0 : (istart / TL_BQ) * TL_BQ;
                for (int64_t i0 = istart; i0 < Tq; i0 += TL_BQ) {
                    const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
                    const REAL *qp = qt + (i0 / TL_BQ) * D * TL_BQ;     /* (D, TL_BQ) */
                    const REAL *dop = dot + (i0 / TL_BQ) * Dv * TL_BQ;  /* (Dv, TL_BQ) */
                    memset(PT, 0, (size_t)(nk * TL_BQ) * sizeof(REAL));
                    memset(dST, 0, (size_t)(nk * TL_BQ) * sizeof(REAL));
                    FN(gemm)(PT, TL_BQ, kh + j0 * ks.t, ks.t, 1, qp, TL_BQ, nk, TL_BQ, D);   /* s^T */
                    FN(mask_tile_t)(PT, TL_BQ, nk, nq, i0, j0, keep, causal, off);
                    FN(exp_cols)(PT, TL_BQ, nk, nq, shift + i0, unused);   /* A^T recomputed */
                    FN(gemm)(dST, TL_BQ, vh + j0 * vs.t, vs.t, 1, dop, TL_BQ, nk, TL_BQ, Dv); /* dP^T */
                    for (int64_t j = 0; j < nk; j++) {
                        const REAL *p = PT + j * TL_BQ, *di = delta + i0;
                        REAL *ds = dST + j * TL_BQ;
#pragma omp simd
                        for (int64_t i = 0; i < nq; i++)
                            ds[i] = scale * p[i] * (ds[i] - di[i]);   /* scale * dS^T */
                    }
                    FN(gemm)(dvh + j0 * dvs.t, dvs.t, PT, TL_BQ, 1, doh + i0 * dos.t, dos.t, nk, Dv,
                             nq);                                                  /* dV += A^T dout */
                    FN(gemm)(dkh + j0 * dks.t, dks.t, dST, TL_BQ, 1, qh + i0 * qs.t, qs.t, nk, D,
                             nq);                                                  /* dK += dS^T Q */
                    FN(gemm)(dqh + i0 * dqs.t, dqs.t, dST, 1, TL_BQ, kh + j0 * ks.t, ks.t, nq, D,
                             nk);                                                  /* dQ += dS K */
                }
            }
        }
        free(qt);
        free(dot);
        free(PT);
        free(dST);
        free(delta);
        free(shift);
        free(unused);
    }
    return failed ? -1 : 0;
}

/* The contiguous entry points: the strided kernels with the strides of C-contiguous arrays. */
int FN(tl_attention_forward)(const REAL *q, const REAL *k, const REAL *v,
                             const uint8_t *key_mask, REAL *out, REAL *lse, int64_t B, int64_t H,
                             int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, REAL scale,
                             int causal)
{
    return FN(tl_attention_forward_strided)(q, FN(contiguous)(H, Tq, D), k, FN(contiguous)(H, Tk, D),
                                            v, FN(contiguous)(H, Tk, Dv), key_mask, out,
                                            FN(contiguous)(H, Tq, Dv), lse, B, H, Tq, Tk, D, Dv,
                                            scale, causal);
}

int FN(tl_attention_backward)(const REAL *q, const REAL *k, const REAL *v,
                              const uint8_t *key_mask, const REAL *out, const REAL *lse,
                              const REAL *dout, REAL *dq, REAL *dk, REAL *dv, int64_t B,
                              int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                              REAL scale, int causal)
{
    const tl_strides q_st = FN(contiguous)(H, Tq, D), k_st = FN(contiguous)(H, Tk, D);
    const tl_strides v_st = FN(contiguous)(H, Tk, Dv), o_st = FN(contiguous)(H, Tq, Dv);
    return FN(tl_attention_backward_strided)(q, q_st, k, k_st, v, v_st, key_mask, out, o_st, lse,
                                             dout, o_st, dq, q_st, dk, k_st, dv, v_st, B, H, Tq,
                                             Tk, D, Dv, scale, causal);
}
