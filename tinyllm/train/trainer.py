"""The training loop (article §3.2 steps 7-10): optimise, validate, stop early, save, resume.

    trainer = Trainer(model, train_data, val_batches, TrainConfig(steps=1000), tokenizer=tok,
                      out_dir="runs/gpt")
    result = trainer.fit()          # result.status: completed | early_stopped | interrupted | diverged

``train_data`` is a batch source: ``next_batch()`` returns a dict of keyword arguments for
``model.loss_and_grads`` and ``state_dict()/load_state_dict()`` capture where it is (see
``tinyllm.train.batches``). ``val_batches`` is a fixed list of such dicts.

Output folder (``out_dir``):

    config.json, model.safetensors, tokenizer files  the best model (lowest validation loss)
    checkpoints/latest/, checkpoints/best/           full checkpoints (tinyllm.train.checkpoint)
    metrics.json, loss_curve.png                     the history and its plot

Every save is atomic; the run resumes exactly (``Trainer.restore`` then ``fit``): N steps in one
go and N/2 + resume + N/2 give bit-identical losses. A NaN/inf loss or gradient stops the run and
leaves the last good checkpoint in place; Ctrl-C finishes the current step, saves and returns.
"""

import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from tinyllm.train.checkpoint import (
    TOKENIZER_FILES,
    CheckpointError,
    CheckpointMismatch,
    atomic_copy_file,
    atomic_write_file,
    load_checkpoint_state,
    resolve_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from tinyllm.train.clip import clip_grad_norm, global_norm
from tinyllm.train.evaluate import count_tokens, evaluate
from tinyllm.train.optim import SGD, Adam, AdamW
from tinyllm.train.progress import ProgressBar
from tinyllm.train.schedule import make_schedule

MODEL_FILES = ("config.json", "model.safetensors") + TOKENIZER_FILES


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (§3.2 steps 7-9)."""

    steps: int = 1000
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 50
    schedule: str = "cosine"            # "cosine" (warm-up + cosine, S9) or "constant"
    optimizer: str = "adamw"            # "adamw" | "adam" | "sgd"
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    eps: float = 1e-8
    momentum: float = 0.9               # SGD only
    decay_embeddings: bool = False
    grad_clip: float = 1.0              # global-norm clipping (S9); 0 = off
    accum_steps: int = 1                # gradient accumulation: micro-batches per update
    eval_every: int = 100
    save_every: int = 0                 # extra "latest" saves between evaluations; 0 = only at evals
    patience: int = 0                   # early stopping: evaluations without improvement; 0 = off
    min_delta: float = 0.0
    log_every: int = 10
    seed: int = 0
    extra: dict = field(default_factory=dict)   # free-form run metadata (corpus, floor, ...)

    def __post_init__(self):
        ints = ("steps", "warmup", "accum_steps", "eval_every", "save_every", "patience", "log_every")
        for name in ints:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"TrainConfig.{name}: expected an int >= 0, got {v!r}")
        for name in ("steps", "accum_steps", "log_every", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}: expected an int >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig.lr: expected a finite number > 0, got {self.lr}")
        if self.optimizer not in ("adamw", "adam", "sgd"):
            raise ValueError(f"TrainConfig.optimizer: expected 'adamw', 'adam' or 'sgd', got {self.optimizer!r}")
        for name in ("min_lr", "weight_decay", "eps", "grad_clip", "min_delta", "momentum"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not (
                    math.isfinite(v) and v >= 0):
                raise ValueError(f"TrainConfig.{name}: expected a finite number >= 0, got {v!r}")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(isinstance(b, (int, float, np.number)) and 0 <= b < 1
                                           for b in self.betas):
            raise ValueError(f"TrainConfig.betas: expected two numbers in [0, 1), got {self.betas!r}")
        make_schedule(self.schedule, self.lr, self.steps, min(self.warmup, self.steps), min(self.min_lr, self.lr))

    def to_dict(self):
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainResult:
    """What ``Trainer.fit`` ended with."""

    status: str                 # completed | early_stopped | interrupted | diverged
    step: int
    train_loss: float
    best_val_loss: float
    message: str = ""
    out_dir: str = None


def build_optimizer(params, cfg):
    """The optimizer named by ``cfg.optimizer`` (S9) over ``params``."""
    common = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, decay_embeddings=cfg.decay_embeddings)
    if cfg.optimizer == "adamw":
        return AdamW(params, betas=cfg.betas, eps=cfg.eps, **common)
    if cfg.optimizer == "adam":
        return Adam(params, betas=cfg.betas, eps=cfg.eps, **common)
    return SGD(params, momentum=cfg.momentum, **common)


class Trainer:
    """Runs the loop; see the module docstring. ``callbacks`` are called as ``cb(trainer)`` after
    every completed step (a callback may raise KeyboardInterrupt to stop like Ctrl-C)."""

    def __init__(self, model, train_data, val_batches=None, config=None, tokenizer=None,
                 out_dir=None, callbacks=(), progress=True, stream=None):
        self.model = model
        self.train_data = train_data
        self.val_batches = list(val_batches) if val_batches is not None else []
        self.config = config if config is not None else TrainConfig()
        self.tokenizer = tokenizer
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = list(callbacks)
        self.progress = progress
        self.stream = stream
        cfg = self.config
        self.optimizer = build_optimizer(model.params, cfg)
        self.schedule = make_schedule(cfg.schedule, cfg.lr, cfg.steps, min(cfg.warmup, cfg.steps),
                                      min(cfg.min_lr, cfg.lr))
        self.rng = np.random.default_rng(cfg.seed)      # dropout randomness
        self.step = 0
        self.history = []           # one dict per logged step: step, loss, lr, grad_norm, tokens_per_s
        self.evals = []             # one dict per evaluation: step, val_loss, val_ppl, val_accuracy
        self.best_val_loss = float("inf")
        self.best_step = None
        self.bad_evals = 0
        self.last_loss = float("nan")
        self.tokens_seen = 0
        self.train_time = 0.0
        self.saved_step = None      # step of the newest checkpoints/latest
        self._stop = False
        self._in_step = False

    # -- state --------------------------------------------------------------------------------

    def state(self):
        """The JSON-able trainer state saved beside the model (everything but params and moments)."""
        return {
            "step": self.step,
            "model_class": type(self.model).__name__,
            "dtype": str(next(iter(self.model.params.values())).dtype),
            "train_config": self.config.to_dict(),
            "rng": rng_state(self.rng),
            "data": self.train_data.state_dict(),
            "history": self.history,
            "evals": self.evals,
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "last_loss": self.last_loss if math.isfinite(self.last_loss) else None,
            "tokens_seen": self.tokens_seen,
            "train_time": self.train_time,
        }

    def restore(self, folder=None):
        """Load params, optimizer moments, RNG, data position and history from a checkpoint
        (default ``out_dir/checkpoints/latest``) so that ``fit`` continues exactly."""
        folder = Path(folder) if folder is not None else self._ckpt_dir("latest")
        real = resolve_checkpoint(folder)
        if real is None:
            raise FileNotFoundError(f"resume: no checkpoint found at {folder}")
        state, arrays = load_checkpoint_state(real)
        kind = state.get("model_class", type(self.model).__name__)
        if kind != type(self.model).__name__:
            raise CheckpointMismatch(f"checkpoint: {real} holds a {kind!r} checkpoint, this run trains a "
                                  f"{type(self.model).__name__}"[:300])
        try:
            loaded = type(self.model).from_pretrained(str(real), dtype=np.dtype(state["dtype"]))
        except (ValueError, TypeError, KeyError, OSError) as e:
            raise CheckpointError(f"checkpoint: the model in {real} cannot be loaded ({e})") from None
        for name, p in self.model.params.items():
            if name not in loaded.params or loaded.params[name].shape != p.shape:
                raise CheckpointMismatch(f"resume: checkpoint parameter {name!r} is missing or has another "
                                         f"shape ({loaded.params[name].shape if name in loaded.params else None}, "
                                         f"the run's model has {p.shape})")
            p[...] = loaded.params[name]
        try:
            if "optimizer" in state:
                self.optimizer.load_flat_state(state["optimizer"], arrays)
            set_rng_state(self.rng, state["rng"])
            self.train_data.load_state_dict(state["data"])
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise CheckpointError(f"checkpoint: the optimizer, RNG or data state in {real} does not fit "
                                  f"this run ({type(e).__name__}: {e})") from None
        self.step = int(state["step"])
        self.history = state["history"]
        self.evals = state["evals"]
        self.best_val_loss = state["best_val_loss"] if state["best_val_loss"] is not None else float("inf")
        self.best_step = state["best_step"]
        self.bad_evals = state["bad_evals"]
        self.last_loss = state["last_loss"] if state["last_loss"] is not None else float("nan")
        self.tokens_seen = state["tokens_seen"]
        self.train_time = state["train_time"]
        self.saved_step = self.step
        return self

    # -- saving -------------------------------------------------------------------------------

    def _ckpt_dir(self, name):
        return self.out_dir / "checkpoints" / name

    def save(self, name="latest"):
        """Atomically write the full checkpoint ``out_dir/checkpoints/NAME``."""
        if self.out_dir is None:
            return None
        folder = self._ckpt_dir(name)
        save_checkpoint(folder, self.model, self.tokenizer, self.optimizer, self.state())
        if name == "latest":
            self.saved_step = self.step
        if name == "best" or resolve_checkpoint(self._ckpt_dir("best")) is None:
            self.publish_model()        # the top level is a usable model from the first checkpoint on
        return folder

    def publish_model(self):
        """Put the best checkpoint's model and tokenizer (the latest one without validation) at the
        top of ``out_dir``, one atomic replace per file."""
        src = resolve_checkpoint(self._ckpt_dir("best")) or resolve_checkpoint(self._ckpt_dir("latest"))
        if src is None:
            return
        for name in MODEL_FILES:
            if (src / name).exists():
                atomic_copy_file(src / name, self.out_dir / name)

    def export(self, status=None):
        """``publish_model``, then write metrics.json and loss_curve.png."""
        if self.out_dir is None:
            return
        self.publish_model()
        self.write_metrics(status)
        if self.history or self.evals:
            from tinyllm.viz import plot_loss_curve

            floor = self.config.extra.get("entropy_floor")
            plot_loss_curve(self.history, self.evals, self.out_dir / "loss_curve.png", floor=floor)

    def write_metrics(self, status=None):
        if self.out_dir is None:
            return
        metrics = {
            "status": status,
            "step": self.step,
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "best_step": self.best_step,
            "tokens_seen": self.tokens_seen,
            "train_time_s": round(self.train_time, 3),
            "tokens_per_s": round(self.tokens_seen / self.train_time, 1) if self.train_time > 0 else None,
            "train_config": self.config.to_dict(),
            "history": self.history,
            "evals": self.evals,
        }
        atomic_write_file(self.out_dir / "metrics.json", json.dumps(metrics, indent=1))

    # -- the loop -----------------------------------------------------------------------------

    def train_step(self):
        """One update: accumulate ``accum_steps`` micro-batch gradients, clip (S9), step the
        optimizer at the scheduled rate. Returns (loss, grad_norm, tokens); does not update when
        the loss or the gradient is not finite."""
        cfg = self.config
        loss, total, tokens = self.gradients()
        if not math.isfinite(loss):
            return loss, float("nan"), tokens
        norm = clip_grad_norm(total, cfg.grad_clip) if cfg.grad_clip > 0 else global_norm(total)
        if not math.isfinite(norm):
            return loss, norm, tokens
        self.optimizer.step(total, lr=self.schedule(self.step))
        self.step += 1
        return loss, norm, tokens

    def gradients(self):
        """The update's mean loss and gradients over ``accum_steps`` micro-batches, and the tokens
        read: (loss, grads, tokens). ``tinyllm.distributed`` overrides it to shard each batch over
        MPI ranks and all-reduce the result."""
        cfg = self.config
        total, loss_sum, tokens = None, 0.0, 0
        for _ in range(cfg.accum_steps):
            batch = self.train_data.next_batch()
            loss, grads = self.model.loss_and_grads(**batch, rng=self.rng)
            loss_sum += float(loss)
            tokens += count_tokens(batch)
            if total is None:
                total = grads
            else:
                for k, g in grads.items():
                    total[k] += g
        if cfg.accum_steps > 1:
            for g in total.values():
                g *= g.dtype.type(1.0 / cfg.accum_steps)
        return loss_sum / cfg.accum_steps, total, tokens

    def run_eval(self):
        """Evaluate on the validation batches, record the result, save best/latest checkpoints."""
        m = self.evaluate_val()
        record = {"step": self.step, "val_loss": m["loss"], "val_ppl": m["ppl"],
                  "val_accuracy": m["accuracy"], "val_tokens": m["tokens"]}
        self.evals.append(record)
        improved = m["loss"] < self.best_val_loss - self.config.min_delta
        if improved:
            self.best_val_loss = m["loss"]
            self.best_step = self.step
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        self.save("latest")
        if improved:
            self.save("best")
        return record

    def evaluate_val(self):
        """Validation metrics over ``val_batches`` (``tinyllm.distributed`` splits them over ranks)."""
        return evaluate(self.model, self.val_batches)

    def _sigint(self, signum, frame):
        if self._stop:                      # second Ctrl-C: stop right now
            raise KeyboardInterrupt
        self._stop = True

    def fit(self):
        """Train until ``config.steps`` updates (or early stopping, Ctrl-C, NaN); returns TrainResult."""
        cfg = self.config
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        # off a terminal (logs, notebooks) print about 25 lines per run, at multiples of log_every
        every = cfg.log_every * max(1, cfg.steps // 25 // cfg.log_every)
        bar = ProgressBar(cfg.steps, stream=self.stream, every=every, start_step=self.step,
                          enabled=bool(self.progress))
        handler_installed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._sigint)
            handler_installed = True
        self._stop = False
        status, message = "completed", ""
        window_loss, window_n = 0.0, 0
        t_window, tok_window = time.perf_counter(), 0
        try:
            while self.step < cfg.steps:
                if self._stop:
                    raise KeyboardInterrupt
                t0 = time.perf_counter()
                self._in_step = True
                loss, norm, tokens = self.train_step()
                self._in_step = False
                self.train_time += time.perf_counter() - t0
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    status = "diverged"
                    what = "loss" if not math.isfinite(loss) else "gradient norm"
                    kept = (f"the last good checkpoint (step {self.saved_step}) is kept"
                            if self.saved_step is not None else "no checkpoint had been saved yet")
                    message = (f"stopped: the {what} became {loss if what == 'loss' else norm} at step "
                               f"{self.step + 1}; {kept}. Try a lower --lr or a smaller grad clip.")
                    break
                self.last_loss = loss
                self.tokens_seen += tokens
                window_loss, window_n, tok_window = window_loss + loss, window_n + 1, tok_window + tokens
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    now = time.perf_counter()
                    tps = tok_window / max(now - t_window, 1e-9)
                    self.history.append({"step": self.step, "loss": window_loss / window_n,
                                         "lr": self.schedule(self.step - 1), "grad_norm": norm,
                                         "tokens_per_s": tps})
                    bar.update(self.step, loss=window_loss / window_n, tokens_per_s=tps)
                    window_loss, window_n, t_window, tok_window = 0.0, 0, now, 0
                evaluated = False
                if self.val_batches and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    rec = self.run_eval()
                    evaluated = True
                    bar.write(f"step {self.step}: val loss {rec['val_loss']:.4f}, "
                              f"perplexity {rec['val_ppl']:.3f}, accuracy {rec['val_accuracy']:.3f}")
                    if cfg.patience and self.bad_evals >= cfg.patience:
                        status = "early_stopped"
                        message = (f"early stop at step {self.step}: no improvement in {cfg.patience} "
                                   f"evaluations (best {self.best_val_loss:.4f} at step {self.best_step})")
                        break
                if not evaluated and self.out_dir is not None and (
                        (cfg.save_every and self.step % cfg.save_every == 0)
                        or (not self.val_batches and self.step == cfg.steps)):
                    self.save("latest")
                for cb in self.callbacks:
                    cb(self)
        except KeyboardInterrupt:
            status = "interrupted"
            if self._in_step:
                # a second Ctrl-C landed inside an update: the state may be half-updated, keep the
                # last complete checkpoint instead of saving this one
                message = (f"interrupted inside step {self.step + 1}; not saved, the last checkpoint "
                           f"(step {self.saved_step}) is kept")
            elif self.out_dir is not None:
                if self.saved_step != self.step:
                    self.save("latest")
                message = (f"interrupted at step {self.step}; saved to {self._ckpt_dir('latest')}, "
                           f"resume with --resume")
            else:
                message = f"interrupted at step {self.step}; nothing saved (no out_dir)"
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, previous)
            bar.close()
        if status in ("completed", "early_stopped") and self.out_dir is not None and self.saved_step != self.step:
            self.save("latest")
        self.export(status)
        if message:
            bar.write(message)
        return TrainResult(status=status, step=self.step, train_loss=self.last_loss,
                           best_val_loss=self.best_val_loss, message=message,
                           out_dir=str(self.out_dir) if self.out_dir is not None else None)
