"""Check the cuda kernel backend on a real GPU: correctness against NumPy, speed against torch.

    python benchmarks/gpu_check.py            # about a minute on a recent GPU; exits 0 without one

1. Correctness: the cuda backend's attention forward+backward and fused matmul-softmax against the
   numpy backend at realistic shapes (causal with padding, float32; and a float64 case), with the
   tolerances of tests/test_kernels.py (float32 relative 1e-4 plus absolute 2e-5 after scaling by
   the largest entry; float64 1e-10).
2. Speed: the device part only (arrays already on the GPU, synchronised), for B=8, H=4, D=64 and
   T in {256, 1024, 4096}: cuda attention forward and forward+backward, and
   torch.nn.functional.scaled_dot_product_attention on the same GPU when a CUDA build of torch is
   installed. Prints a short table. Equations: E3.2, E3.3, S3.
"""

import sys
import time

import numpy as np


def no_gpu(reason):
    print(f"gpu_check: no CUDA GPU here ({reason}); nothing to check. "
          "Run this on a machine with an NVIDIA GPU and a CUDA driver.")
    sys.exit(0)


def main():
    try:
        from numba import config, cuda
    except ImportError as exc:
        no_gpu(f"numba.cuda missing: {exc}")
    if config.ENABLE_CUDASIM:
        no_gpu("NUMBA_ENABLE_CUDASIM=1 selects the simulator")
    try:
        if not cuda.is_available():
            no_gpu("numba.cuda.is_available() is False")
        gpu_name = cuda.get_current_device().name
        gpu_name = gpu_name.decode() if isinstance(gpu_name, bytes) else gpu_name
    except Exception as exc:  # a driver problem: report it, do not crash
        no_gpu(f"{type(exc).__name__}: {exc}")

    import tinyllm.kernels as K
    from tinyllm.kernels import cuda_backend as CB
    print(f"# gpu_check on {gpu_name}")
    t_start = time.perf_counter()
    failures = check_correctness(K)
    print()
    time_kernels(CB, cuda)
    print(f"\n# total {time.perf_counter() - t_start:.0f} s; "
          f"{'all correctness checks passed' if not failures else f'{failures} check(s) FAILED'}")
    sys.exit(1 if failures else 0)


def _err(a, b):
    scale = max(float(np.max(np.abs(b))), 1.0)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale


def check_correctness(K):
    """Compare the cuda backend with numpy; print one line per case; return the number failing."""
    rng = np.random.default_rng(0)
    cases = [(np.float32, 4, 8, 384, 512, 64, True), (np.float32, 2, 4, 300, 300, 64, False),
             (np.float64, 2, 2, 100, 130, 32, True)]
    failures = 0
    print("| dtype | B,H,Tq,Tk,D | causal+mask | max rel. error (out, dq, dk, dv, A, dq_ms, dk_ms) | ok |")
    print("|---|---|---|---|---|")
    for dtype, B, H, Tq, Tk, D, causal in cases:
        q = rng.standard_normal((B, H, Tq, D)).astype(dtype)
        k = rng.standard_normal((B, H, Tk, D)).astype(dtype)
        v = rng.standard_normal((B, H, Tk, D)).astype(dtype)
        dout = rng.standard_normal((B, H, Tq, D)).astype(dtype)
        dA = rng.standard_normal((B, H, Tq, Tk)).astype(dtype)
        key_mask = rng.random((B, Tk)) > 0.2
        key_mask[0, :] = False   # a fully masked batch row: zeros, not NaN
        res = {}
        for name in ("numpy", "cuda"):
            with K.use(name):
                out, cache = K.attention_forward(q, k, v, causal=causal, key_mask=key_mask)
                grads = K.attention_backward(dout, cache)
                A, c2 = K.matmul_softmax_forward(q, k, causal=causal, key_mask=key_mask)
                ms = K.matmul_softmax_backward(dA, c2)
                res[name] = (out, *grads, A, *ms)
        errs = [_err(b, a) for a, b in zip(res["numpy"], res["cuda"])]
        finite = all(np.all(np.isfinite(x)) for x in res["cuda"])
        tol = 1e-4 if dtype == np.float32 else 1e-10
        ok = finite and max(errs) < tol
        failures += not ok
        print(f"| {np.dtype(dtype).name} | {B},{H},{Tq},{Tk},{D} | {causal} | "
              f"{', '.join(f'{e:.1e}' for e in errs)} | {'yes' if ok else 'NO'} |")
    return failures


def _time(fn, sync, repeat=5):
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def time_kernels(CB, cuda):
    """Device-only timings of the cuda backend and (when available) torch SDPA on the GPU."""
    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    B, H, D = 8, 4, 64
    print("| T | op | tinyllm cuda (ms) | torch SDPA (ms) | torch / tinyllm |")
    print("|---|---|---:|---:|---:|")
    rng = np.random.default_rng(1)
    for T in (256, 1024, 4096):
        arrays = [rng.standard_normal((B * H, T, D)).astype(np.float32) for _ in range(4)]
        d_q, d_k, d_v, d_dout = (cuda.to_device(a) for a in arrays)
        d_keep = cuda.to_device(np.ones((B, T), np.uint8))
        scale = np.float32(1 / np.sqrt(D))
        d_out, d_lse = CB.attention_forward_device(d_q, d_k, d_v, d_keep, H, scale, True)

        def fwd():
            CB.attention_forward_device(d_q, d_k, d_v, d_keep, H, scale, True)

        def fwd_bwd():
            o, lse = CB.attention_forward_device(d_q, d_k, d_v, d_keep, H, scale, True)
            CB.attention_backward_device(d_q, d_k, d_v, d_keep, o, lse, d_dout, H, scale, True)

        ours = {"fwd": _time(fwd, cuda.synchronize), "fwd+bwd": _time(fwd_bwd, cuda.synchronize)}
        theirs = {}
        if has_torch:
            tq, tk, tv, tdo = (torch.from_numpy(a.reshape(B, H, T, D)).cuda() for a in arrays)
            tq.requires_grad_(), tk.requires_grad_(), tv.requires_grad_()
            sdpa = torch.nn.functional.scaled_dot_product_attention

            def t_fwd():
                with torch.no_grad():
                    sdpa(tq, tk, tv, is_causal=True)

            def t_fwd_bwd():
                sdpa(tq, tk, tv, is_causal=True).backward(tdo)

            theirs = {"fwd": _time(t_fwd, torch.cuda.synchronize),
                      "fwd+bwd": _time(t_fwd_bwd, torch.cuda.synchronize)}
        for op in ("fwd", "fwd+bwd"):
            t_ours = ours[op] * 1e3
            if op in theirs:
                t_theirs = theirs[op] * 1e3
                print(f"| {T} | causal attention {op} | {t_ours:.2f} | {t_theirs:.2f} | "
                      f"{t_theirs / t_ours:.2f}x |")
            else:
                print(f"| {T} | causal attention {op} | {t_ours:.2f} | n/a (no CUDA torch) | |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
