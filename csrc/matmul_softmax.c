/* Fused matmul-softmax, forward and backward (E3.2 with the masks of S3). Type-generic: included
 * by kernels_f32.c and kernels_f64.c; not compiled on its own.
 *
 *   forward   A = softmax(scale * Q K^T + M)        M = 0 where visible, -inf where masked
 *   backward  dS = A * (dA - rowsum(dA * A))        (S1)
 *             dQ = scale * dS K,   dK = scale * dS^T Q
 *
 * Forward takes TL_BQ query rows at a time: their scores go straight into their rows of A, are
 * scaled and masked there and normalised while the block is still in cache, so there is no separate
 * (Tq, Tk) scores array and no second pass over memory. OpenMP splits the (b, h) pairs; each thread
 * keeps K^T of its head. Both return 0, or -1 when scratch memory could not be allocated. */

int FN(tl_matmul_softmax_forward)(const REAL *q, const REAL *k, const uint8_t *key_mask,
                                  REAL *A, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                  int64_t D, REAL scale, int causal)
{
    const int64_t off = Tk - Tq;
    int failed = 0;
    int64_t bh;
#pragma omp parallel if (B * H * Tq * Tk * D > TL_PARALLEL_MIN)
    {
        const int64_t nkb = (Tk + TL_BK - 1) / TL_BK;
        /* K^T of one head as nkb panels of (D, TL_BK): rows 256 bytes apart, not 4 * Tk */
        REAL *kt = FN(scratch)(nkb * D * TL_BK);
        if (!kt) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic)
        for (bh = 0; bh < B * H; bh++) {
            if (!kt)
                continue;
            const REAL *qh = q + bh * Tq * D;   /* (Tq, D) */
            const uint8_t *keep = key_mask ? key_mask + (bh / H) * Tk : NULL;
            for (int64_t j0 = 0; j0 < Tk; j0 += TL_BK)
                FN(transpose)(k + (bh * Tk + j0) * D, D, Tk - j0 < TL_BK ? Tk - j0 : TL_BK, D,
                              kt + (j0 / TL_BK) * D * TL_BK, TL_BK);
            for (int64_t i0 = 0; i0 < Tq; i0 += TL_BQ) {
                const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
                REAL *Ab = A + (bh * Tq + i0) * Tk;   /* (nq, Tk) rows of A */
                memset(Ab, 0, (size_t)(nq * Tk) * sizeof(REAL));
                for (int64_t j0 = 0; j0 < Tk; j0 += TL_BK)   /* Q K^T, one key panel at a time */
                    FN(gemm)(Ab + j0, Tk, qh + i0 * D, D, 1, kt + (j0 / TL_BK) * D * TL_BK, TL_BK,
                             nq, Tk - j0 < TL_BK ? Tk - j0 : TL_BK, D);
                for (int64_t i = 0; i < nq; i++) {
                    REAL *row = Ab + i * Tk;
                    FN(scale_mask_row)(row, Tk, causal ? i0 + i + off : Tk, keep, scale);  /* S3 */
                    FN(row_softmax)(row, row, Tk);                                         /* S1 */
                }
            }
        }
        free(kt);
    }
    return failed ? -1 : 0;
}

int FN(tl_matmul_softmax_backward)(const REAL *q, const REAL *k, const REAL *A, const REAL *dA,
                                   REAL *dq, REAL *dk, int64_t B, int64_t H, int64_t Tq,
                                   int64_t Tk, int64_t D, REAL scale)
{
    int failed = 0;
    int64_t bh;
#pragma omp parallel if (B * H * Tq * Tk * D > TL_PARALLEL_MIN)
    {
        REAL *dS = FN(scratch)(TL_BQ * Tk);   /* (TL_BQ, Tk) scale * dS of one query block */
        if (!dS) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic)
        for (bh = 0; bh < B * H; bh++) {
            if (!dS)
                continue;
            const REAL *qh = q + bh * Tq * D, *kh = k + bh * Tk * D;   /* (Tq, D), (Tk, D) */
            REAL *dqh = dq + bh * Tq * D, *dkh = dk + bh * Tk * D;
            memset(dqh, 0, (size_t)(Tq * D) * sizeof(REAL));
            memset(dkh, 0, (size_t)(Tk * D) * sizeof(REAL));
            for (int64_t i0 = 0; i0 < Tq; i0 += TL_BQ) {
                const int64_t nq = Tq - i0 < TL_BQ ? Tq - i0 : TL_BQ;
                for (int64_t i = 0; i < nq; i++) {
                    const REAL *a = A + (bh * Tq + i0 + i) * Tk, *da = dA + (bh * Tq + i0 + i) * Tk;
                    REAL *ds = dS + i * Tk, dot = 0;
#pragma omp simd reduction(+ : dot)
                    for (int64_t j = 0; j < Tk; j++)
                        dot += da[j] * a[j];
#pragma omp simd
                    for (int64_t j = 0; j < Tk; j++)
                        ds[j] = scale * a[j] * (da[j] - dot);   /* scale * dS  (S1) */
                }
                FN(gemm)(dqh + i0 * D, D, dS, Tk, 1, kh, D, nq, D, Tk);      /* dQ = scale dS K */
                FN(gemm)(dkh, D, dS, 1, Tk, qh + i0 * D, D, Tk, D, nq);      /* dK += scale dS^T Q */
            }
        }
        free(dS);
    }
    return failed ? -1 : 0;
}
