"""Benchmark a GPT training step: tinyllm against PyTorch eager on the same weights and batches.

    python benchmarks/bench_train.py                       # S, M, L with 2 threads, writes results
    python benchmarks/bench_train.py --configs S --rounds 3 --threads 1 --no-write

What it does, in order:
1. sets the thread policy of tinyllm.runtime (one count for BLAS and OpenMP, OpenBLAS workers that
   sleep after a call, passive OpenMP waiting) and glibc's keep-freed-memory setting, for both
   libraries alike, before NumPy or torch load;
2. per config, builds a tinyllm GPT (float32, seed 0) and a minimal PyTorch GPT-2 (nanoGPT style:
   one fused c_attn Linear, scaled_dot_product_attention, tanh GELU, tied head) holding copies of
   the same weights, and checks first that both give the same loss (relative difference < 1e-4)
   and the same gradients (< 1e-3) on the same batch;
3. times, interleaved in rounds (the order rotates each round): tinyllm's train step
   (loss_and_grads + AdamW), PyTorch's (zero_grad, forward, cross_entropy, backward, AdamW), and
   each one's forward pass to the logits (torch under no_grad); a sample is one call, or several
   back to back for a case shorter than --min-sample seconds (the time per call is recorded, and
   the same rule applies to both libraries). For every sample it records the
   machine's foreign load: CPU time used by other processes during the sample, in cores, from
   /proc/stat minus this process's own CPU time. Rounds whose foreign load exceeds --max-foreign
   are discarded, unless fewer than 3 would remain (then the 3 quietest are kept and the result is
   marked noisy). Reported: the median time of the kept rounds, and the median of the per-round
   ratios tinyllm / PyTorch;
4. tokens/s, and model FLOPs utilisation (MFU): training FLOPs per token 6 N + 12 L T C (N the
   parameters without the position table, the nanoGPT/PaLM convention; forward = a third of it)
   divided by the median time, over the best rate of a float32 2048^3 numpy matmul timed once in
   every round (on a busy machine that peak is depressed too: a rough guide only);
5. peak memory of a train step, each framework in a fresh process: the resident high-water mark
   (VmHWM) after 3 steps minus the resident size after building model, optimizer and batch; and
   tinyllm's page faults per step with and without keep_freed_memory.

Results: benchmarks/train_results_t{threads}.json and a section of benchmarks/RESULTS.md, both
written by this script, and the table in README.md between its bench_train:t{threads} markers.
Another machine's numbers go to a JSON of their own, e.g.
    python benchmarks/bench_train.py --configs S M --json benchmarks/train_results_avx2.json --only-json Absolute times
depend on the machine's load; ratios of interleaved samples are what to read on a shared machine.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {   # name: vocab, layers, heads, width, context, batch
    "S": dict(vocab_size=256, n_layer=2, n_head=4, d_model=128, T=128, B=16),
    "M": dict(vocab_size=4096, n_layer=4, n_head=4, d_model=256, T=256, B=16),
    "L": dict(vocab_size=8192, n_layer=6, n_head=6, d_model=384, T=256, B=8),
}


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", nargs="+", default=["S", "M", "L"], choices=sorted(CONFIGS))
    p.add_argument("--threads", type=int, default=2, help="threads for BLAS, OpenMP and torch alike")
    p.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds per config")
    p.add_argument("--min-sample", type=float, default=0.25,
                   help="seconds a timed sample lasts at least: short cases run several calls back to "
                        "back and report the time per call")
    p.add_argument("--max-foreign", type=float, default=0.5,
                   help="discard rounds where other processes used more than this many cores")
    p.add_argument("--json", help="results file (default: benchmarks/train_results_t{threads}.json)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    p.add_argument("--only-json", action="store_true",
                   help="write --json only, not RESULTS.md or the README table (another machine's numbers)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    p.add_argument("--readme-table", metavar="TAG",
                   help="measure nothing: write the table of --json into the README between its "
                        "bench_train:TAG:table markers (e.g. --json benchmarks/train_results_avx2.json "
                        "--readme-table avx2)")
    p.add_argument("--memory-child", nargs=3, metavar=("FRAMEWORK", "CONFIG", "KEEP"),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


ARGS = _parse()
ARGS.json = ARGS.json or str(ROOT / "benchmarks" / f"train_results_t{ARGS.threads}.json")
from tinyllm import runtime  # noqa: E402  (no NumPy import yet)

runtime.configure_threads(ARGS.threads)
KEEP_MEMORY = runtime.keep_freed_memory() if ARGS.memory_child is None or ARGS.memory_child[2] == "1" \
    else False

import numpy as np  # noqa: E402

from tinyllm import GPT, GPTConfig  # noqa: E402
from tinyllm.ops.losses import causal_lm_targets  # noqa: E402
from tinyllm.train.optim import AdamW  # noqa: E402

LR, WD = 3e-4, 0.1


# ------------------------------------------------------------------ the two models

def tinyllm_setup(name):
    c = CONFIGS[name]
    cfg = GPTConfig(vocab_size=c["vocab_size"], n_layer=c["n_layer"], n_head=c["n_head"],
                    d_model=c["d_model"], max_len=c["T"])
    model = GPT(cfg, seed=0, dtype=np.float32)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, c["vocab_size"], (c["B"], c["T"]))
    return model, AdamW(model.params, lr=LR, weight_decay=WD), idx, causal_lm_targets(idx)


def tinyllm_step(model, opt, idx, targets):
    loss, grads = model.loss_and_grads(idx, targets)
    opt.step(grads)
    return loss


def torch_gpt(model):
    """A minimal PyTorch GPT-2 (nanoGPT style) holding copies of a tinyllm GPT's weights."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    cfg, p = model.config, model.params
    C, H = cfg.d_model, cfg.n_head

    def t(a):
        return torch.tensor(np.array(a, dtype=np.float32))

    def linear(W, b):   # tinyllm stores W as (C_in, C_out), torch as (C_out, C_in)
        lin = nn.Linear(W.shape[0], W.shape[1])
        lin.weight.data.copy_(t(W.T))
        lin.bias.data.copy_(t(b))
        return lin

    def layernorm(prefix):
        ln = nn.LayerNorm(C, eps=cfg.layer_norm_eps)
        ln.weight.data.copy_(t(p[prefix + ".gamma"]))
        ln.bias.data.copy_(t(p[prefix + ".beta"]))
        return ln

    class Block(nn.Module):
        def __init__(self, i):
            super().__init__()
            q = f"h.{i}."
            self.ln_1, self.ln_2 = layernorm(q + "ln_1"), layernorm(q + "ln_2")
            self.c_attn = linear(np.concatenate([p[q + f"attn.W_{n}"] for n in "QKV"], axis=1),
                                 np.concatenate([p[q + f"attn.b_{n}"] for n in "QKV"]))
            self.c_proj = linear(p[q + "attn.W_O"], p[q + "attn.b_O"])
            self.fc_1 = linear(p[q + "ffn.W_1"], p[q + "ffn.b_1"])
            self.fc_2 = linear(p[q + "ffn.W_2"], p[q + "ffn.b_2"])

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (z.view(B, T, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
            return x + self.fc_2(F.gelu(self.fc_1(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = nn.Parameter(t(p["tok_emb"]))
            self.pos_emb = nn.Parameter(t(p["pos_emb"]))
            self.h = nn.ModuleList(Block(i) for i in range(cfg.n_layer))
            self.ln_f = layernorm("ln_f")

        def forward(self, idx):
            x = self.tok_emb[idx] + self.pos_emb[: idx.shape[1]]
            for block in self.h:
                x = block(x)
            return self.ln_f(x) @ self.tok_emb.T

    return TorchGPT()


def torch_setup(model, idx, targets):
    import torch
    net = torch_gpt(model)
    decay = [q for n, q in net.named_parameters() if q.ndim == 2 and "emb" not in n]
    rest = [q for n, q in net.named_parameters() if not (q.ndim == 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": rest, "weight_decay": 0.0}],
                            lr=LR, eps=1e-8)
    return net, opt, torch.from_numpy(idx), torch.from_numpy(targets)


def torch_step(net, opt, idx, targets):
    import torch.nn.functional as F
    opt.zero_grad(set_to_none=True)
    logits = net(idx)
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-100)
    loss.backward()
    opt.step()
    return loss.item()


def torch_forward(net, idx):
    import torch
    with torch.no_grad():
        return net(idx)


# ------------------------------------------------------------------ checks, load, FLOPs

def check_same(model, net, idx, targets, tidx, ttargets):
    """Same loss and gradients on the same batch, before any timing (no update is applied)."""
    import torch.nn.functional as F
    loss, grads = model.loss_and_grads(idx, targets)
    logits = net(tidx)
    tloss = F.cross_entropy(logits.view(-1, logits.shape[-1]), ttargets.view(-1), ignore_index=-100)
    tloss.backward()
    C = model.config.d_model
    pairs = {"tok_emb": net.tok_emb.grad.numpy(), "ln_f.gamma": net.ln_f.weight.grad.numpy(),
             "h.0.attn.W_Q": net.h[0].c_attn.weight.grad.numpy()[:C].T,
             "h.0.ffn.W_1": net.h[0].fc_1.weight.grad.numpy().T}
    grad_err = max(float(np.abs(grads[k] - v).max() / np.abs(v).max()) for k, v in pairs.items())
    loss_err = abs(loss - tloss.item()) / abs(tloss.item())
    net.zero_grad(set_to_none=True)
    if loss_err > 1e-4 or grad_err > 1e-3:
        raise SystemExit(f"bench_train: tinyllm and PyTorch disagree (loss {loss:.6f} vs {tloss.item():.6f}, "
                         f"gradient error {grad_err:.2e}): not timing different computations")
    return {"loss_tinyllm": float(loss), "loss_torch": float(tloss.item()),
            "loss_rel_diff": loss_err, "grad_rel_diff": grad_err}


def _busy_seconds():
    """CPU seconds all processes spent busy so far (from /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)    # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(fn, calls=1):
    """Run fn `calls` times: (seconds per call, foreign load in cores during them, or nan)."""
    busy0, own0, t0 = _busy_seconds(), time.process_time(), time.perf_counter()
    for _ in range(calls):
        fn()
    t1, own1, busy1 = time.perf_counter(), time.process_time(), _busy_seconds()
    wall = t1 - t0
    if busy0 is None or wall < 0.05:   # /proc/stat ticks are 10 ms: too coarse for short samples
        return wall / calls, float("nan")
    return wall / calls, max(0.0, (busy1 - busy0) - (own1 - own0)) / wall


def calls_per_sample(fn):
    """How many back-to-back calls of fn make one sample of at least --min-sample seconds (one
    call for the long cases; the S model's 50 ms forward gets several, so that a sample is not one
    scheduler time slice and its foreign load is measurable)."""
    t0 = time.perf_counter()
    fn()
    return max(1, min(50, int(np.ceil(ARGS.min_sample / max(time.perf_counter() - t0, 1e-6)))))


def matmul_case():
    """A float32 2048^3 matmul: its rate, timed inside every round, is the peak MFU refers to."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    return 2 * n ** 3, lambda: a @ b


def train_flops_per_token(model):
    cfg = model.config
    n = model.num_params() - model.params["pos_emb"].size
    return 6 * n + 12 * cfg.n_layer * cfg.max_len * cfg.d_model


# ------------------------------------------------------------------ peak memory (child process)

def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def memory_child(framework, name):
    """In a fresh process: peak extra resident memory of a train step, and page faults per step."""
    model, opt, idx, targets = tinyllm_setup(name)
    if framework == "torch":
        import torch
        torch.set_num_threads(ARGS.threads)
        net, topt, tidx, ttargets = torch_setup(model, idx, targets)
        del model, opt

        def step():
            torch_step(net, topt, tidx, ttargets)
    else:
        def step():
            tinyllm_step(model, opt, idx, targets)
    base = _status("VmRSS")
    faults = []
    for _ in range(4):
        f0 = runtime.page_faults()
        step()
        faults.append(runtime.page_faults() - f0)
    print(json.dumps({"peak_extra_bytes": _status("VmHWM") - base, "faults_per_step": faults[-1],
                      "faults_first_step": faults[0]}))


def run_child(framework, name, keep):
    cmd = [sys.executable, __file__, "--threads", str(ARGS.threads), "--memory-child", framework, name,
           "1" if keep else "0"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the interleaved timing

def bench_config(name):
    import torch
    torch.set_num_threads(ARGS.threads)
    model, opt, idx, targets = tinyllm_setup(name)
    net, topt, tidx, ttargets = torch_setup(model, idx, targets)
    check = check_same(model, net, idx, targets, tidx, ttargets)
    cases = {
        "tinyllm step": lambda: tinyllm_step(model, opt, idx, targets),
        "torch step": lambda: torch_step(net, topt, tidx, ttargets),
        "tinyllm forward": lambda: model.forward(idx),
        "torch forward": lambda: torch_forward(net, tidx),
    }
    matmul_flops, cases["matmul"] = matmul_case()
    for fn in cases.values():   # warm-up: thread pools, caches, allocator
        fn()
    calls = {k: calls_per_sample(fn) for k, fn in cases.items()}
    names = list(cases)
    rounds = []
    for r in range(ARGS.rounds):
        sample = {}
        for k in names[r % len(names):] + names[:r % len(names)]:
            sample[k] = timed(cases[k], calls[k])
        rounds.append(sample)
    loads = [max(v[1] for v in s.values() if v[1] == v[1]) if any(v[1] == v[1] for v in s.values())
             else 0.0 for s in rounds]
    kept = [s for s, load in zip(rounds, loads) if load <= ARGS.max_foreign]
    noisy = len(kept) < 3
    if noisy:
        kept = [rounds[i] for i in np.argsort(loads)[:3]]
    med = {k: float(np.median([s[k][0] for s in kept])) for k in names if k != "matmul"}
    peak = max(matmul_flops / s["matmul"][0] for s in rounds)      # the best rate seen in the run
    ratio_step = float(np.median([s["tinyllm step"][0] / s["torch step"][0] for s in kept]))
    ratio_fwd = float(np.median([s["tinyllm forward"][0] / s["torch forward"][0] for s in kept]))
    c = CONFIGS[name]
    tokens = c["B"] * c["T"]
    fpt = train_flops_per_token(model)
    faults = []
    for _ in range(3):
        f0 = runtime.page_faults()
        tinyllm_step(model, opt, idx, targets)
        faults.append(runtime.page_faults() - f0)
    result = {
        "config": name, **c, "params": model.num_params(), **check,
        "ms": {k: 1e3 * v for k, v in med.items()},
        "ratio_step": ratio_step, "ratio_forward": ratio_fwd,
        "tokens_per_s": {k: tokens / v for k, v in med.items()},
        "matmul_peak_gflops": peak / 1e9,
        "matmul_gflops_per_round": [round(matmul_flops / s["matmul"][0] / 1e9, 1) for s in rounds],
        "mfu": {k: (fpt if "step" in k else fpt / 3) * tokens / v / peak for k, v in med.items()},
        "foreign_load_cores": {"all_rounds": [round(x, 2) for x in loads],
                               "kept_median": float(np.median(sorted(loads)[:len(kept)]))},
        "rounds_kept": len(kept), "rounds": len(rounds), "noisy": noisy, "calls_per_sample": calls,
        "tinyllm_faults_per_step_in_run": int(np.median(faults)),
    }
    if not ARGS.no_memory:
        result["memory"] = {"tinyllm": run_child("tinyllm", name, True),
                            "torch": run_child("torch", name, True),
                            "tinyllm_without_keep_freed_memory": run_child("tinyllm", name, False)}
    return result


# ------------------------------------------------------------------ reports

def _mb(b):
    return f"{b / 2 ** 20:,.0f} MB"


def table(results):
    """The Markdown table for RESULTS.md and the README (generated from the JSON results)."""
    head = ("| config | tinyllm step | PyTorch step | ratio | tinyllm fwd | PyTorch fwd | ratio | "
            "tokens/s (tinyllm, train) | MFU tinyllm / PyTorch | peak step memory tinyllm / PyTorch | "
            "foreign load |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in results:
        c = CONFIGS[r["config"]]
        shape = f"{r['config']}: V{c['vocab_size']} L{c['n_layer']} H{c['n_head']} d{c['d_model']} T{c['T']} B{c['B']}"
        mem = r.get("memory")
        mem_s = (f"{_mb(mem['tinyllm']['peak_extra_bytes'])} / {_mb(mem['torch']['peak_extra_bytes'])}"
                 if mem else "not measured")
        ms = r["ms"]
        rows.append(
            f"| {shape} | {ms['tinyllm step']:,.0f} ms | {ms['torch step']:,.0f} ms | "
            f"**{r['ratio_step']:.2f}×** | {ms['tinyllm forward']:,.0f} ms | {ms['torch forward']:,.0f} ms | "
            f"**{r['ratio_forward']:.2f}×** | {r['tokens_per_s']['tinyllm step']:,.0f} | "
            f"{100 * r['mfu']['tinyllm step']:.0f}% / {100 * r['mfu']['torch step']:.0f}% | {mem_s} | "
            f"{r['foreign_load_cores']['kept_median']:.2f} cores{' (noisy)' if r['noisy'] else ''} |")
    return head + "\n".join(rows) + "\n"


def report(meta, results):
    lines = [f"Produced by `python benchmarks/bench_train.py --threads {meta['threads']} --rounds "
             f"{meta['rounds']}` on {meta['date']} (UTC); raw numbers in `benchmarks/{Path(ARGS.json).name}`.",
             "",
             f"- Machine: {meta['machine']}" + (f", {meta['cpu']}" if meta.get("cpu") else "")
             + f"; {meta['cpus']} CPUs; load average at start {meta['loadavg_start']}.",
             f"- Software: {meta['software']}.",
             "- MFU: model FLOPs per second (median time) over the best rate of a float32 2048^3 "
             "numpy matmul timed once in every round ("
             + ", ".join(f"{r['config']} {r['matmul_peak_gflops']:.0f}" for r in results)
             + " GFLOP/s). On a busy machine that peak is itself depressed, so MFU is only a rough "
             "guide; the two libraries' MFU compare like their times.",
             f"- Thread policy (tinyllm.runtime): {meta['policy']}; glibc keeps freed memory: "
             f"{meta['keep_freed_memory']} (for both libraries).",
             "- Ratio = tinyllm / PyTorch eager, the median of per-round ratios of interleaved samples "
             "(below 1 means tinyllm is faster). Foreign load = cores used by other processes during "
             "the kept samples; rounds above "
             f"{ARGS.max_foreign} cores were discarded (\"noisy\": fewer than 3 rounds were quiet enough, "
             "the 3 quietest were kept). Absolute times on a shared machine are not comparable "
             "between runs; the ratios are.",
             "- Same weights and batches: losses agree to "
             + ", ".join(f"{r['config']} {r['loss_rel_diff']:.1e}" for r in results)
             + " (relative), gradients to "
             + ", ".join(f"{r['config']} {r['grad_rel_diff']:.1e}" for r in results) + ".",
             "- Peak step memory: resident high-water mark over 3 steps minus the resident size "
             "after building model, optimizer and batch, each in a fresh process.",
             "", table(results)]
    faults = [f"{r['config']} {r['memory']['tinyllm']['faults_per_step']:,} with keep_freed_memory, "
              f"{r['memory']['tinyllm_without_keep_freed_memory']['faults_per_step']:,} without"
              for r in results if "memory" in r]
    if faults:
        lines += ["Page faults per tinyllm train step (4th step of a fresh process): "
                  + "; ".join(faults) + ".", ""]
    return "\n".join(lines)


def replace_between(path, begin, end, text):
    """Replace the text between two marker lines (append the block when the markers are absent)."""
    p = Path(path)
    old = p.read_text() if p.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + "\n\n## Training step: tinyllm vs PyTorch eager\n\n" + block + "\n"
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(new)
    tmp.replace(p)


def main():
    if ARGS.readme_table:
        doc = json.loads(Path(ARGS.json).read_text())
        tag = f"bench_train:{ARGS.readme_table}:table"
        meta = doc["meta"]
        note = (f"*{meta['cpu']}, {meta['threads']} threads, {meta['date']} UTC, {meta['rounds']} interleaved "
                f"rounds, load average {meta['loadavg_start']} at the start; {meta['software']}.*\n\n")
        replace_between(Path(ARGS.readme), f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->",
                        note + table(doc["results"]))
        return
    if ARGS.memory_child:
        memory_child(ARGS.memory_child[0], ARGS.memory_child[1])
        return
    import torch
    torch.set_num_threads(ARGS.threads)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "threads": ARGS.threads,
        "rounds": ARGS.rounds, "cpus": os.cpu_count(), "loadavg_start": round(os.getloadavg()[0], 2),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "cpu": runtime.cpu_description(),
        "software": f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}",
        "keep_freed_memory": KEEP_MEMORY,
        "policy": ", ".join(f"{k}={os.environ.get(k)}" for k in
                            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                             "OMP_WAIT_POLICY")),
    }
    results = []
    for name in ARGS.configs:
        r = bench_config(name)
        results.append(r)
        print(f"{name}: step {r['ms']['tinyllm step']:.0f} vs {r['ms']['torch step']:.0f} ms "
              f"(ratio {r['ratio_step']:.2f}), forward {r['ms']['tinyllm forward']:.0f} vs "
              f"{r['ms']['torch forward']:.0f} ms (ratio {r['ratio_forward']:.2f}), foreign load "
              f"{r['foreign_load_cores']['all_rounds']}", flush=True)
    text = report(meta, results)
    print(text)
    if ARGS.no_write:
        return
    Path(ARGS.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    if ARGS.only_json:
        return
    tag = f"bench_train:t{ARGS.threads}"
    replace_between(ARGS.results, f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->",
                    f"### {ARGS.threads} thread(s)\n\n" + text)
    readme = Path(ARGS.readme)
    if readme.exists() and f"<!-- {tag}:table:begin -->" in readme.read_text():
        replace_between(readme, f"<!-- {tag}:table:begin -->", f"<!-- {tag}:table:end -->", table(results))


if __name__ == "__main__":
    main()
