/* The float32 kernels: the type-generic bodies compiled with REAL = float.
 * EXP is a branch-free exp that the compiler can vectorise (libm's expf is a call per element). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyllm_kernels.h"

/* exp(x) = 2^n * exp(r) with n = round(x / ln 2) and |r| <= ln(2) / 2; exp(r) by the Cephes
 * degree-7 polynomial (about 1 ulp on that interval). exp(-inf) = 0, and exp(x) = 0 for
 * x < -87.3 (no subnormals), which is what a softmax needs. */
static inline float tl_expf(float x)
{
    const float lo = -87.33654f, hi = 88.0f;
    float xc = x < lo ? lo : x;   /* clamp without fminf/fmaxf, for the same reason */
    xc = xc > hi ? hi : xc;
    /* n = round(x / ln 2): adding and subtracting 1.5 * 2^23 rounds to an integer (no libm call,
     * which would stop the loop from being vectorised) */
    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;                            /* ln 2 in two parts */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;                /* 2^n as a float */
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return x < lo ? 0.0f : (x != x ? x : p * two_n);
}

#define REAL float
#define FN(name) name##_f32
#define EXP(x) tl_expf(x)
#define LOG(x) logf(x)
#define ERF(x) erff(x)
#define SQRT(x) sqrtf(x)

#include "softmax.c"
#include "tiles.c"
#include "matmul_softmax.c"
#include "attention.c"
#include "fused.c"

int tl_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int tl_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
