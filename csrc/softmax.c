/* Row softmax, forward and backward (S1). Type-generic: included by kernels_f32.c and
 * kernels_f64.c with REAL, FN, EXP set; not compiled on its own.
 *
 *   forward   y_i = exp(x_i - max x) / sum_j exp(x_j - max x)      (subtracting the max: no overflow)
 *   backward  dx_i = y_i * (dy_i - sum_j dy_j y_j)
 *
 * OpenMP splits the rows; each row is one pass for the max, one for exp and the sum, one to scale.
 * A row that is all -inf (fully masked) gives zeros, not NaN. */
#ifdef _OPENMP
#include <omp.h>
#endif
/* Work (multiply-adds or elements) below which a kernel runs on one thread: starting a parallel
 * region costs microseconds on an idle machine and milliseconds when the cores are busy. */
#ifndef TL_PARALLEL_MIN
#define TL_PARALLEL_MIN (1 << 20)
#endif
#ifndef TL_NOINLINE
#if defined(__GNUC__) || defined(__clang__)
#define TL_NOINLINE __attribute__((noinline))
#else
#define TL_NOINLINE
#endif
#endif

/* s[j] = exp(s[j] - m) for j < n; returns the sum. Kept out of line (noinline) so that the
 * compiler vectorises it on its own, exp included, whatever loop it is called from. */
static TL_NOINLINE REAL FN(exp_shift_sum)(REAL *restrict s, int64_t n, REAL m)
{
    REAL sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
        s[j] = EXP(s[j] - m);
        sum += s[j];
    }
    return sum;
}

/* y = softmax(x) for one row of n entries (x == y allowed): max, exp and sum, scale. */
static void FN(row_softmax)(const REAL *x, REAL *y, int64_t n)
{
    REAL m = -INFINITY, s = 0;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    if (m == -INFINITY) {   /* every entry masked (no mass, weights 0) or NaN (NaN out, as S1 gives) */
        REAL fill = 0;
        for (int64_t j = 0; j < n; j++)
            if (x[j] != x[j])
                fill = NAN;
        for (int64_t j = 0; j < n; j++)
            y[j] = fill;
        return;
    }
    if (y != x)
        memcpy(y, x, (size_t)n * sizeof(REAL));
    s = FN(exp_shift_sum)(y, n, m);
    REAL inv = 1 / s;
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        y[j] *= inv;
}

void FN(tl_softmax_forward)(const REAL *x, REAL *y, int64_t rows, int64_t n)
{
    int64_t r;
#pragma omp parallel for schedule(static) if (rows * n > TL_PARALLEL_MIN)
    for (r = 0; r < rows; r++)
        FN(row_softmax)(x + r * n, y + r * n, n);   /* rows of (n,) */
}

void FN(tl_softmax_backward)(const REAL *y, const REAL *dy, REAL *dx, int64_t rows, int64_t n)
{
    int64_t r;
#pragma omp parallel for schedule(static) if (rows * n > TL_PARALLEL_MIN)
    for (r = 0; r < rows; r++) {
        const REAL *yr = y + r * n, *dyr = dy + r * n;   /* (n,) */
        REAL *dxr = dx + r * n;                          /* (n,) */
        REAL dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < n; j++)
            dot += dyr[j] * yr[j];
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            dxr[j] = yr[j] * (dyr[j] - dot);
    }
}
