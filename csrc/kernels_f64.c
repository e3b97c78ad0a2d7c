/* The float64 kernels: the type-generic bodies compiled with REAL = double (libm's exp, which
 * keeps float64 results within a few ulp of NumPy's for gradient checks). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyllm_kernels.h"

#define REAL double
#define FN(name) name##_f64
#define EXP(x) exp(x)
#define LOG(x) log(x)
#define ERF(x) erf(x)
#define SQRT(x) sqrt(x)

#include "softmax.c"
#include "tiles.c"
#include "matmul_softmax.c"
#include "attention.c"
#include "fused.c"
