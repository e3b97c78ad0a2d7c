/* tinyllm_kernels.h -- the one header of tinyllm's C99 kernels.
 *
 * Every kernel exists for float (suffix _f32) and double (_f64). The bodies are written once, in
 * terms of REAL and FN(name), in softmax.c, matmul_softmax.c and attention.c; kernels_f32.c and
 * kernels_f64.c include them with REAL set to float or double. All arrays are C-contiguous, except
 * in the _strided attention entry points.
 *
 * Shapes: rows x n for softmax; q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), key_mask (B, Tk) with
 * 1 = keep (or NULL for none), A (B, H, Tq, Tk), out (B, H, Tq, Dv), lse (B, H, Tq).
 * Masking (S3): query i may see key j iff key_mask[b, j] and (not causal or j <= i + Tk - Tq).
 * A row with no visible key gives A = 0, out = 0, lse = -inf and zero gradients.
 */
#ifndef TINYLLM_KERNELS_H
#define TINYLLM_KERNELS_H

#include <stdint.h>

/* Element strides of a (B, H, T, D) array whose last axis is contiguous: b between batches, h
 * between heads, t between rows. A C-contiguous array has {H * T * D, T * D, D}; the q of a fused
 * (B, T, 3C) projection (head i in columns [i*D, (i+1)*D)) has {T * 3C, D, 3C}. */
typedef struct {
    int64_t b, h, t;
} tl_strides;

/* Row softmax over the last axis (S1). */
void tl_softmax_forward_f32(const float *x, float *y, int64_t rows, int64_t n);
void tl_softmax_forward_f64(const double *x, double *y, int64_t rows, int64_t n);
void tl_softmax_backward_f32(const float *y, const float *dy, float *dx, int64_t rows, int64_t n);
void tl_softmax_backward_f64(const double *y, const double *dy, double *dx, int64_t rows, int64_t n);

/* Fused A = softmax(scale * q k^T + mask) without a separate scores pass (E3.2, S3). */
int tl_matmul_softmax_forward_f32(const float *q, const float *k, const uint8_t *key_mask,
                                   float *A, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                   int64_t D, float scale, int causal);
int tl_matmul_softmax_forward_f64(const double *q, const double *k, const uint8_t *key_mask,
                                   double *A, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                   int64_t D, double scale, int causal);
int tl_matmul_softmax_backward_f32(const float *q, const float *k, const float *A,
                                    const float *dA, float *dq, float *dk, int64_t B, int64_t H,
                                    int64_t Tq, int64_t Tk, int64_t D, float scale);
int tl_matmul_softmax_backward_f64(const double *q, const double *k, const double *A,
                                    const double *dA, double *dq, double *dk, int64_t B,
                                    int64_t H, int64_t Tq, int64_t Tk, int64_t D, double scale);

/* Attention out = softmax(scale * q k^T + mask) v, tiled with an online softmax; only the row
 * log-sum-exp is kept for backward, which recomputes A from q, k and lse (E3.2, E3.3, S3). */
int tl_attention_forward_f32(const float *q, const float *k, const float *v,
                              const uint8_t *key_mask, float *out, float *lse, int64_t B,
                              int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                              float scale, int causal);
int tl_attention_forward_f64(const double *q, const double *k, const double *v,
                              const uint8_t *key_mask, double *out, double *lse, int64_t B,
                              int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                              double scale, int causal);
int tl_attention_backward_f32(const float *q, const float *k, const float *v,
                               const uint8_t *key_mask, const float *out, const float *lse,
                               const float *dout, float *dq, float *dk, float *dv, int64_t B,
                               int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                               float scale, int causal);
int tl_attention_backward_f64(const double *q, const double *k, const double *v,
                               const uint8_t *key_mask, const double *out, const double *lse,
                               const double *dout, double *dq, double *dk, double *dv, int64_t B,
                               int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                               double scale, int causal);
/* The same with every (B, H, T, D) array read or written through its strides (tl_strides): q, k, v
 * straight from a fused QKV projection, out into a head-merged (B, T, C) buffer, dq, dk, dv into a
 * (B, T, 3C) gradient. Same results, bit for bit, as the contiguous entry points. The arrays written
 * (out; dq, dk, dv) must not overlap each other or the inputs; lse is C-contiguous (B, H, Tq). */
int tl_attention_forward_strided_f32(const float *q, tl_strides qs, const float *k, tl_strides ks,
                                      const float *v, tl_strides vs, const uint8_t *key_mask,
                                      float *out, tl_strides os, float *lse, int64_t B, int64_t H,
                                      int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale,
                                      int causal);
int tl_attention_forward_strided_f64(const double *q, tl_strides qs, const double *k,
                                      tl_strides ks, const double *v, tl_strides vs,
                                      const uint8_t *key_mask, double *out, tl_strides os,
                                      double *lse, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                      int64_t D, int64_t Dv, double scale, int causal);
int tl_attention_backward_strided_f32(const float *q, tl_strides qs, const float *k, tl_strides ks,
                                       const float *v, tl_strides vs, const uint8_t *key_mask,
                                       const float *out, tl_strides os, const float *lse,
                                       const float *dout, tl_strides dos, float *dq, tl_strides dqs,
                                       float *dk, tl_strides dks, float *dv, tl_strides dvs,
                                       int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                                       int64_t Dv, float scale, int causal);
int tl_attention_backward_strided_f64(const double *q, tl_strides qs, const double *k,
                                       tl_strides ks, const double *v, tl_strides vs,
                                       const uint8_t *key_mask, const double *out, tl_strides os,
                                       const double *lse, const double *dout, tl_strides dos,
                                       double *dq, tl_strides dqs, double *dk, tl_strides dks,
                                       double *dv, tl_strides dvs, int64_t B, int64_t H, int64_t Tq,
                                       int64_t Tk, int64_t D, int64_t Dv, double scale, int causal);

/* The element-wise work of a training step (csrc/fused.c): LayerNorm (S4), GELU (S5; approximate=1
 * is the tanh form, 0 the exact erf form), cross-entropy with log-softmax (S1, S2), AdamW (S9),
 * bias add and bias gradient, embedding backward (S8: dW (V, C) from ids (n,) and dy (n, C)). x, y, dy, dx (rows, C) or (n,); mean, rstd, lse (rows,); targets
 * int64 (rows,). dx may be dy, and the cross-entropy's dz may be z (in-place backward). */
void tl_layernorm_forward_f32(const float *x, const float *gamma, const float *beta, float *y,
                              float *mean, float *rstd, int64_t rows, int64_t C, double eps);
int tl_layernorm_backward_f32(const float *dy, const float *x, const float *mean, const float *rstd,
                              const float *gamma, float *dx, float *dgamma, float *dbeta, int64_t rows,
                              int64_t C);
void tl_gelu_forward_f32(const float *x, float *y, int64_t n, int approximate);
void tl_gelu_backward_f32(const float *x, const float *dy, float *dx, int64_t n, int approximate);
double tl_cross_entropy_forward_f32(const float *z, const int64_t *y, float *lse, int64_t rows,
                                    int64_t V, int64_t ignore_index);
void tl_cross_entropy_backward_f32(const float *z, const int64_t *y, const float *lse, float *dz,
                                   int64_t rows, int64_t V, int64_t ignore_index, double scale);
void tl_adamw_step_f32(float *p, const float *g, float *m, float *v, int64_t n, double lr, double beta1,
                       double beta2, double eps, double weight_decay, double bc1, double bc2,
                       int decoupled);
void tl_bias_add_f32(float *y, const float *b, int64_t rows, int64_t C);
int tl_bias_grad_f32(const float *dy, float *db, int64_t rows, int64_t C);
void tl_embedding_backward_f32(const int64_t *ids, const float *dy, float *dW, int64_t n, int64_t V,
                               int64_t C);

void tl_layernorm_forward_f64(const double *x, const double *gamma, const double *beta, double *y,
                              double *mean, double *rstd, int64_t rows, int64_t C, double eps);
int tl_layernorm_backward_f64(const double *dy, const double *x, const double *mean, const double *rstd,
                              const double *gamma, double *dx, double *dgamma, double *dbeta, int64_t rows,
                              int64_t C);
void tl_gelu_forward_f64(const double *x, double *y, int64_t n, int approximate);
void tl_gelu_backward_f64(const double *x, const double *dy, double *dx, int64_t n, int approximate);
double tl_cross_entropy_forward_f64(const double *z, const int64_t *y, double *lse, int64_t rows,
                                    int64_t V, int64_t ignore_index);
void tl_cross_entropy_backward_f64(const double *z, const int64_t *y, const double *lse, double *dz,
                                   int64_t rows, int64_t V, int64_t ignore_index, double scale);
void tl_adamw_step_f64(double *p, const double *g, double *m, double *v, int64_t n, double lr, double beta1,
                       double beta2, double eps, double weight_decay, double bc1, double bc2,
                       int decoupled);
void tl_bias_add_f64(double *y, const double *b, int64_t rows, int64_t C);
int tl_bias_grad_f64(const double *dy, double *db, int64_t rows, int64_t C);
void tl_embedding_backward_f64(const int64_t *ids, const double *dy, double *dW, int64_t n, int64_t V,
                               int64_t C);

/* 1 when the extension was compiled with OpenMP, else 0; and the thread count it would use. */
int tl_has_openmp(void);
int tl_max_threads(void);

#endif
