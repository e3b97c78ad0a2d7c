/* The element-wise work of a training step, fused: LayerNorm (S4), GELU (S5), cross-entropy with
 * log-softmax (S1, S2), AdamW (S9), bias add and bias gradient, and the embedding's backward (S8). Type-generic: included by
 * kernels_f32.c and kernels_f64.c with REAL, FN, EXP, LOG, SQRT, TANH, ERF set; not compiled alone.
 *
 * Each kernel is the NumPy reference of tinyllm/ops (or tinyllm/train/optim.py) in one pass over
 * memory per row instead of one pass per NumPy expression, and it keeps less for the backward:
 *   - LayerNorm caches the row mean and 1/sigma (rows,) instead of x_hat (rows, C);
 *   - GELU caches nothing but its input and recomputes tanh (or erf) in the backward;
 *   - cross-entropy keeps the row log-sum-exp (rows,) and writes its backward over the logits.
 * Row sums are accumulated in double for both dtypes (the cross-entropy's sum of exponentials in
 * REAL, in vector lanes, so that its exp vectorises). OpenMP splits rows; the column sums of a
 * backward (dgamma, dbeta, db) are accumulated per thread and added in thread order.
 * Functions returning int give 0, or -1 when scratch memory could not be allocated. */

/* The threads a kernel of `work` element-operations uses: 1 below TL_PARALLEL_MIN. */
static int FN(threads_for)(int64_t work)
{
#ifdef _OPENMP
    return work > TL_PARALLEL_MIN ? omp_get_max_threads() : 1;
#else
    (void)work;
    return 1;
#endif
}

static int FN(thread_id)(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int FN(team_size)(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* ------------------------------------------------------------------ LayerNorm (S4) */

/* pass 1: mean; pass 2: var = mean((x - mean)^2), rstd = 1/sqrt(var + eps); pass 3: y = gamma *
 * (x - mean) * rstd + beta. x, y (rows, C); gamma, beta (C,); mean, rstd (rows,) written. */
void FN(tl_layernorm_forward)(const REAL *x, const REAL *gamma, const REAL *beta, REAL *y,
                              REAL *mean, REAL *rstd, int64_t rows, int64_t C, double eps)
{
    int64_t r;
#pragma omp parallel for schedule(static) num_threads(FN(threads_for)(rows * C))
    for (r = 0; r < rows; r++) {
        const REAL *xr = x + r * C;   /* (C,) */
        REAL *yr = y + r * C;         /* (C,) */
        double s = 0, ss = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < C; c++)
            s += xr[c];
        const REAL mu = (REAL)(s / (double)C);
#pragma omp simd reduction(+ : ss)
        for (int64_t c = 0; c < C; c++) {
            const double d = (double)(xr[c] - mu);
            ss += d * d;
        }
        const REAL rs = (REAL)(1.0 / sqrt(ss / (double)C + eps));
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
        mean[r] = mu;
        rstd[r] = rs;
    }
}

/* In the forward pass this was y = gamma * x_hat + beta with x_hat = (x - mean) * rstd, so with
 * g = dy * gamma:  dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)),  dgamma = sum_rows dy *
 * x_hat,  dbeta = sum_rows dy. dx may be the same buffer as dy. */
int FN(tl_layernorm_backward)(const REAL *dy, const REAL *x, const REAL *mean, const REAL *rstd,
                              const REAL *gamma, REAL *dx, REAL *dgamma, REAL *dbeta,
                              int64_t rows, int64_t C)
{
    const int nt = FN(threads_for)(rows * C);
    double *part = calloc((size_t)(nt * 2 * C), sizeof(double));   /* per thread: dgamma, dbeta */
    if (!part)
        return -1;
#pragma omp parallel num_threads(nt)
    {
        double *dg = part + (int64_t)FN(thread_id)() * 2 * C, *db = dg + C;   /* (C,), (C,) */
        int64_t r;
#pragma omp for schedule(static)
        for (r = 0; r < rows; r++) {
            const REAL *dyr = dy + r * C, *xr = x + r * C;   /* (C,) */
            REAL *dxr = dx + r * C;                          /* (C,) */
            const REAL mu = mean[r], rs = rstd[r];
            double a = 0, b = 0;   /* sum(g), sum(g * x_hat) */
#pragma omp simd reduction(+ : a, b)
            for (int64_t c = 0; c < C; c++) {
                const REAL xh = (xr[c] - mu) * rs, g = dyr[c] * gamma[c];
                a += g;
                b += g * xh;
                dg[c] += (double)(dyr[c] * xh);
                db[c] += dyr[c];
            }
            const REAL am = (REAL)(a / (double)C), bm = (REAL)(b / (double)C);
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                const REAL xh = (xr[c] - mu) * rs;
                dxr[c] = rs * (dyr[c] * gamma[c] - am - xh * bm);
            }
        }
    }
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int t = 0; t < nt; t++) {
            sg += part[t * 2 * C + c];
            sb += part[t * 2 * C + C + c];
        }
        dgamma[c] = (REAL)sg;
        dbeta[c] = (REAL)sb;
    }
    free(part);
    return 0;
}

/* ------------------------------------------------------------------ GELU (S5) */

#define TL_SQRT_2_OVER_PI 0.79788456080286535588
#define TL_GELU_A 0.044715
#define TL_INV_SQRT_2 0.70710678118654752440
#define TL_INV_SQRT_2PI 0.39894228040143267794

/* tanh form: 0.5 (1 + tanh(u)) = sigmoid(2u), so y = x / (1 + exp(-2u)) with u = sqrt(2/pi)
 * (x + 0.044715 x^3): one vectorised exp, and no cancellation in 1 + tanh(u) when x << 0.
 * exact form (approximate=0): y = 0.5 x (1 + erf(x / sqrt 2)). x, y (n,); y may be x. */
#define TL_CHUNK 4096   /* elements per OpenMP work item of the element-wise kernels */

/* The tanh form on one chunk; out of line (noinline) so that GCC vectorises it, exp included
 * (see exp_shift_sum in softmax.c). */
static TL_NOINLINE void FN(gelu_tanh_chunk)(const REAL *x, REAL *y, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL xi = x[i];
        const REAL u = (REAL)TL_SQRT_2_OVER_PI * (xi + (REAL)TL_GELU_A * xi * xi * xi);
        y[i] = xi / (1 + EXP(-2 * u));
    }
}

void FN(tl_gelu_forward)(const REAL *x, REAL *y, int64_t n, int approximate)
{
    int64_t c0;
#pragma omp parallel for schedule(static) num_threads(FN(threads_for)(8 * n))
    for (c0 = 0; c0 < n; c0 += TL_CHUNK) {
        const int64_t m = n - c0 < TL_CHUNK ? n - c0 : TL_CHUNK;
        if (approximate) {
            FN(gelu_tanh_chunk)(x + c0, y + c0, m);
        } else {
            for (int64_t i = c0; i < c0 + m; i++)
                y[i] = (REAL)0.5 * x[i] * (1 + ERF(x[i] * (REAL)TL_INV_SQRT_2));
        }
    }
}

/* In the forward pass this was y = x s with s = sigmoid(2u), so dy/dx = s + x * 2 s (1 - s) du/dx
 * (which equals 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx of the reference, t = tanh u), and du/dx =
 * sqrt(2/pi) (1 + 3 * 0.044715 x^2). Exact: dy/dx = Phi(x) + x phi(x). dx may be dy. */
static TL_NOINLINE void FN(gelu_tanh_backward_chunk)(const REAL *x, const REAL *dy, REAL *dx,
                                                     int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL xi = x[i], x2 = xi * xi;
        const REAL u = (REAL)TL_SQRT_2_OVER_PI * (xi + (REAL)TL_GELU_A * x2 * xi);
        const REAL du = (REAL)TL_SQRT_2_OVER_PI * (1 + (REAL)(3 * TL_GELU_A) * x2);
        const REAL s = 1 / (1 + EXP(-2 * u));
        dx[i] = dy[i] * (s + xi * 2 * s * (1 - s) * du);
    }
}

void FN(tl_gelu_backward)(const REAL *x, const REAL *dy, REAL *dx, int64_t n, int approximate)
{
    int64_t c0;
#pragma omp parallel for schedule(static) num_threads(FN(threads_for)(8 * n))
    for (c0 = 0; c0 < n; c0 += TL_CHUNK) {
        const int64_t m = n - c0 < TL_CHUNK ? n - c0 : TL_CHUNK;
        if (approximate) {
            FN(gelu_tanh_backward_chunk)(x + c0, dy + c0, dx + c0, m);
        } else {
            for (int64_t i = c0; i < c0 + m; i++) {
                const REAL xi = x[i];
                const REAL cdf = (REAL)0.5 * (1 + ERF(xi * (REAL)TL_INV_SQRT_2));
                const REAL pdf = EXP((REAL)-0.5 * xi * xi) * (REAL)TL_INV_SQRT_2PI;
                dx[i] = dy[i] * (cdf + xi * pdf);
            }
        }
    }
}

/* ------------------------------------------------------------------ cross-entropy (S1, S2) */

/* sum_j exp(z_j - m) over one row, vectorised (noinline, as above). */
static TL_NOINLINE REAL FN(exp_sum)(const REAL *z, int64_t n, REAL m)
{
    REAL s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; j++)
        s += EXP(z[j] - m);
    return s;
}

/* d_j = exp(z_j - l) * sc over one row, vectorised; d may be z. */
static TL_NOINLINE void FN(exp_shift_scale)(const REAL *z, REAL *d, int64_t n, REAL l, REAL sc)
{
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        d[j] = EXP(z[j] - l) * sc;
}

/* One pass per kept row of z (rows, V): m = max z, lse = m + log sum exp(z - m), and the row's
 * negative log-likelihood lse - z[y]. Rows with y == ignore_index are skipped (lse = 0).
 * Returns the sum of the NLLs in double; lse (rows,) written. Targets were checked by the caller. */
double FN(tl_cross_entropy_forward)(const REAL *z, const int64_t *y, REAL *lse, int64_t rows,
                                    int64_t V, int64_t ignore_index)
{
    double total = 0;
    int64_t r;
#pragma omp parallel for schedule(static) reduction(+ : total) \
    num_threads(FN(threads_for)(rows * V))
    for (r = 0; r < rows; r++) {
        if (y[r] == ignore_index) {
            lse[r] = 0;
            continue;
        }
        const REAL *zr = z + r * V;   /* (V,) */
        REAL m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int64_t j = 0; j < V; j++)
            m = zr[j] > m ? zr[j] : m;
        const double l = (double)m + log((double)FN(exp_sum)(zr, V, m));
        lse[r] = (REAL)l;
        total += l - (double)zr[y[r]];
    }
    return total;
}

/* In the forward pass this was nll = lse - z[y], so d nll / dz_j = softmax(z)_j - [j == y] =
 * exp(z_j - lse) - [j == y], times `scale` (dloss / kept rows); ignored rows get 0. The result is
 * written to dz (rows, V), which may be z itself: the backward then costs no memory at all. */
void FN(tl_cross_entropy_backward)(const REAL *z, const int64_t *y, const REAL *lse, REAL *dz,
                                   int64_t rows, int64_t V, int64_t ignore_index, double scale)
{
    const REAL sc = (REAL)scale;
    int64_t r;
#pragma omp parallel for schedule(static) num_threads(FN(threads_for)(rows * V))
    for (r = 0; r < rows; r++) {
        REAL *dzr = dz + r * V;   /* (V,) */
        if (y[r] == ignore_index) {
            memset(dzr, 0, (size_t)V * sizeof(REAL));
            continue;
        }
        FN(exp_shift_scale)(z + r * V, dzr, V, lse[r], sc);
        dzr[y[r]] -= sc;
    }
}

/* ------------------------------------------------------------------ AdamW (S9) */

/* One update of n entries, the arithmetic of tinyllm.train.optim.adam_rule:
 *   decoupled=0 (Adam + L2): g <- g + wd p
 *   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
 *   decoupled=1 (AdamW):     p <- p (1 - lr wd)
 *   p <- p - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - b_i^t
 * p, m, v updated in place; g read. */
void FN(tl_adamw_step)(REAL *p, const REAL *g, REAL *m, REAL *v, int64_t n, double lr,
                       double beta1, double beta2, double eps, double weight_decay,
                       double bc1, double bc2, int decoupled)
{
    const REAL b1 = (REAL)beta1, b2 = (REAL)beta2, c1 = (REAL)(1.0 - beta1),
               c2 = (REAL)(1.0 - beta2), e = (REAL)eps, step = (REAL)(lr / bc1),
               isb2 = (REAL)(1.0 / sqrt(bc2)), keep = (REAL)(1.0 - lr * weight_decay),
               l2 = (REAL)(decoupled ? 0.0 : weight_decay);
    const int shrink = decoupled && weight_decay != 0.0;
    int64_t i;
#pragma omp parallel for simd schedule(static) num_threads(FN(threads_for)(4 * n))
    for (i = 0; i < n; i++) {
        const REAL gi = g[i] + l2 * p[i];
        const REAL mi = b1 * m[i] + c1 * gi;
        const REAL vi = b2 * v[i] + c2 * (gi * gi);
        REAL pi = shrink ? p[i] * keep : p[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * (mi / (SQRT(vi) * isb2 + e));
    }
}

/* ------------------------------------------------------------------ bias add and bias gradient */

/* y (rows, C) += b (C,), in place (the "+ b" of every linear layer). */
void FN(tl_bias_add)(REAL *y, const REAL *b, int64_t rows, int64_t C)
{
    int64_t r;
#pragma omp parallel for schedule(static) num_threads(FN(threads_for)(rows * C))
    for (r = 0; r < rows; r++) {
        REAL *yr = y + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            yr[c] += b[c];
    }
}

/* db (C,) = sum over rows of dy (rows, C): the bias gradient, per-thread partial sums in double. */
int FN(tl_bias_grad)(const REAL *dy, REAL *db, int64_t rows, int64_t C)
{
    const int nt = FN(threads_for)(rows * C);
    double *part = calloc((size_t)(nt * C), sizeof(double));   /* (nt, C) */
    if (!part)
        return -1;
#pragma omp parallel num_threads(nt)
    {
        double *acc = part + (int64_t)FN(thread_id)() * C;
        int64_t r;
#pragma omp for schedule(static)
        for (r = 0; r < rows; r++) {
            const REAL *dyr = dy + r * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++)
                acc[c] += dyr[c];
        }
    }
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int t = 0; t < nt; t++)
            s += part[t * C + c];
        db[c] = (REAL)s;
    }
    free(part);
    return 0;
}

/* ------------------------------------------------------------------ embedding backward (S8) */

/* dW (V, C) = 0, then dW[ids[i]] += dy[i] for i = 0, 1, ..., n - 1: the gradient of a lookup, each
 * row collecting the rows of dy (n, C) of every position that used it, in position order (the
 * order of np.add.at in the reference, so the sums are the same). ids were checked (0 <= id < V)
 * by the caller. Threads own ranges of rows of dW: each scans all ids and adds only its own. */
void FN(tl_embedding_backward)(const int64_t *ids, const REAL *dy, REAL *dW, int64_t n, int64_t V,
                               int64_t C)
{
#pragma omp parallel num_threads(FN(threads_for)(n * C + V * C))
    {
        const int64_t t = FN(thread_id)(), nt = FN(team_size)();
        const int64_t v0 = V * t / nt, v1 = V * (t + 1) / nt;   /* this thread's rows of dW */
        memset(dW + v0 * C, 0, (size_t)((v1 - v0) * C) * sizeof(REAL));
        for (int64_t i = 0; i < n; i++) {
            const int64_t v = ids[i];
            if (v < v0 || v >= v1)
                continue;
            REAL *d = dW + v * C;           /* (C,) */
            const REAL *g = dy + i * C;     /* (C,) */
#pragma omp simd
            for (int64_t c = 0; c < C; c++)
                d[c] += g[c];
        }
    }
}
