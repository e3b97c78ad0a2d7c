"""Run by ``mpiexec -n P python mpi_worker.py CONFIG.json`` from test_distributed.py (not collected).

CONFIG: {"recipe": Recipe fields, "out": folder, "mode": "auto" | "on", "stop_at": step or null,
"fail_rank": rank or null, "fail_step": step, "sigint_rank": rank or null, "sigint_step": step,
"log": folder or null}. Each rank appends every file the trainer writes (checkpoint or metrics) to
``log/rank<r>.txt``, so the test can see who wrote. At the end rank 0 prints whether every rank
holds the same weights (a CRC of their bytes, gathered).
"""

import json
import os
import signal
import sys
import zlib
from pathlib import Path

import tinyllm.train.trainer as trainer_module
from tinyllm import distributed
from tinyllm.train.pretrain import Recipe


def rank():
    return int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))


def log_writes(folder):
    """Wrap the trainer's two writers so that each call is logged for this rank."""
    path = Path(folder) / f"rank{rank()}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)

    def wrap(fn):
        def logged(target, *args, **kwargs):
            with open(path, "a") as f:
                f.write(f"{Path(target).name}\n")
            return fn(target, *args, **kwargs)
        return logged

    trainer_module.save_checkpoint = wrap(trainer_module.save_checkpoint)
    trainer_module.atomic_write_file = wrap(trainer_module.atomic_write_file)


def main(config_path):
    cfg = json.loads(Path(config_path).read_text())
    if cfg.get("log"):
        log_writes(cfg["log"])

    def callback(trainer):
        if cfg.get("fail_rank") == rank() and trainer.step == cfg.get("fail_step"):
            raise RuntimeError(f"injected failure at step {trainer.step}")
        if cfg.get("stop_at") == trainer.step:
            raise KeyboardInterrupt          # like Ctrl-C: the trainer saves and returns "interrupted"
        if cfg.get("sigint_rank") == rank() and trainer.step == cfg.get("sigint_step"):
            os.kill(os.getpid(), signal.SIGINT)     # a Ctrl-C that reaches this rank only

    result, _, trainer = distributed.pretrain(Recipe(**cfg["recipe"]), cfg["out"], mode=cfg.get("mode", "auto"),
                                              callbacks=[callback], progress=False)
    print(f"rank {rank()}: {result.status} at step {result.step}", flush=True)
    crc = 0
    for p in trainer.model.params.values():
        crc = zlib.crc32(p.tobytes(), crc)
    crcs = trainer.ctx.comm.allgather(crc) if hasattr(trainer, "ctx") else [crc]
    if rank() == 0:
        print(f"identical weights on all {len(crcs)} ranks: {len(set(crcs)) == 1}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
