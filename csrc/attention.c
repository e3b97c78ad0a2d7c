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
 * OpenMP: forward over (b, h, query block) tasks, backward over (b, h) (each owns its dK, dV, dQ). */

void FN(tl_attention_forward)(const REAL *q, const REAL *k, const REAL *v,
                              const uint8_t *key_mask, REAL *out, REAL *lse, int64_t B,
                              int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                              REAL scale, int causal)
{
    const int64_t nqb = (Tq + TL_BQ - 1) / TL_BQ, off = Tk - Tq;
#pragma omp parallel
    {
        REAL *kt = FN(scratch)(D * TL_BK);      /* (D, TL_BK) key tile, transposed */
        REAL *S = FN(scratch)(TL_BQ * TL_BK);   /* (TL_BQ, TL_BK) scores, then weights */
        REAL m[TL_BQ], l[TL_BQ];                /* running max and sum per query row */
        int64_t task;
#pragma omp for schedule(dynamic)
        for (task = 0; task < B * H * nqb; task++) {
            const int64_t bh = task / nqb, i0 = (task % nqb) * TL_BQ, b = bh / H;
            const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
            const REAL *qb = q + (bh * Tq + i0) * D;             /* (nq, D) */
            const REAL *kh = k + bh * Tk * D, *vh = v + bh * Tk * Dv;   /* (Tk, D), (Tk, Dv) */
            REAL *ob = out + (bh * Tq + i0) * Dv;                /* (nq, Dv), holds o */
            const uint8_t *keep = key_mask ? key_mask + b * Tk : NULL;
            /* causal: no row of this block sees a key after i0 + nq - 1 + off */
            int64_t jend = causal ? i0 + nq + off : Tk;
            jend = jend < 0 ? 0 : (jend > Tk ? Tk : jend);
            memset(ob, 0, (size_t)(nq * Dv) * sizeof(REAL));
            for (int64_t i = 0; i < nq; i++) {
                m[i] = -INFINITY;
                l[i] = 0;
            }
            for (int64_t j0 = 0; j0 < jend; j0 += TL_BK) {
                const int64_t nk = Tk - j0 < TL_BK ? Tk - j0 : TL_BK;
                FN(transpose_tile)(kh + j0 * D, D, nk, D, kt);
                FN(tile_scores)(qb, D, nq, kt, D, scale, S);     /* s = scale q k^T  (E3.2) */
                FN(tile_mask)(S, nq, i0, j0, nk, keep, causal, off);   /* S3 */
                for (int64_t i = 0; i < nq; i++) {
                    REAL *s = S + i * TL_BK, mt = -INFINITY, sum = 0;
#pragma omp simd reduction(max : mt)
                    for (int j = 0; j < TL_BK; j++)
                        mt = s[j] > mt ? s[j] : mt;
                    if (mt == -INFINITY)   /* nothing visible in this tile */
                        continue;
                    const REAL mnew = mt > m[i] ? mt : m[i];
                    const REAL alpha = EXP(m[i] - mnew);   /* 0 on the first visible tile */
#pragma omp simd reduction(+ : sum)
                    for (int j = 0; j < TL_BK; j++) {
                        s[j] = EXP(s[j] - mnew);
                        sum += s[j];
                    }
                    REAL *o = ob + i * Dv;
                    if (alpha != 1)
                        for (int64_t d = 0; d < Dv; d++)
                            o[d] *= alpha;
                    for (int64_t j = 0; j < nk; j++)   /* o += sum_j p_j v_j  (E3.3) */
                        if (s[j] != 0)
                            FN(axpy)(o, s[j], vh + (j0 + j) * Dv, Dv);
                    l[i] = alpha * l[i] + sum;
                    m[i] = mnew;
                }
            }
            for (int64_t i = 0; i < nq; i++) {
                REAL *o = ob + i * Dv;
                if (l[i] > 0) {
                    const REAL inv = 1 / l[i];
                    for (int64_t d = 0; d < Dv; d++)
                        o[d] *= inv;
                    lse[bh * Tq + i0 + i] = m[i] + LOG(l[i]);
                } else {   /* fully masked row: out = 0 (already), lse = -inf */
                    lse[bh * Tq + i0 + i] = -INFINITY;
                }
            }
        }
        free(kt);
        free(S);
    }
}

void FN(tl_attention_backward)(const REAL *q, const REAL *k, const REAL *v,
                               const uint8_t *key_mask, const REAL *out, const REAL *lse,
                               const REAL *dout, REAL *dq, REAL *dk, REAL *dv, int64_t B,
                               int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                               REAL scale, int causal)
{
    const int64_t off = Tk - Tq;
    int64_t bh;
#pragma omp parallel
    {
        REAL *kt = FN(scratch)(D * TL_BK);       /* (D, TL_BK) key tile, transposed */
        REAL *vt = FN(scratch)(Dv * TL_BK);      /* (Dv, TL_BK) value tile, transposed */
        REAL *P = FN(scratch)(TL_BQ * TL_BK);    /* (TL_BQ, TL_BK) recomputed A */
        REAL *dP = FN(scratch)(TL_BQ * TL_BK);   /* (TL_BQ, TL_BK) dP, then dS */
        REAL *delta = FN(scratch)(Tq);           /* (Tq,) Delta_i = dout_i . out_i */
#pragma omp for schedule(dynamic)
        for (bh = 0; bh < B * H; bh++) {
            const int64_t b = bh / H;
            const REAL *qh = q + bh * Tq * D, *kh = k + bh * Tk * D, *vh = v + bh * Tk * Dv;
            const REAL *oh = out + bh * Tq * Dv, *doh = dout + bh * Tq * Dv, *lh = lse + bh * Tq;
            REAL *dqh = dq + bh * Tq * D, *dkh = dk + bh * Tk * D, *dvh = dv + bh * Tk * Dv;
            const uint8_t *keep = key_mask ? key_mask + b * Tk : NULL;
            for (int64_t i = 0; i < Tq; i++) {
                REAL acc = 0;
#pragma omp simd reduction(+ : acc)
                for (int64_t d = 0; d < Dv; d++)
                    acc += doh[i * Dv + d] * oh[i * Dv + d];
                delta[i] = acc;
            }
            memset(dqh, 0, (size_t)(Tq * D) * sizeof(REAL));
            memset(dkh, 0, (size_t)(Tk * D) * sizeof(REAL));
            memset(dvh, 0, (size_t)(Tk * Dv) * sizeof(REAL));
            for (int64_t j0 = 0; j0 < Tk; j0 += TL_BK) {
                const int64_t nk = Tk - j0 < TL_BK ? Tk - j0 : TL_BK;
                FN(transpose_tile)(kh + j0 * D, D, nk, D, kt);
                FN(transpose_tile)(vh + j0 * Dv, Dv, nk, Dv, vt);
                /* causal: rows before j0 - off see none of these keys */
                int64_t istart = causal ? j0 - off : 0;
                istart = istart < 0 ? 0 : (istart / TL_BQ) * TL_BQ;
                for (int64_t i0 = istart; i0 < Tq; i0 += TL_BQ) {
                    const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
                    FN(tile_scores)(qh + i0 * D, D, nq, kt, D, scale, P);
                    FN(tile_mask)(P, nq, i0, j0, nk, keep, causal, off);
                    FN(tile_scores)(doh + i0 * Dv, Dv, nq, vt, Dv, 1, dP);   /* dP = dout v^T */
                    for (int64_t i = 0; i < nq; i++) {
                        REAL *p = P + i * TL_BK, *ds = dP + i * TL_BK;
                        const REAL li = lh[i0 + i], di = delta[i0 + i];
                        if (li == -INFINITY) {   /* fully masked row: A = 0 */
                            for (int j = 0; j < TL_BK; j++)
                                p[j] = ds[j] = 0;
                            continue;
                        }
#pragma omp simd
                        for (int j = 0; j < TL_BK; j++) {
                            p[j] = EXP(p[j] - li);             /* A_ij recomputed */
                            ds[j] = scale * p[j] * (ds[j] - di);   /* scale * dS_ij */
                        }
                    }
                    for (int64_t i = 0; i < nq; i++) {
                        const REAL *p = P + i * TL_BK, *ds = dP + i * TL_BK;
                        const REAL *qi = qh + (i0 + i) * D, *doi = doh + (i0 + i) * Dv;
                        REAL *dqi = dqh + (i0 + i) * D;
                        for (int64_t j = 0; j < nk; j++) {
                            if (p[j] == 0)
                                continue;
                            FN(axpy)(dvh + (j0 + j) * Dv, p[j], doi, Dv);   /* dV += A^T dout */
                            FN(axpy)(dqi, ds[j], kh + (j0 + j) * D, D);     /* dQ += dS K */
                            FN(axpy)(dkh + (j0 + j) * D, ds[j], qi, D);     /* dK += dS^T Q */
                        }
                    }
                }
            }
        }
        free(kt);
        free(vt);
        free(P);
        free(dP);
        free(delta);
    }
}
