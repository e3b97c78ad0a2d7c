"""Pre-training machinery (article §3.2 steps 4 and 7-10): optimizers (S9), learning-rate schedules,
gradient clipping, batch sources, the training loop with validation (E4.1), checkpoints and resume."""

from tinyllm.train.batches import DocumentBatches, WindowBatches, causal_rows, fixed_causal_batches
from tinyllm.train.checkpoint import load_checkpoint_state, save_checkpoint
from tinyllm.train.clip import clip_grad_norm, global_norm
from tinyllm.train.evaluate import evaluate
from tinyllm.train.optim import SGD, Adam, AdamW
from tinyllm.train.schedule import Constant, WarmupCosine, make_schedule
from tinyllm.train.trainer import TrainConfig, Trainer, TrainResult

__all__ = [
    "SGD", "Adam", "AdamW", "Constant", "WarmupCosine", "make_schedule", "clip_grad_norm",
    "global_norm", "DocumentBatches", "WindowBatches", "causal_rows", "fixed_causal_batches",
    "evaluate", "save_checkpoint", "load_checkpoint_state", "TrainConfig", "Trainer", "TrainResult",
]
