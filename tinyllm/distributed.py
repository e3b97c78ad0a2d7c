"""Data-parallel pre-training over MPI (mpi4py): the same run, its batches split over processes.

``mpiexec -n P tinyllm pretrain ...`` starts P copies of the program (ranks). Every rank holds the
whole model and reads the whole global batch from the same seeded batch source, so the global
batch is exactly the one a one-process run reads; each rank then keeps only its rows
(``shard_rows``: contiguous, the first ``B mod P`` ranks get one row more). The one-process loss
(E3.6 / E3.7) is the mean over the N scored targets of the global batch, and it splits over the
ranks by their counts n_r of scored targets:

    L = (1/N) Σ_i ℓ_i = Σ_r (n_r / N) · L_r,        L_r = (1/n_r) Σ_{i on rank r} ℓ_i         (D1)

so the gradient is ∇L = Σ_r (n_r/N) ∇L_r. Each rank scales its own gradient by n_r/N into one flat
buffer (every parameter's gradient end to end, then the loss and a stop flag) and a single
``Allreduce(SUM)`` of that buffer leaves ∇L on every rank (D2). The optimizer then takes the same
step on every rank from the same numbers, so the weights stay identical without being sent. Rank
0 alone writes checkpoints, metrics and the progress bar. Validation batches are dealt out round
robin; their per-batch sums are all-reduced and added in batch order, giving exactly the
one-process validation loss.

Since the batch source, the optimizer moments and the step are the same on every rank, a checkpoint
does not depend on the number of ranks: ``--resume`` works with any number.

Ctrl-C: a SIGINT that reaches a rank is passed on in the next all-reduce (a flag in the buffer),
so every rank stops after the same update and rank 0 saves. (Ctrl-C on Open MPI's ``mpiexec``
itself kills the ranks at once; ``--resume`` then continues from the last checkpoint.)

With dropout > 0 each rank draws its own masks (seeded from the run's generator and the rank), so
such a run matches a one-process run in distribution, not bit for bit.

mpi4py is imported only when a run has several ranks; ``import tinyllm`` never needs it.
"""

import io
import os
import sys
import time

import numpy as np

from tinyllm.ops.losses import IGNORE_INDEX
from tinyllm.train.evaluate import count_tokens, evaluate_sums, metrics_from_sums, split_batch
from tinyllm.train.trainer import Trainer

MODES = ("auto", "on", "off")

# How launchers tell a process how many ranks they started: Open MPI, MPICH/Intel MPI/Slurm (PMI),
# MVAPICH.
LAUNCHER_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")

INSTALL_HINT = "pip install 'tinyllm[mpi]' (mpi4py and an MPI runtime from PyPI)"

# exit statuses for MPI_Abort: the CLI's (2 for a mistake in the arguments or files)
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, UnicodeDecodeError)


def launched_ranks(environ=None):
    """How many ranks an MPI launcher (mpiexec, mpirun, srun) started; 1 when there is none."""
    environ = os.environ if environ is None else environ
    for var in LAUNCHER_SIZE_VARS:
        value = environ.get(var, "")
        if value.strip().isdigit():
            return int(value)
    return 1


def init(mode="auto"):
    """The MPI context of this process, or None for a plain one-process run.

    mode: "auto" uses MPI when a launcher started several ranks; "on" always uses MPI (it needs
    mpi4py; with one rank it is a one-rank data-parallel run); "off" refuses to run as one of
    several ranks (each would train alone and write to the same folder).
    """
    if mode not in MODES:
        raise ValueError(f"distributed: expected one of {MODES}, got {mode!r}")
    n = launched_ranks()
    if mode == "off":
        if n > 1:
            raise ValueError(f"--distributed off: this process is one of {n} ranks started by mpiexec; "
                             f"run it without mpiexec, or drop --distributed off to train data-parallel")
        return None
    if mode == "auto" and n <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        why = f"mpiexec started {n} ranks" if n > 1 else "--distributed on"
        raise ValueError(f"distributed: {why}, but mpi4py is not installed; {INSTALL_HINT}") from None
    return Context(MPI.COMM_WORLD, MPI)


def shard_rows(n_rows, rank, size):
    """The rows ``[start, stop)`` of a batch of ``n_rows`` that ``rank`` of ``size`` computes.

    Contiguous blocks; the first ``n_rows mod size`` ranks get one row more, and a rank gets no
    rows when there are fewer rows than ranks. The blocks cover every row exactly once.
    """
    base, extra = divmod(int(n_rows), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def shard_batch(batch, rank, size):
    """This rank's rows of a batch dict (every array whose first axis is the batch axis is cut;
    other values are kept), or None when the rank gets no rows."""
    targets = split_batch(batch)[1]
    B = targets.shape[0]
    start, stop = shard_rows(B, rank, size)
    if start == stop:
        return None
    return {k: v[start:stop] if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == B else v
            for k, v in batch.items()}


def scored_targets(batch):
    """N in D1: how many targets of ``batch`` enter the loss (those that are not -100)."""
    return int((split_batch(batch)[1] != IGNORE_INDEX).sum())


class Context:
    """One rank's view of the run: ``rank``, ``size``, and the few collective operations used."""

    def __init__(self, comm, mpi):
        self.comm = comm
        self.MPI = mpi
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    @property
    def is_root(self):
        return self.rank == 0

    def allreduce_(self, buf):
        """Sum ``buf`` (a contiguous NumPy array) over all ranks, in place (D2)."""
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        return buf

    def on_root(self, fn):
        """Run ``fn()`` on rank 0 only (writing files); every rank waits until it is done."""
        result = fn() if self.is_root else None
        self.comm.Barrier()
        return result

    def bcast(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        return self.comm.bcast(value, root=0)

    def root_stream(self, stream):
        """``stream`` on rank 0; elsewhere a sink, so that messages are printed once."""
        return stream if self.is_root else io.StringIO()

    def trainer(self, *args, **kwargs):
        """A ``DistributedTrainer`` for this rank (same arguments as ``Trainer``)."""
        return DistributedTrainer(self, *args, **kwargs)

    def fail(self, error, command="tinyllm"):
        """Report ``error`` and stop every rank (MPI_Abort): a rank that stops alone would leave the
        others waiting forever in the next all-reduce."""
        status = 130 if isinstance(error, KeyboardInterrupt) else 2 if isinstance(error, USER_ERRORS) else 1
        what = f"{type(error).__name__}: {error}" if not isinstance(error, USER_ERRORS) else str(error)
        sys.stderr.write(f"{command}: error on rank {self.rank} of {self.size}: {what}\n"
                         f"{command}: stopping all {self.size} ranks (MPI_Abort, exit status {status})\n")
        sys.stderr.flush()
        self.comm.Abort(status)

    def guard(self, fn, command="tinyllm"):
        """``fn`` wrapped so that an exception on any rank stops every rank with a clear message."""

        def guarded(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except BaseException as e:      # noqa: B036 -- every failure must reach MPI_Abort
                self.fail(e, command)

        return guarded


class DistributedTrainer(Trainer):
    """``Trainer`` for one rank: shards every batch, all-reduces the gradients once per update,
    splits validation, and leaves writing to rank 0. ``comm_time`` accumulates the seconds spent
    in the gradient all-reduce."""

    def __init__(self, ctx, *args, **kwargs):
        if not ctx.is_root:
            kwargs["progress"] = False
        super().__init__(*args, **kwargs)
        self.ctx = ctx
        self.comm_time = 0.0
        self._stop_requested = False
        params = self.model.params
        dtype = next(iter(params.values())).dtype
        n = sum(p.size for p in params.values())
        self._flat = np.zeros(n + 2, dtype)    # (n_params + 2,): every gradient, the loss, a stop flag
        self._grads, offset = {}, 0
        for name, p in params.items():
            self._grads[name] = self._flat[offset: offset + p.size].reshape(p.shape)
            offset += p.size

    def fit(self):
        if self.ctx.is_root and self.progress:
            (self.stream or sys.stderr).write(
                f"data-parallel over {self.ctx.size} MPI ranks: each batch's rows are split between them, "
                f"one all-reduce of {self._flat.nbytes / 1e6:.2f} MB per update\n")
        return super().fit()

    def gradients(self):
        """D1 on this rank's rows of each micro-batch, then one all-reduce (D2): every rank returns
        the one-process (loss, gradients, tokens)."""
        cfg, ctx, flat = self.config, self.ctx, self._flat
        flat[...] = 0
        tokens = 0
        for _ in range(cfg.accum_steps):
            batch = self.train_data.next_batch()        # the whole global batch, the same on every rank
            tokens += count_tokens(batch)
            part = shard_batch(batch, ctx.rank, ctx.size)
            rng = self._dropout_rng()
            n_all = scored_targets(batch)
            n_mine = scored_targets(part) if part is not None else 0
            if n_mine == 0:
                continue
            loss, grads = self.model.loss_and_grads(**part, rng=rng)
            w = flat.dtype.type(n_mine / n_all / cfg.accum_steps)     # n_r / N (D1)
            for name, g in grads.items():
                view = self._grads[name]
                view += g * w
            flat[-2] += float(loss) * float(w)
        flat[-1] = 1.0 if self._stop_requested else 0.0
        t0 = time.perf_counter()
        ctx.allreduce_(flat)                            # D2: one call, every gradient at once
        self.comm_time += time.perf_counter() - t0
        if flat[-1] > 0:        # Ctrl-C reached some rank: every rank stops after this same update
            self._stop = True
        return float(flat[-2]), dict(self._grads), tokens

    def _dropout_rng(self):
        """The run's generator without dropout (nothing is drawn); with dropout, a generator for
        this rank seeded from it, so that ranks draw different masks and the run's generator
        advances the same on every rank."""
        if getattr(self.model.config, "dropout", 0) > 0:
            return np.random.default_rng([int(self.rng.integers(2 ** 62)), self.ctx.rank])
        return self.rng

    def evaluate_val(self):
        """Each rank scores every ``size``-th validation batch; the per-batch sums are all-reduced
        (each row has one non-zero contributor, so the sum is exact) and added in batch order."""
        ctx = self.ctx
        table = np.zeros((len(self.val_batches), 3))      # (n_batches, 3): nll, correct, tokens
        mine = evaluate_sums(self.model, self.val_batches[ctx.rank::ctx.size])
        if mine:
            table[ctx.rank::ctx.size] = mine
        ctx.allreduce_(table)
        return metrics_from_sums([(float(s), int(c), int(n)) for s, c, n in table])

    def _sigint(self, signum, frame):
        # noted here, acted on by every rank together after the next all-reduce
        self._stop_requested = True

    def save(self, name="latest"):
        if self.ctx.is_root:
            return super().save(name)
        if name == "latest" and self.out_dir is not None:
            self.saved_step = self.step
        return None

    def export(self, status=None):
        if self.ctx.is_root:
            super().export(status)

    def write_metrics(self, status=None):
        if self.ctx.is_root:
            super().write_metrics(status)


def pretrain(recipe, out, mode="auto", **kwargs):
    """``tinyllm.train.pretrain.pretrain`` over the ranks that mpiexec started (one process when
    there are none); a failure on any rank stops them all."""
    from tinyllm.train.pretrain import pretrain as run

    ctx = init(mode)
    if ctx is None:
        return run(recipe, out, **kwargs)
    kwargs["stream"] = ctx.root_stream(kwargs.get("stream") or sys.stderr)
    return ctx.guard(run)(recipe, out, dist=ctx, **kwargs)
