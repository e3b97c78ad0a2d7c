# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin Cython bindings of the C99 kernels in csrc/ (see csrc/tinyllm_kernels.h).

Each function takes C-contiguous typed memoryviews of float32 or float64 (one fused type, so both
dtypes share one signature), writes into the output views it is given and releases the GIL while
the C code runs. Checking shapes, dtypes and contiguity is the caller's job:
tinyllm.kernels.cython_backend does it and makes contiguous copies of strided inputs.
"""

from libc.stdint cimport int64_t, uint8_t

ctypedef fused real:
    float
    double


cdef extern from "tinyllm_kernels.h" nogil:
    void tl_softmax_forward_f32(const float *x, float *y, int64_t rows, int64_t n)
    void tl_softmax_forward_f64(const double *x, double *y, int64_t rows, int64_t n)
    void tl_softmax_backward_f32(const float *y, const float *dy, float *dx, int64_t rows, int64_t n)
    void tl_softmax_backward_f64(const double *y, const double *dy, double *dx, int64_t rows, int64_t n)
    int tl_has_openmp()
    int tl_max_threads()


def has_openmp():
    """True when the C kernels were compiled with OpenMP."""
    return bool(tl_has_openmp())


def max_threads():
    """The number of OpenMP threads the C kernels use (1 without OpenMP)."""
    return tl_max_threads()


def softmax_forward(const real[:, ::1] x, real[:, ::1] y):
    """y = softmax(x) row by row (S1); x, y (rows, n)."""
    cdef int64_t rows = x.shape[0], n = x.shape[1]
    if rows == 0 or n == 0:
        return
    with nogil:
        if real is float:
            tl_softmax_forward_f32(&x[0, 0], &y[0, 0], rows, n)
        else:
            tl_softmax_forward_f64(&x[0, 0], &y[0, 0], rows, n)


def softmax_backward(const real[:, ::1] y, const real[:, ::1] dy, real[:, ::1] dx):
    """dx = y * (dy - sum(dy * y)) row by row (S1); all (rows, n)."""
    cdef int64_t rows = y.shape[0], n = y.shape[1]
    if rows == 0 or n == 0:
        return
    with nogil:
        if real is float:
            tl_softmax_backward_f32(&y[0, 0], &dy[0, 0], &dx[0, 0], rows, n)
        else:
            tl_softmax_backward_f64(&y[0, 0], &dy[0, 0], &dx[0, 0], rows, n)
