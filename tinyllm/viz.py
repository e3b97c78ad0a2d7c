"""Plots: the training loss curve (train and validation cross-entropy against the steps)."""

import math


def plot_loss_curve(history, evals, path, floor=None, title="Training loss"):
    """Save a PNG of the train loss (``history``: dicts with step, loss) and the validation loss
    (``evals``: dicts with step, val_loss) to ``path``; ``floor`` draws the entropy floor (nats/token).

    Draws on an Agg canvas directly (no pyplot), so it works without a display and leaves the
    notebook's own backend alone. Returns the matplotlib Figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if history:
        ax.plot([h["step"] for h in history], [h["loss"] for h in history], label="train", lw=1)
    good = [e for e in evals if math.isfinite(e.get("val_loss", float("nan")))]
    if good:
        ax.plot([e["step"] for e in good], [e["val_loss"] for e in good], "o-", label="validation", lw=1.5)
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", lw=1, label=f"entropy floor {floor:.3f}")
    ax.set_yscale("log")        # the first steps fall from ln V; the interesting part is near the floor
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token, log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
