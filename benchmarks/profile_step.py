"""Per-op profile of one GPT train step: tinyllm's ops against PyTorch eager's, same model and batch.

    python benchmarks/profile_step.py --config M --threads 2 --steps 5

tinyllm: a timer around every op of the fast path (tinyllm.kernels.fused, the attention kernel,
the head merge copy (past_kv only), the embeddings, AdamW), by op and weight shape; the rest of the step
(residual adds, Python) is reported as "other". PyTorch: torch.profiler's self CPU time per aten
op. Steps of the two alternate; per op, the minimum over steps (the machine may be shared) and the
median are printed in ms per step. A diagnostic, not a results script: it writes no file.
"""

import argparse
import collections
import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--config", default="M")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--forward", action="store_true", help="profile the forward pass only")
p.add_argument("--cpu", action="store_true",
               help="tinyllm's op timers read CPU time (time.process_time: this process only, robust "
                    "to other jobs; use with --threads 1) instead of wall time")
ARGS = p.parse_args()

from tinyllm import runtime  # noqa: E402

runtime.configure_threads(ARGS.threads)
runtime.keep_freed_memory()
sys.argv = [sys.argv[0], "--no-write", "--threads", str(ARGS.threads)]
import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_train as bt  # noqa: E402
import tinyllm.kernels as kernels  # noqa: E402
from tinyllm.kernels import fused  # noqa: E402
from tinyllm.models import block as block_mod  # noqa: E402
from tinyllm.models import gpt as gpt_mod  # noqa: E402
from tinyllm.train import optim  # noqa: E402

TIMES = collections.defaultdict(float)
CLOCK = time.process_time if ARGS.cpu else time.perf_counter


def _tag(name, args):
    if name.startswith("linear_forward"):
        return f"{name} W{tuple(args[1].shape)}"
    if name.startswith("linear_backward"):
        return f"{name} W{tuple(args[1]['W'].shape)}"
    return name


def wrap(module, name, label=None):
    fn = getattr(module, name)

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        t0 = CLOCK()
        out = fn(*args, **kwargs)
        TIMES[_tag(label or name, args)] += CLOCK() - t0
        return out
    setattr(module, name, timed)
    return timed


for n in ("layernorm_forward", "layernorm_backward", "gelu_forward", "gelu_backward",
          "linear_forward", "linear_backward", "cross_entropy_forward", "cross_entropy_backward"):
    t = wrap(fused, n)
    if hasattr(gpt_mod, n):
        setattr(gpt_mod, n, t)
for n in ("attention_forward", "attention_backward", "attention_forward_packed",
          "attention_backward_packed"):
    wrap(kernels, n)
wrap(block_mod, "merge_heads")   # only on the past_kv path now (the packed kernel merges in place)
for n in ("embedding_forward", "embedding_backward", "dropout_forward", "dropout_backward"):
    wrap(gpt_mod, n)
ADAM = wrap(optim, "adam_rule_fused")


def main():
    import torch
    torch.set_num_threads(ARGS.threads)
    model, opt, idx, targets = bt.tinyllm_setup(ARGS.config)
    net, topt, tidx, ttargets = bt.torch_setup(model, idx, targets)
    type(opt).rule = staticmethod(ADAM)   # the timed one
    if ARGS.forward:
        tl = lambda: model.forward(idx)  # noqa: E731
        th = lambda: bt.torch_forward(net, tidx)  # noqa: E731
    else:
        tl = lambda: bt.tinyllm_step(model, opt, idx, targets)  # noqa: E731
        th = lambda: bt.torch_step(net, topt, tidx, ttargets)  # noqa: E731
    tl()
    th()
    ours, theirs, walls = [], [], collections.defaultdict(list)
    for _ in range(ARGS.steps):
        TIMES.clear()
        t0 = CLOCK()
        tl()
        walls["tinyllm"].append(CLOCK() - t0)
        step = dict(TIMES)
        step["(other)"] = walls["tinyllm"][-1] - sum(step.values())
        ours.append(step)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            th()
            walls["torch"].append(time.perf_counter() - t0)
        step = collections.defaultdict(float)
        for e in prof.key_averages():
            if e.self_cpu_time_total > 0:
                step[e.key] += e.self_cpu_time_total / 1e6
        theirs.append(step)
    print(f"config {ARGS.config}, threads {ARGS.threads}, load average {os.getloadavg()}")
    for who, steps in (("tinyllm", ours), ("torch", theirs)):
        keys = sorted({k for s in steps for k in s}, key=lambda k: -np.median([s.get(k, 0) for s in steps]))
        print(f"\n{who}: wall min {1e3 * min(walls[who]):.1f} ms, median {1e3 * np.median(walls[who]):.1f} ms")
        for k in keys:
            v = [1e3 * s.get(k, 0.0) for s in steps]
            if np.median(v) >= 0.2:
                print(f"  {k:60s} min {min(v):8.1f}  median {np.median(v):8.1f}")


if __name__ == "__main__":
    main()
