# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin Cython bindings of the C99 kernels in csrc/ (see csrc/tinyllm_kernels.h).

Each function takes C-contiguous typed memoryviews of float32 or float64 (one fused type, so both
dtypes share one signature), writes into the output views it is given and releases the GIL while
the C code runs. Checking shapes, dtypes and contiguity is the caller's job:
tinyllm.kernels.cython_backend does it and makes contiguous copies of strided inputs. The two
``attention_*_strided`` functions take strided (B, H, T, D) views instead (last axis contiguous).
"""

from libc.stdint cimport int64_t, uint8_t

ctypedef fused real:
    float
    double


cdef extern from "tinyllm_kernels.h" nogil:
    ctypedef struct tl_strides:
        int64_t b
        int64_t h
        int64_t t
    void tl_softmax_forward_f32(const float *x, float *y, int64_t rows, int64_t n)
    void tl_softmax_forward_f64(const double *x, double *y, int64_t rows, int64_t n)
    void tl_softmax_backward_f32(const float *y, const float *dy, float *dx, int64_t rows, int64_t n)
    void tl_softmax_backward_f64(const double *y, const double *dy, double *dx, int64_t rows, int64_t n)
    int tl_matmul_softmax_forward_f32(const float *q, const float *k, const uint8_t *key_mask,
                                       float *A, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                       int64_t D, float scale, int causal)
    int tl_matmul_softmax_forward_f64(const double *q, const double *k, const uint8_t *key_mask,
                                       double *A, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                       int64_t D, double scale, int causal)
    int tl_matmul_softmax_backward_f32(const float *q, const float *k, const float *A,
                                        const float *dA, float *dq, float *dk, int64_t B,
                                        int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale)
    int tl_matmul_softmax_backward_f64(const double *q, const double *k, const double *A,
                                        const double *dA, double *dq, double *dk, int64_t B,
                                        int64_t H, int64_t Tq, int64_t Tk, int64_t D, double scale)
    int tl_attention_forward_f32(const float *q, const float *k, const float *v,
                                  const uint8_t *key_mask, float *out, float *lse, int64_t B,
                                  int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                                  float scale, int causal)
    int tl_attention_forward_f64(const double *q, const double *k, const double *v,
                                  const uint8_t *key_mask, double *out, double *lse, int64_t B,
                                  int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                                  double scale, int causal)
    int tl_attention_backward_f32(const float *q, const float *k, const float *v,
                                   const uint8_t *key_mask, const float *out, const float *lse,
                                   const float *dout, float *dq, float *dk, float *dv, int64_t B,
                                   int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                                   float scale, int causal)
    int tl_attention_backward_f64(const double *q, const double *k, const double *v,
                                   const uint8_t *key_mask, const double *out, const double *lse,
                                   const double *dout, double *dq, double *dk, double *dv,
                                   int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                                   int64_t Dv, double scale, int causal)
    int tl_attention_forward_strided_f32(const float *q, tl_strides qs, const float *k,
                                          tl_strides ks, const float *v, tl_strides vs,
                                          const uint8_t *key_mask, float *out, tl_strides os,
                                          float *lse, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                          int64_t D, int64_t Dv, float scale, int causal)
    int tl_attention_forward_strided_f64(const double *q, tl_strides qs, const double *k,
                                          tl_strides ks, const double *v, tl_strides vs,
                                          const uint8_t *key_mask, double *out, tl_strides os,
                                          double *lse, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                          int64_t D, int64_t Dv, double scale, int causal)
    int tl_attention_backward_strided_f32(const float *q, tl_strides qs, const float *k,
                                           tl_strides ks, const float *v, tl_strides vs,
                                           const uint8_t *key_mask, const float *out, tl_strides os,
                                           const float *lse, const float *dout, tl_strides dos,
                                           float *dq, tl_strides dqs, float *dk, tl_strides dks,
                                           float *dv, tl_strides dvs, int64_t B, int64_t H,
                                           int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                                           float scale, int causal)
    int tl_attention_backward_strided_f64(const double *q, tl_strides qs, const double *k,
                                           tl_strides ks, const double *v, tl_strides vs,
                                           const uint8_t *key_mask, const double *out,
                                           tl_strides os, const double *lse, const double *dout,
                                           tl_strides dos, double *dq, tl_strides dqs, double *dk,
                                           tl_strides dks, double *dv, tl_strides dvs, int64_t B,
                                           int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                                           int64_t Dv, double scale, int causal)
    void tl_layernorm_forward_f32(const float *x, const float *gamma, const float *beta, float *y,
                                  float *mean, float *rstd, int64_t rows, int64_t C, double eps)
    int tl_layernorm_backward_f32(const float *dy, const float *x, const float *mean, const float *rstd,
                                  const float *gamma, float *dx, float *dgamma, float *dbeta,
                                  int64_t rows, int64_t C)
    void tl_gelu_forward_f32(const float *x, float *y, int64_t n, int approximate)
    void tl_gelu_backward_f32(const float *x, const float *dy, float *dx, int64_t n, int approximate)
    double tl_cross_entropy_forward_f32(const float *z, const int64_t *y, float *lse, int64_t rows,
                                        int64_t V, int64_t ignore_index)
    void tl_cross_entropy_backward_f32(const float *z, const int64_t *y, const float *lse, float *dz,
                                       int64_t rows, int64_t V, int64_t ignore_index, double scale)
    void tl_adamw_step_f32(float *p, const float *g, float *m, float *v, int64_t n, double lr,
                           double beta1, double beta2, double eps, double weight_decay,
                           double bc1, double bc2, int decoupled)
    void tl_bias_add_f32(float *y, const float *b, int64_t rows, int64_t C)
    int tl_bias_grad_f32(const float *dy, float *db, int64_t rows, int64_t C)
    void tl_embedding_backward_f32(const int64_t *ids, const float *dy, float *dW, int64_t n,
                                   int64_t V, int64_t C)
    void tl_layernorm_forward_f64(const double *x, const double *gamma, const double *beta, double *y,
                                  double *mean, double *rstd, int64_t rows, int64_t C, double eps)
    int tl_layernorm_backward_f64(const double *dy, const double *x, const double *mean, const double *rstd,
                                  const double *gamma, double *dx, double *dgamma, double *dbeta,
                                  int64_t rows, int64_t C)
    void tl_gelu_forward_f64(const double *x, double *y, int64_t n, int approximate)
    void tl_gelu_backward_f64(const double *x, const double *dy, double *dx, int64_t n, int approximate)
    double tl_cross_entropy_forward_f64(const double *z, const int64_t *y, double *lse, int64_t rows,
                                        int64_t V, int64_t ignore_index)
    void tl_cross_entropy_backward_f64(const double *z, const int64_t *y, const double *lse, double *dz,
                                       int64_t rows, int64_t V, int64_t ignore_index, double scale)
    void tl_adamw_step_f64(double *p, const double *g, double *m, double *v, int64_t n, double lr,
                           double beta1, double beta2, double eps, double weight_decay,
                           double bc1, double bc2, int decoupled)
    void tl_bias_add_f64(double *y, const double *b, int64_t rows, int64_t C)
    int tl_bias_grad_f64(const double *dy, double *db, int64_t rows, int64_t C)
    void tl_embedding_backward_f64(const int64_t *ids, const double *dy, double *dW, int64_t n,
                                   int64_t V, int64_t C)
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


cdef const uint8_t *_mask_ptr(const uint8_t[:, ::1] key_mask):
    return NULL if key_mask is None or key_mask.shape[1] == 0 else &key_mask[0, 0]


def matmul_softmax_forward(const real[:, :, :, ::1] q, const real[:, :, :, ::1] k,
                           const uint8_t[:, ::1] key_mask, real[:, :, :, ::1] A,
                           double scale, bint causal):
    """A = softmax(scale q k^T + mask), fused (E3.2, S3). q (B,H,Tq,D), k (B,H,Tk,D),
    key_mask (B, Tk) uint8 or None, A (B,H,Tq,Tk) written."""
    cdef int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3], Tk = k.shape[2]
    cdef const uint8_t *keep = _mask_ptr(key_mask)
    if B * H * Tq * Tk * D == 0:
        return
    cdef int rc = 0
    with nogil:
        if real is float:
            rc = tl_matmul_softmax_forward_f32(&q[0, 0, 0, 0], &k[0, 0, 0, 0],
                                          keep, &A[0, 0, 0, 0], B, H, Tq, Tk, D, <float>scale, causal)
        else:
            rc = tl_matmul_softmax_forward_f64(&q[0, 0, 0, 0], &k[0, 0, 0, 0],
                                          keep, &A[0, 0, 0, 0], B, H, Tq, Tk, D, scale, causal)
    if rc != 0:
        raise MemoryError("tinyllm._C: could not allocate the kernel's scratch memory")


def matmul_softmax_backward(const real[:, :, :, ::1] q, const real[:, :, :, ::1] k,
                            const real[:, :, :, ::1] A, const real[:, :, :, ::1] dA,
                            real[:, :, :, ::1] dq, real[:, :, :, ::1] dk, double scale):
    """dq, dk of the fused matmul-softmax (E3.2, S1); dq, dk written."""
    cdef int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3], Tk = k.shape[2]
    if B * H * Tq * Tk * D == 0:
        return
    cdef int rc = 0
    with nogil:
        if real is float:
            rc = tl_matmul_softmax_backward_f32(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &A[0, 0, 0, 0],
                                           &dA[0, 0, 0, 0], &dq[0, 0, 0, 0], &dk[0, 0, 0, 0],
                                           B, H, Tq, Tk, D, <float>scale)
        else:
            rc = tl_matmul_softmax_backward_f64(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &A[0, 0, 0, 0],
                                           &dA[0, 0, 0, 0], &dq[0, 0, 0, 0], &dk[0, 0, 0, 0],
                                           B, H, Tq, Tk, D, scale)
    if rc != 0:
        raise MemoryError("tinyllm._C: could not allocate the kernel's scratch memory")


def attention_forward(const real[:, :, :, ::1] q, const real[:, :, :, ::1] k,
                      const real[:, :, :, ::1] v, const uint8_t[:, ::1] key_mask,
                      real[:, :, :, ::1] out, real[:, :, ::1] lse, double scale, bint causal):
    """Tiled attention with an online softmax (E3.2, E3.3, S3). q (B,H,Tq,D), k (B,H,Tk,D),
    v (B,H,Tk,Dv); out (B,H,Tq,Dv) and the row log-sum-exp lse (B,H,Tq) written."""
    cdef int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3]
    cdef int64_t Tk = k.shape[2], Dv = v.shape[3]
    cdef const uint8_t *keep = _mask_ptr(key_mask)
    if B * H * Tq * Tk * D * Dv == 0:
        return
    cdef int rc = 0
    with nogil:
        if real is float:
            rc = tl_attention_forward_f32(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &v[0, 0, 0, 0], keep,
                                     &out[0, 0, 0, 0], &lse[0, 0, 0], B, H, Tq, Tk, D, Dv,
                                     <float>scale, causal)
        else:
            rc = tl_attention_forward_f64(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &v[0, 0, 0, 0], keep,
                                     &out[0, 0, 0, 0], &lse[0, 0, 0], B, H, Tq, Tk, D, Dv,
                                     scale, causal)
    if rc != 0:
        raise MemoryError("tinyllm._C: could not allocate the kernel's scratch memory")


def attention_backward(const real[:, :, :, ::1] q, const real[:, :, :, ::1] k,
                       const real[:, :, :, ::1] v, const uint8_t[:, ::1] key_mask,
                       const real[:, :, :, ::1] out, const real[:, :, ::1] lse,
                       const real[:, :, :, ::1] dout, real[:, :, :, ::1] dq,
                       real[:, :, :, ::1] dk, real[:, :, :, ::1] dv, double scale, bint causal):
    """dq, dk, dv of tiled attention, recomputing A from q, k and lse (E3.2, E3.3, S1); written."""
    cdef int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3]
    cdef int64_t Tk = k.shape[2], Dv = v.shape[3]
    cdef const uint8_t *keep = _mask_ptr(key_mask)
    if B * H * Tq * Tk * D * Dv == 0:
        return
    cdef int rc = 0
    with nogil:
        if real is float:
            rc = tl_attention_backward_f32(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &v[0, 0, 0, 0], keep,
                                      &out[0, 0, 0, 0], &lse[0, 0, 0], &dout[0, 0, 0, 0],
                                      &dq[0, 0, 0, 0], &dk[0, 0, 0, 0], &dv[0, 0, 0, 0],
                                      B, H, Tq, Tk, D, Dv, <float>scale, causal)
        else:
            rc = tl_attention_backward_f64(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &v[0, 0, 0, 0], keep,
                                      &out[0, 0, 0, 0], &lse[0, 0, 0], &dout[0, 0, 0, 0],
                                      &dq[0, 0, 0, 0], &dk[0, 0, 0, 0], &dv[0, 0, 0, 0],
                                      B, H, Tq, Tk, D, Dv, scale, causal)
    if rc != 0:
        raise MemoryError("tinyllm._C: could not allocate the kernel's scratch memory")


cdef tl_strides _strides(Py_ssize_t *shape, Py_ssize_t *strides, Py_ssize_t item,
                         str name) except *:
    """The (batch, head, row) element strides of a (B, H, T, D) view. Its last axis must be
    contiguous and every stride a whole number of elements; an axis of length 1 is never stepped
    along, so its stride does not matter (taken as 0)."""
    cdef Py_ssize_t s[4]
    for i in range(4):
        s[i] = 0 if shape[i] == 1 else strides[i]
    if (shape[3] != 1 and s[3] != item) or s[0] % item or s[1] % item or s[2] % item:
        raise ValueError(f"tinyllm._C: {name} needs a contiguous last axis and strides in whole "
                         f"elements, got byte strides {tuple(strides[i] for i in range(4))}")
    cdef tl_strides st
    st.b = s[0] // item
    st.h = s[1] // item
    st.t = s[2] // item
    return st


def attention_forward_strided(const real[:, :, :, :] q, const real[:, :, :, :] k,
                              const real[:, :, :, :] v, const uint8_t[:, ::1] key_mask,
                              real[:, :, :, :] out, real[:, :, ::1] lse, double scale,
                              bint causal):
    """attention_forward on strided views (last axis contiguous): q (B,H,Tq,D), k (B,H,Tk,D),
    v (B,H,Tk,Dv) read, out (B,H,Tq,Dv) written through their strides (e.g. q, k, v views of a
    fused (B, T, 3C) projection, out a view of a (B, T, C) buffer); lse (B,H,Tq) contiguous."""
    cdef int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3]
    cdef int64_t Tk = k.shape[2], Dv = v.shape[3]
    cdef const uint8_t *keep = _mask_ptr(key_mask)
    if B * H * Tq * Tk * D * Dv == 0:
        return
    cdef Py_ssize_t item = sizeof(real)
    cdef tl_strides qs = _strides(q.shape, q.strides, item, "q")
    cdef tl_strides ks = _strides(k.shape, k.strides, item, "k")
    cdef tl_strides vs = _strides(v.shape, v.strides, item, "v")
    cdef tl_strides os = _strides(out.shape, out.strides, item, "out")
    cdef int rc = 0
    with nogil:
        if real is float:
            rc = tl_attention_forward_strided_f32(&q[0, 0, 0, 0], qs, &k[0, 0, 0, 0], ks,
                                                  &v[0, 0, 0, 0], vs, keep, &out[0, 0, 0, 0], os,
                                                  &lse[0, 0, 0], B, H, Tq, Tk, D, Dv,
                                                  <float>scale, causal)
        else:
            rc = tl_attention_forward_strided_f64(&q[0, 0, 0, 0], qs, &k[0, 0, 0, 0], ks,
                                                  &v[0, 0, 0, 0], vs, keep, &out[0, 0, 0, 0], os,
                                                  &lse[0, 0, 0], B, H, Tq, Tk, D, Dv, scale,
                                                  causal)
    _raise_nomem(rc)


def attention_backward_strided(const real[:, :, :, :] q, const real[:, :, :, :] k,
                               const real[:, :, :, :] v, const uint8_t[:, ::1] key_mask,
                               const real[:, :, :, :] out, const real[:, :, ::1] lse,
                               const real[:, :, :, :] dout, real[:, :, :, :] dq,
                               real[:, :, :, :] dk, real[:, :, :, :] dv, double scale,
                               bint causal):
    """attention_backward on strided views (last axis contiguous): dq, dk, dv written through
    their strides (e.g. views of one (B, T, 3C) gradient buffer)."""
    cdef int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3]
    cdef int64_t Tk = k.shape[2], Dv = v.shape[3]
    cdef const uint8_t *keep = _mask_ptr(key_mask)
    if B * H * Tq * Tk * D * Dv == 0:
        return
    cdef Py_ssize_t item = sizeof(real)
    cdef tl_strides qs = _strides(q.shape, q.strides, item, "q")
    cdef tl_strides ks = _strides(k.shape, k.strides, item, "k")
    cdef tl_strides vs = _strides(v.shape, v.strides, item, "v")
    cdef tl_strides os = _strides(out.shape, out.strides, item, "out")
    cdef tl_strides dos = _strides(dout.shape, dout.strides, item, "dout")
    cdef tl_strides dqs = _strides(dq.shape, dq.strides, item, "dq")
    cdef tl_strides dks = _strides(dk.shape, dk.strides, item, "dk")
    cdef tl_strides dvs = _strides(dv.shape, dv.strides, item, "dv")
    cdef int rc = 0
    with nogil:
        if real is float:
            rc = tl_attention_backward_strided_f32(&q[0, 0, 0, 0], qs, &k[0, 0, 0, 0], ks,
                                                   &v[0, 0, 0, 0], vs, keep, &out[0, 0, 0, 0], os,
                                                   &lse[0, 0, 0], &dout[0, 0, 0, 0], dos,
                                                   &dq[0, 0, 0, 0], dqs, &dk[0, 0, 0, 0], dks,
                                                   &dv[0, 0, 0, 0], dvs, B, H, Tq, Tk, D, Dv,
                                                   <float>scale, causal)
        else:
            rc = tl_attention_backward_strided_f64(&q[0, 0, 0, 0], qs, &k[0, 0, 0, 0], ks,
                                                   &v[0, 0, 0, 0], vs, keep, &out[0, 0, 0, 0], os,
                                                   &lse[0, 0, 0], &dout[0, 0, 0, 0], dos,
                                                   &dq[0, 0, 0, 0], dqs, &dk[0, 0, 0, 0], dks,
                                                   &dv[0, 0, 0, 0], dvs, B, H, Tq, Tk, D, Dv,
                                                   scale, causal)
    _raise_nomem(rc)


# ---------------------------------------------------------------- the fused element-wise kernels
# (csrc/fused.c). Shapes are checked by tinyllm.kernels.fused; empty inputs return at once.

def _raise_nomem(int rc):
    if rc != 0:
        raise MemoryError("tinyllm._C: could not allocate the kernel's scratch memory")


def layernorm_forward(const real[:, ::1] x, const real[::1] gamma, const real[::1] beta,
                      real[:, ::1] y, real[::1] mean, real[::1] rstd, double eps):
    """S4 row by row: y = gamma (x - mean) rstd + beta; mean, rstd (rows,) written. x, y (rows, C)."""
    cdef int64_t rows = x.shape[0], C = x.shape[1]
    if rows == 0 or C == 0:
        return
    with nogil:
        if real is float:
            tl_layernorm_forward_f32(&x[0, 0], &gamma[0], &beta[0], &y[0, 0], &mean[0], &rstd[0],
                                     rows, C, eps)
        else:
            tl_layernorm_forward_f64(&x[0, 0], &gamma[0], &beta[0], &y[0, 0], &mean[0], &rstd[0],
                                     rows, C, eps)


def layernorm_backward(const real[:, ::1] dy, const real[:, ::1] x, const real[::1] mean,
                       const real[::1] rstd, const real[::1] gamma, real[:, ::1] dx,
                       real[::1] dgamma, real[::1] dbeta):
    """Backward of S4: dx (rows, C), dgamma, dbeta (C,) written; dx may be dy."""
    cdef int64_t rows = x.shape[0], C = x.shape[1]
    cdef int rc = 0
    if rows == 0 or C == 0:
        return
    with nogil:
        if real is float:
            rc = tl_layernorm_backward_f32(&dy[0, 0], &x[0, 0], &mean[0], &rstd[0], &gamma[0],
                                           &dx[0, 0], &dgamma[0], &dbeta[0], rows, C)
        else:
            rc = tl_layernorm_backward_f64(&dy[0, 0], &x[0, 0], &mean[0], &rstd[0], &gamma[0],
                                           &dx[0, 0], &dgamma[0], &dbeta[0], rows, C)
    _raise_nomem(rc)


def gelu_forward(const real[::1] x, real[::1] y, bint approximate):
    """S5 element-wise (approximate: the tanh form, else the exact erf form); y may be x."""
    cdef int64_t n = x.shape[0]
    if n == 0:
        return
    with nogil:
        if real is float:
            tl_gelu_forward_f32(&x[0], &y[0], n, approximate)
        else:
            tl_gelu_forward_f64(&x[0], &y[0], n, approximate)


def gelu_backward(const real[::1] x, const real[::1] dy, real[::1] dx, bint approximate):
    """Backward of S5 from the input x alone; dx may be dy."""
    cdef int64_t n = x.shape[0]
    if n == 0:
        return
    with nogil:
        if real is float:
            tl_gelu_backward_f32(&x[0], &dy[0], &dx[0], n, approximate)
        else:
            tl_gelu_backward_f64(&x[0], &dy[0], &dx[0], n, approximate)


def cross_entropy_forward(const real[:, ::1] z, const int64_t[::1] y, real[::1] lse,
                          int64_t ignore_index):
    """S2 over rows of logits z (rows, V) with targets y (rows,): returns the summed NLL of the
    kept rows (a Python float); the row log-sum-exp lse (rows,) written (0 on ignored rows)."""
    cdef int64_t rows = z.shape[0], V = z.shape[1]
    cdef double total = 0
    if rows == 0 or V == 0:
        return 0.0
    with nogil:
        if real is float:
            total = tl_cross_entropy_forward_f32(&z[0, 0], &y[0], &lse[0], rows, V, ignore_index)
        else:
            total = tl_cross_entropy_forward_f64(&z[0, 0], &y[0], &lse[0], rows, V, ignore_index)
    return total


def cross_entropy_backward(const real[:, ::1] z, const int64_t[::1] y, const real[::1] lse,
                           real[:, ::1] dz, int64_t ignore_index, double scale):
    """dz = scale * (softmax(z) - onehot(y)) on kept rows, 0 on ignored ones; dz may be z."""
    cdef int64_t rows = z.shape[0], V = z.shape[1]
    if rows == 0 or V == 0:
        return
    with nogil:
        if real is float:
            tl_cross_entropy_backward_f32(&z[0, 0], &y[0], &lse[0], &dz[0, 0], rows, V,
                                          ignore_index, scale)
        else:
            tl_cross_entropy_backward_f64(&z[0, 0], &y[0], &lse[0], &dz[0, 0], rows, V,
                                          ignore_index, scale)


def adamw_step(real[::1] p, const real[::1] g, real[::1] m, real[::1] v, double lr, double beta1,
               double beta2, double eps, double weight_decay, double bc1, double bc2,
               bint decoupled):
    """One Adam/AdamW update (S9) of the flat p, m, v in place from the gradient g."""
    cdef int64_t n = p.shape[0]
    if n == 0:
        return
    with nogil:
        if real is float:
            tl_adamw_step_f32(&p[0], &g[0], &m[0], &v[0], n, lr, beta1, beta2, eps, weight_decay,
                              bc1, bc2, decoupled)
        else:
            tl_adamw_step_f64(&p[0], &g[0], &m[0], &v[0], n, lr, beta1, beta2, eps, weight_decay,
                              bc1, bc2, decoupled)


def bias_add(real[:, ::1] y, const real[::1] b):
    """y (rows, C) += b (C,) in place."""
    cdef int64_t rows = y.shape[0], C = y.shape[1]
    if rows == 0 or C == 0:
        return
    with nogil:
        if real is float:
            tl_bias_add_f32(&y[0, 0], &b[0], rows, C)
        else:
            tl_bias_add_f64(&y[0, 0], &b[0], rows, C)


def bias_grad(const real[:, ::1] dy, real[::1] db):
    """db (C,) = the column sums of dy (rows, C)."""
    cdef int64_t rows = dy.shape[0], C = dy.shape[1]
    cdef int rc = 0
    if C == 0:
        return
    if rows == 0:
        db[:] = 0
        return
    with nogil:
        if real is float:
            rc = tl_bias_grad_f32(&dy[0, 0], &db[0], rows, C)
        else:
            rc = tl_bias_grad_f64(&dy[0, 0], &db[0], rows, C)
    _raise_nomem(rc)


def embedding_backward(const int64_t[::1] ids, const real[:, ::1] dy, real[:, ::1] dW):
    """dW (V, C) = the rows of dy (n, C) summed by ids (n,), all in [0, V) (checked by the caller)."""
    cdef int64_t n = dy.shape[0], V = dW.shape[0], C = dW.shape[1]
    if V == 0 or C == 0:
        return
    with nogil:
        if real is float:
            tl_embedding_backward_f32(&ids[0] if n else NULL, &dy[0, 0] if n else NULL, &dW[0, 0], n, V, C)
        else:
            tl_embedding_backward_f64(&ids[0] if n else NULL, &dy[0, 0] if n else NULL, &dW[0, 0], n, V, C)
