/* Fused matmul-softmax, forward and backward (E3.2 with the masks of S3). Type-generic: included
 * by kernels_f32.c and kernels_f64.c; not compiled on its own.
 *
 *   forward   A = softmax(scale * Q K^T + M)        M = 0 where visible, -inf where masked
 *   backward  dS = A * (dA - rowsum(dA * A))        (S1)
 *             dQ = scale * dS K,   dK = scale * dS^T Q
 *
 * Forward works on a block of TL_BQ query rows at a time: it writes the block's scores straight
 * into its rows of A, tile by tile, and normalises each row while the block is still in cache;
 * there is no separate (Tq, Tk) scores array. OpenMP splits the (b, h, query block) tasks. */

void FN(tl_matmul_softmax_forward)(const REAL *q, const REAL *k, const uint8_t *key_mask,
                                   REAL *A, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                   int64_t D, REAL scale, int causal)
{
    const int64_t nqb = (Tq + TL_BQ - 1) / TL_BQ, off = Tk - Tq;
#pragma omp parallel
    {
        REAL *kt = FN(scratch)(D * TL_BK);      /* (D, TL_BK) one key tile, transposed */
        REAL *S = FN(scratch)(TL_BQ * TL_BK);   /* (TL_BQ, TL_BK) scores of one tile */
        int64_t task;
#pragma omp for schedule(dynamic)
        for (task = 0; task < B * H * nqb; task++) {
            const int64_t bh = task / nqb, i0 = (task % nqb) * TL_BQ, b = bh / H;
            const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
            const REAL *qb = q + (bh * Tq + i0) * D;   /* (nq, D) */
            const REAL *kh = k + bh * Tk * D;          /* (Tk, D) */
            REAL *Ab = A + (bh * Tq + i0) * Tk;        /* (nq, Tk) rows of A */
            const uint8_t *keep = key_mask ? key_mask + b * Tk : NULL;
            for (int64_t j0 = 0; j0 < Tk; j0 += TL_BK) {
                const int64_t nk = Tk - j0 < TL_BK ? Tk - j0 : TL_BK;
                FN(transpose_tile)(kh + j0 * D, D, nk, D, kt);
                FN(tile_scores)(qb, D, nq, kt, D, scale, S);
                FN(tile_mask)(S, nq, i0, j0, nk, keep, causal, off);
                for (int64_t i = 0; i < nq; i++)
                    memcpy(Ab + i * Tk + j0, S + i * TL_BK, (size_t)nk * sizeof(REAL));
            }
            for (int64_t i = 0; i < nq; i++)
                FN(row_softmax)(Ab + i * Tk, Ab + i * Tk, Tk);   /* S1, in place */
        }
        free(kt);
        free(S);
    }
}

void FN(tl_matmul_softmax_backward)(const REAL *q, const REAL *k, const REAL *A,
                                    const REAL *dA, REAL *dq, REAL *dk, int64_t B, int64_t H,
                                    int64_t Tq, int64_t Tk, int64_t D, REAL scale)
{
    int64_t bh;
#pragma omp parallel
    {
        REAL *dS = FN(scratch)(Tk);   /* (Tk,) one row of dS */
#pragma omp for schedule(static)
        for (bh = 0; bh < B * H; bh++) {
            const REAL *qh = q + bh * Tq * D, *kh = k + bh * Tk * D;   /* (Tq, D), (Tk, D) */
            REAL *dqh = dq + bh * Tq * D, *dkh = dk + bh * Tk * D;
            memset(dkh, 0, (size_t)(Tk * D) * sizeof(REAL));
            for (int64_t i = 0; i < Tq; i++) {
                const REAL *a = A + (bh * Tq + i) * Tk, *da = dA + (bh * Tq + i) * Tk;
                REAL dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int64_t j = 0; j < Tk; j++)
                    dot += da[j] * a[j];
#pragma omp simd
                for (int64_t j = 0; j < Tk; j++)
                    dS[j] = scale * a[j] * (da[j] - dot);
                REAL *dqi = dqh + i * D;
                memset(dqi, 0, (size_t)D * sizeof(REAL));
                for (int64_t j = 0; j < Tk; j++) {
                    if (dS[j] == 0)   /* masked keys (A = 0) add nothing */
                        continue;
                    FN(axpy)(dqi, dS[j], kh + j * D, D);
                    FN(axpy)(dkh + j * D, dS[j], qh + i * D, D);
                }
            }
        }
        free(dS);
    }
}
