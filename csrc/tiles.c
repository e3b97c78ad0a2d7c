/* Tile helpers shared by matmul_softmax.c and attention.c: a small matrix product, a transpose, the
 * masks of S3 and a vectorised exp. Type-generic: included by kernels_f32.c and kernels_f64.c after REAL and FN are
 * set; not compiled on its own.
 *
 * Every matrix product in the kernels (scores Q K^T, the output A V and the five products of the
 * backward pass) is one call of FN(gemm), C += A B (or A^T B) on tiles that live in L1/L2.
 * Its inner block keeps a 4 x (4 vectors) piece of C in registers while it streams a row of B, using
 * the compiler's vector extension (GCC and Clang): 64-byte vectors, which the compiler maps to
 * AVX-512, two AVX2 registers, or four NEON/SSE ones. Other compilers get plain loops. */

#ifndef TL_BQ
#define TL_BQ 64   /* query rows per block */
#define TL_BK 64   /* keys per tile */
#endif

#ifndef TL_VBYTES
#if defined(__AVX512F__) || !defined(__x86_64__)
#define TL_VBYTES 64   /* one AVX-512 register (or four NEON/SSE ones) */
#else
#define TL_VBYTES 32   /* x86-64 without AVX-512: one AVX2 register. 64-byte vectors there are split by the
                          compiler, the 6 x 4 accumulators no longer fit in 16 registers and the kernels
                          ran 20-40 times slower (measured on an AVX2 Zen 3) */
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
typedef REAL FN(vec) __attribute__((vector_size(TL_VBYTES)));
#define VL ((int)(sizeof(FN(vec)) / sizeof(REAL)))   /* lanes: 16 floats or 8 doubles */

static inline FN(vec) FN(vload)(const REAL *p)
{
    FN(vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void FN(vstore)(REAL *p, FN(vec) v)
{
    memcpy(p, &v, sizeof v);
}

/* C[0:mr, 0:nv*VL] += A[0:mr, 0:K] B[0:K, 0:nv*VL] with mr <= 6 and nv <= 4 known at compile time
 * (always inlined with constants), so the mr*nv accumulators stay in registers. A[r][p] is
 * A[r * ars + p * acs]: (ars, acs) = (lda, 1) for A itself, (1, lda) for its transpose. */
static inline __attribute__((always_inline)) void FN(micro)(REAL *C, int64_t ldc, const REAL *A,
                                                            int64_t ars, int64_t acs,
                                                            const REAL *B, int64_t ldb, int64_t K,
                                                            int mr, int nv)
{
    FN(vec) c[6][4], b[4];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            c[r][v] = FN(vload)(C + r * ldc + v * VL);
    for (int64_t p = 0; p < K; p++) {
        for (int v = 0; v < nv; v++)
            b[v] = FN(vload)(B + p * ldb + v * VL);
        for (int r = 0; r < mr; r++) {
            const REAL a = A[r * ars + p * acs];
            for (int v = 0; v < nv; v++)
                c[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            FN(vstore)(C + r * ldc + v * VL, c[r][v]);
}

/* All rows of M for the column block [j, j + nv*VL). */
static inline __attribute__((always_inline)) void FN(micro_rows)(REAL *C, int64_t ldc,
                                                                 const REAL *A, int64_t ars,
                                                                 int64_t acs, const REAL *B,
                                                                 int64_t ldb, int64_t M,
                                                                 int64_t K, int nv)
{
    int64_t i = 0;
    for (; i + 6 <= M; i += 6)
        FN(micro)(C + i * ldc, ldc, A + i * ars, ars, acs, B, ldb, K, 6, nv);
    for (; i + 4 <= M; i += 4)
        FN(micro)(C + i * ldc, ldc, A + i * ars, ars, acs, B, ldb, K, 4, nv);
    for (; i < M; i++)
        FN(micro)(C + i * ldc, ldc, A + i * ars, ars, acs, B, ldb, K, 1, nv);
}
#endif

/* C += A B.   C (M, N) rows ldc apart; A (M, K) with A[i][p] = A[i * ars + p * acs], so a stored
 * matrix or its transpose; B (K, N) rows ldb apart. */
static void FN(gemm)(REAL *C, int64_t ldc, const REAL *A, int64_t ars, int64_t acs, const REAL *B,
                     int64_t ldb, int64_t M, int64_t N, int64_t K)
{
    int64_t j = 0;
#if defined(__GNUC__) || defined(__clang__)
#if TL_VBYTES == 64   /* 6 x 4 accumulators: 24 of AVX-512's 32 registers */
    for (; j + 4 * VL <= N; j += 4 * VL)
        FN(micro_rows)(C + j, ldc, A, ars, acs, B + j, ldb, M, K, 4);
#endif
    for (; j + 2 * VL <= N; j += 2 * VL)   /* 6 x 2: 12 of AVX2's 16 registers */
        FN(micro_rows)(C + j, ldc, A, ars, acs, B + j, ldb, M, K, 2);
    if (j + VL <= N) {
        FN(micro_rows)(C + j, ldc, A, ars, acs, B + j, ldb, M, K, 1);
        j += VL;
    }
#endif
    if (j == N)
        return;
    for (int64_t i = 0; i < M; i++) {   /* the last N - j columns */
        REAL *c = C + i * ldc;
        for (int64_t p = 0; p < K; p++) {
            const REAL a = A[i * ars + p * acs];
            const REAL *b = B + p * ldb;
            for (int64_t jj = j; jj < N; jj++)
                c[jj] += a * b[jj];
        }
    }
}

/* dst[c][r] = src[r][c] for r < rows, c < cols; src rows lds apart, dst rows ldd apart. Columns of
 * dst from rows to ldd are zeroed, so a short tile is padded with zeros. */
static void FN(transpose)(const REAL *src, int64_t lds, int64_t rows, int64_t cols, REAL *dst,
                          int64_t ldd)
{
    for (int64_t c = 0; c < cols; c++) {
        REAL *d = dst + c * ldd;
        for (int64_t r = 0; r < rows; r++)
            d[r] = src[r * lds + c];
        for (int64_t r = rows; r < ldd; r++)
            d[r] = 0;
    }
}

/* The masks of S3 on a transposed score tile: ST[j][i] = -inf where query i0 + i may not see key
 * j0 + j: a padding key (keep[j0 + j] == 0) or, when causal, a key after i0 + i + off.
 * ST (nk, ldst), columns i < nq. */
static void FN(mask_tile_t)(REAL *ST, int64_t ldst, int64_t nk, int64_t nq, int64_t i0, int64_t j0,
                            const uint8_t *keep, int causal, int64_t off)
{
    for (int64_t j = 0; j < nk; j++) {
        REAL *s = ST + j * ldst;
        /* hidden for i < first: a padding key hides the whole row, causality a prefix */
        int64_t first = keep && !keep[j0 + j] ? nq : (causal ? j0 + j - off - i0 : 0);
        first = first < 0 ? 0 : (first > nq ? nq : first);
        for (int64_t i = 0; i < first; i++)
            s[i] = -INFINITY;
    }
}

/* The masks of S3 on one row of scores: s[j] = scale * s[j] for visible keys j <= last with
 * keep[j] != 0, -inf for the others.   s (n,) */
static void FN(scale_mask_row)(REAL *s, int64_t n, int64_t last, const uint8_t *keep, REAL scale)
{
    const int64_t first_hidden = last + 1 < 0 ? 0 : (last + 1 > n ? n : last + 1);
#pragma omp simd
    for (int64_t j = 0; j < first_hidden; j++)
        s[j] *= scale;
    for (int64_t j = first_hidden; j < n; j++)
        s[j] = -INFINITY;
    if (keep)
        for (int64_t j = 0; j < first_hidden; j++)
            if (!keep[j])
                s[j] = -INFINITY;
}

/* P[j][i] = exp(P[j][i] - shift[i]) over rows j < rows and columns i < n (ld apart), and
 * colsum[i] += sum_j P[j][i]. Out of line so the compiler vectorises the exp over i. */
static TL_NOINLINE void FN(exp_cols)(REAL *restrict P, int64_t ld, int64_t rows, int64_t n,
                                     const REAL *restrict shift, REAL *restrict colsum)
{
    for (int64_t j = 0; j < rows; j++) {
        REAL *p = P + j * ld;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            p[i] = EXP(p[i] - shift[i]);
            colsum[i] += p[i];
        }
    }
}

/* x[i] = exp(x[i]) for i < n, vectorised. */
static TL_NOINLINE void FN(exp_vec)(REAL *restrict x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        x[i] = EXP(x[i]);
}

/* Per-thread scratch, freed by the caller; zero-filled, so the tile padding starts at 0. */
static REAL *FN(scratch)(int64_t n)
{
    return (REAL *)calloc((size_t)(n > 0 ? n : 1), sizeof(REAL));
}
