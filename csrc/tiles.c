/* Tile helpers shared by matmul_softmax.c and attention.c. Type-generic: included by
 * kernels_f32.c and kernels_f64.c after REAL and FN are set; not compiled on its own.
 *
 * A key tile is TL_BK consecutive keys. Stored transposed (D x TL_BK, zero-padded past the last
 * key), it turns the scores of one query row, s_j = sum_d q_d k_jd, into TL_BK-wide vector
 * updates s[:] += q_d * kt[d][:] that the compiler vectorises without a horizontal sum. */

#ifndef TL_BQ
#define TL_BQ 32   /* query rows per block */
#define TL_BK 64   /* keys per tile */
#endif

/* kt[d][j] = src[j][d] for j < n (rows of src are ld apart), 0 for n <= j < TL_BK.   kt (D, TL_BK) */
static void FN(transpose_tile)(const REAL *src, int64_t ld, int64_t n, int64_t D, REAL *kt)
{
    for (int64_t d = 0; d < D; d++) {
        REAL *row = kt + d * TL_BK;
        for (int64_t j = 0; j < n; j++)
            row[j] = src[j * ld + d];
        for (int64_t j = n; j < TL_BK; j++)
            row[j] = 0;
    }
}

/* S[i][j] = scale * sum_d a[i][d] kt[d][j] for i < nq, j < TL_BK (E3.2's scaled scores for one tile).
 * a (nq, D) with rows lda apart, kt (D, TL_BK), S (nq, TL_BK). Two rows at a time share each kt load. */
static void FN(tile_scores)(const REAL *a, int64_t lda, int64_t nq, const REAL *kt, int64_t D,
                            REAL scale, REAL *S)
{
    int64_t i = 0;
    for (; i + 2 <= nq; i += 2) {
        const REAL *a0 = a + i * lda, *a1 = a0 + lda;
        REAL acc0[TL_BK] = {0}, acc1[TL_BK] = {0};
        for (int64_t d = 0; d < D; d++) {
            const REAL *kd = kt + d * TL_BK;
            REAL x0 = a0[d], x1 = a1[d];
#pragma omp simd
            for (int j = 0; j < TL_BK; j++) {
                acc0[j] += x0 * kd[j];
                acc1[j] += x1 * kd[j];
            }
        }
#pragma omp simd
        for (int j = 0; j < TL_BK; j++) {
            S[i * TL_BK + j] = scale * acc0[j];
            S[(i + 1) * TL_BK + j] = scale * acc1[j];
        }
    }
    for (; i < nq; i++) {
        const REAL *a0 = a + i * lda;
        REAL acc0[TL_BK] = {0};
        for (int64_t d = 0; d < D; d++) {
            const REAL *kd = kt + d * TL_BK;
            REAL x0 = a0[d];
#pragma omp simd
            for (int j = 0; j < TL_BK; j++)
                acc0[j] += x0 * kd[j];
        }
#pragma omp simd
        for (int j = 0; j < TL_BK; j++)
            S[i * TL_BK + j] = scale * acc0[j];
    }
}

/* Set S[i][j] = -inf where query i0 + i may not see key j0 + j (S3): past the nk real keys of the
 * tile, a padding key (keep[j0 + j] == 0), or, when causal, a key after i0 + i + off.   S (nq, TL_BK) */
static void FN(tile_mask)(REAL *S, int64_t nq, int64_t i0, int64_t j0, int64_t nk,
                          const uint8_t *keep, int causal, int64_t off)
{
    for (int64_t i = 0; i < nq; i++) {
        REAL *s = S + i * TL_BK;
        int64_t last = causal ? i0 + i + off - j0 : TL_BK;   /* last visible j of this row */
        if (last > nk - 1)
            last = nk - 1;
        for (int64_t j = (last + 1 > 0 ? last + 1 : 0); j < TL_BK; j++)
            s[j] = -INFINITY;
        if (keep)
            for (int64_t j = 0; j <= last; j++)
                if (!keep[j0 + j])
                    s[j] = -INFINITY;
    }
}

/* y[:] += a * x[:] over n entries. */
static inline void FN(axpy)(REAL *restrict y, REAL a, const REAL *restrict x, int64_t n)
{
#pragma omp simd
    for (int64_t d = 0; d < n; d++)
        y[d] += a * x[d];
}

/* Per-thread scratch, freed by the caller. Returns NULL when out of memory. */
static REAL *FN(scratch)(int64_t n)
{
    return (REAL *)malloc((size_t)(n > 0 ? n : 1) * sizeof(REAL));
}
