"""A plain-text progress bar for training, written to stderr (no tqdm dependency).

On a terminal it redraws one line (``\\r``); elsewhere (logs, notebooks, CI) it prints a new line
every ``every`` steps so the output stays readable.
"""

import sys
import time


def format_duration(seconds):
    """1234 -> '20:34'; 5000 -> '1:23:20'."""
    seconds = int(max(0, round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class ProgressBar:
    """``bar.update(step, loss=..., tokens_per_s=...)``; ``bar.close()`` ends the line."""

    def __init__(self, total, stream=None, width=24, every=10, start_step=0, enabled=True):
        self.total = int(total)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.every = max(1, int(every))
        self.enabled = enabled
        self.start_step = start_step
        self.t0 = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.open = False

    def line(self, step, loss=None, tokens_per_s=None, extra=""):
        """The text of the bar at ``step``."""
        frac = min(1.0, step / self.total) if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.t0
        done = step - self.start_step
        eta = elapsed / done * (self.total - step) if done > 0 else float("nan")
        parts = [f"step {step:>{len(str(self.total))}}/{self.total} [{bar}]"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if tokens_per_s is not None:
            parts.append(f"{tokens_per_s:,.0f} tok/s")
        parts.append(f"{format_duration(elapsed)} elapsed")
        if eta == eta:
            parts.append(f"ETA {format_duration(eta)}")
        if extra:
            parts.append(extra)
        return " | ".join(parts)

    def update(self, step, loss=None, tokens_per_s=None, extra="", force=False):
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self.line(step, loss, tokens_per_s, extra) + "\x1b[K")
            self.open = True
        elif force or step % self.every == 0 or step == self.total:
            self.stream.write(self.line(step, loss, tokens_per_s, extra) + "\n")
        self.stream.flush()

    def write(self, message):
        """Print a message on its own line without breaking the bar."""
        if not self.enabled:
            return
        if self.open:
            self.stream.write("\n")
            self.open = False
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False
