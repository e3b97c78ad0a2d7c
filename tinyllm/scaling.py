"""A scaling law in miniature (article §8): TinyWorld loss above its entropy floor against model size
N and training tokens D, a fitted power law, and its prediction for a larger model.

    from tinyllm import scaling
    tok, val = scaling.tokenizer(), scaling.validation_set()
    row = scaling.train_run(2, 32, 50_000, seed=0, val=val)     # one (N, D) point: row["reducible"]
    fit = scaling.fit_power_law(N, D, reducible)                # L - floor = A/N^alpha + B/D^beta
    scaling.predict(fit, 10 * N.max(), D.max())

What is measured. A GPT (``tinyllm.models.GPT``, pre-LN, context 48, one head per 16 dimensions)
is trained with AdamW (S9) on the causal-LM loss (E3.6) for one pass over fresh TinyWorld training
documents: every document is read once, so D, the number of target tokens the model has been
trained on, is also the amount of data. The learning rate warms up linearly and decays by a cosine
to zero exactly at the run's last step, one schedule per (N, D) as Hoffmann et al. (2022) do. It is
then scored on fixed validation documents: the mean NLL per token (E4.1). TinyWorld knows the exact
probability of each of its texts, so the loss that no model can remove is known too: the practical
floor ``tinyworld.entropy_floor`` of those same documents (the generator's own cross-entropy; see
``tinyllm.data.tinyworld``). The *reducible loss* is ``val_loss - floor`` (nats per token).

Counting N as Kaplan et al. (2020) do: the non-embedding parameters, i.e. every parameter except
the token embedding (which is also the tied output projection, S8) and the position embedding.
Per block 12 d^2 + 13 d (W_Q, W_K, W_V, W_O: 4 d^2 + 4 d; FFN with d_ff = 4d: 8 d^2 + 5 d;
two LayerNorms: 4 d), plus 2 d for the final LayerNorm; Kaplan's approximation is 12 L d^2.

The law. Kaplan et al.'s additive form with both terms, which is also Hoffmann et al.'s
``E + A/N^alpha + B/D^beta`` with the irreducible E fixed at 0 because the floor is subtracted
exactly:

    L(N, D) - floor = A / N^alpha + B / D^beta = (N_c / N)^alpha + (D_c / D)^beta

fitted by least squares on the logs (each point's relative error counts equally) with a
Levenberg-Marquardt loop in NumPy from a grid of starting exponents (``fit_power_law``); its
uncertainty is a bootstrap over the runs (``bootstrap_fit``).
"""

import math
import time

import numpy as np

CONTEXT = 48            # the model's max_len: a framed TinyWorld document has at most 43 tokens
HEAD_DIM = 16           # one attention head per 16 model dimensions (at least one head)
BATCH_DOCS = 8          # documents per training step (about 215 target tokens)
PARAM_NAMES = ("A", "alpha", "B", "beta")
MIN_SPAN = 1.5          # the largest N (and D) of a fit must be at least 1.5x the smallest


# ----------------------------------------------------------------------------- counting


def n_head_for(d_model):
    """The number of heads of a model of width ``d_model``: d_model // 16, at least 1, and it must
    divide d_model (E3.4: the heads split the width evenly)."""
    if isinstance(d_model, bool) or not isinstance(d_model, (int, np.integer)) or d_model < 1:
        raise ValueError(f"d_model must be a positive int, got {d_model!r}")
    h = max(1, int(d_model) // HEAD_DIM)
    if d_model % h:
        raise ValueError(f"d_model={d_model}: {h} heads of {HEAD_DIM} do not split it evenly; "
                         f"choose a multiple of {h}")
    return h


def non_embedding_params(model):
    """Kaplan et al.'s N: the number of parameters of ``model`` that are not the token embedding
    (nor the tied output projection, which is the same array, S8) or the position embedding."""
    return int(sum(p.size for name, p in model.params.items() if name not in ("tok_emb", "pos_emb")))


def count_non_embedding_params(n_layer, d_model, d_ff=None):
    """N of a GPT from its shape, without building it: L (12 d^2 + 13 d) + 2 d for d_ff = 4 d.

    In general per block: attention 4 d^2 + 4 d, FFN 2 d d_ff + d_ff + d, two LayerNorms 4 d; and
    the final LayerNorm 2 d."""
    d_ff = 4 * d_model if d_ff is None else d_ff
    per_block = 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model
    return int(n_layer * per_block + 2 * d_model)


def kaplan_approx_params(n_layer, d_model):
    """Kaplan et al.'s approximation of N: 12 L d^2 (biases and LayerNorms left out)."""
    return 12 * n_layer * d_model * d_model


def training_flops(N, D):
    """Training compute C = 6 N D floating-point operations (2 N per token forward, 4 N backward;
    Kaplan et al. 2020), the attention and embedding terms left out as they do."""
    return 6.0 * np.asarray(N, dtype=np.float64) * np.asarray(D, dtype=np.float64)


# ----------------------------------------------------------------------------- data


def tokenizer():
    """TinyWorld's word tokenizer (one-to-one on the text, so the entropy floor applies)."""
    from tinyllm.data import tinyworld

    return tinyworld.tokenizer()


def train_documents(n_tokens, seed, tok=None):
    """Framed training documents ``[BOS] text [EOS]`` of TinyWorld's train split, drawn with
    ``seed``, enough that their target tokens (the length of each minus 1) add up to ``n_tokens``.

    The list for a smaller ``n_tokens`` is a prefix of the one for a larger, so the data of a short
    run is the start of the data of a longer one.
    """
    from tinyllm.data import tinyworld
    from tinyllm.data.framing import frame_causal

    if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer)) or n_tokens < 1:
        raise ValueError(f"n_tokens must be a positive int, got {n_tokens!r}")
    tok = tok or tokenizer()
    n_docs = n_tokens // 20 + 64          # a document has at least 17 targets, about 27 on average
    while True:
        docs = tinyworld.sample(n_docs, seed=seed, split="train")
        framed = [frame_causal(tok.encode(d.text), tok.bos_id, tok.eos_id) for d in docs]
        ends = np.cumsum([len(f) - 1 for f in framed])                  # (n_docs,) targets so far
        if ends[-1] >= n_tokens:
            return framed[: int(np.searchsorted(ends, n_tokens)) + 1]
        n_docs *= 2


def validation_set(n_docs=1000, seed=7, tok=None, batch_docs=100):
    """Fixed validation batches of TinyWorld's validation split, with their floors.

    Returns {"batches": [{"idx": (B, T), "targets": (B, T)}, ...], "tokens": scored targets,
    "floor": ``tinyworld.entropy_floor`` of these documents (the practical floor, nats/token),
    "floor_split": ``tinyworld.split_entropy_floor`` (the exact floor of the split, lower by
    ln 10 per document), "n_docs", "seed"}.
    """
    from tinyllm.data import tinyworld
    from tinyllm.data.framing import frame_causal
    from tinyllm.train.batches import fixed_causal_batches

    tok = tok or tokenizer()
    docs = tinyworld.sample(n_docs, seed=seed, split="validation")
    framed = [frame_causal(tok.encode(d.text), tok.bos_id, tok.eos_id) for d in docs]
    batches = fixed_causal_batches(framed, batch_docs, tok.pad_id, CONTEXT)
    return {"batches": batches, "tokens": int(sum(len(f) - 1 for f in framed)),
            "floor": float(tinyworld.entropy_floor(docs, tok)),
            "floor_split": float(tinyworld.split_entropy_floor(docs, tok, "validation")),
            "n_docs": n_docs, "seed": seed}


# ----------------------------------------------------------------------------- one run


def default_lr(d_model):
    """The peak learning rate of a run: 0.64 / d_model (1e-2 at width 64; Adam's step shrinks as
    1 / width, muP's rule for hidden matrices). Chosen by trials at D = 100k tokens (50k at width
    204), where it was the best or next to the best value tried: width 16: 1e-2, 3e-2, 4e-2;
    32: 1e-2, 2e-2; 64: 3e-3, 1e-2, 2e-2; 204: 3e-3, 6e-3."""
    return 0.64 / d_model


def make_model(n_layer, d_model, seed, tok=None):
    """The GPT of one run: vocabulary of ``tok``, context 48, d_model // 16 heads, seeded init."""
    from tinyllm.models import GPT, GPTConfig

    tok = tok or tokenizer()
    cfg = GPTConfig(vocab_size=len(tok), n_layer=n_layer, n_head=n_head_for(d_model), d_model=d_model,
                    max_len=CONTEXT)
    return GPT(cfg, seed=seed)


def train_run(n_layer, d_model, n_tokens, seed=0, *, val=None, docs=None, tok=None, lr=None,
              batch_docs=BATCH_DOCS, warmup_frac=0.05, weight_decay=0.1, clip=1.0, return_model=False):
    """Train one GPT for one pass over ``n_tokens`` target tokens of fresh TinyWorld documents and
    score it on ``val`` (E3.6 training, E4.1 validation). Deterministic for a seed and thread count.

    seed: the weights' initialisation and the documents (``train_documents(n_tokens, seed)``; pass
    ``docs``, a longer list from the same call, to avoid drawing them again: its prefix is used).
    The learning rate (``default_lr`` unless given) warms up over ``warmup_frac`` of the steps and
    decays by a cosine to 0 at the last step (S9); gradients are clipped to norm ``clip``.
    Returns a row: n_layer, d_model, n_head, N (non-embedding), params (all), D (tokens trained
    on), n_tokens (the amount asked for), steps, seed, lr, val_loss, floor, reducible
    (= val_loss - floor), train_loss (mean of the last 10 steps), seconds and cpu_seconds (wall
    and CPU time of this process, training and scoring).
    With ``return_model=True``: (row, the trained model).
    """
    from tinyllm.data.framing import causal_batch
    from tinyllm.train.clip import clip_grad_norm
    from tinyllm.train.evaluate import evaluate
    from tinyllm.train.optim import AdamW
    from tinyllm.train.schedule import WarmupCosine

    if isinstance(n_layer, bool) or not isinstance(n_layer, (int, np.integer)) or n_layer < 1:
        raise ValueError(f"n_layer must be a positive int, got {n_layer!r}")
    tok = tok or tokenizer()
    t0, c0 = time.time(), time.process_time()
    val = val if val is not None else validation_set(tok=tok)
    if docs is None:
        docs = train_documents(n_tokens, seed, tok)
    ends = np.cumsum([len(f) - 1 for f in docs])                          # (n_docs,)
    if ends[-1] < n_tokens:
        raise ValueError(f"docs hold {int(ends[-1])} target tokens, fewer than n_tokens={n_tokens}")
    n_docs = int(np.searchsorted(ends, n_tokens)) + 1                     # one pass over these
    steps = -(-n_docs // batch_docs)
    lr = default_lr(d_model) if lr is None else float(lr)
    schedule = WarmupCosine(lr, total=steps, warmup=max(1, int(warmup_frac * steps)))
    model = make_model(n_layer, d_model, seed, tok)
    opt = AdamW(model.params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)
    seen, losses = 0, []
    for step in range(steps):
        x, y = causal_batch(docs[step * batch_docs: min(n_docs, (step + 1) * batch_docs)],
                            tok.pad_id, CONTEXT)                          # (B, T) each
        seen += int((y >= 0).sum())
        loss, grads = model.loss_and_grads(x, y)                          # E3.6
        if not math.isfinite(loss):
            raise FloatingPointError(f"L={n_layer} d={d_model}: loss became {loss} at step {step}")
        clip_grad_norm(grads, clip)
        opt.step(grads, lr=schedule(step))
        losses.append(loss)
    val_loss = evaluate(model, val["batches"])["loss"]                    # E4.1, nats per token
    row = {"n_layer": int(n_layer), "d_model": int(d_model), "n_head": model.config.n_head,
           "N": non_embedding_params(model), "params": model.num_params(), "D": seen,
           "n_tokens": int(n_tokens), "steps": steps, "seed": int(seed), "lr": lr,
           "val_loss": float(val_loss), "floor": val["floor"], "reducible": float(val_loss - val["floor"]),
           "train_loss": float(np.mean(losses[-10:])),
           "seconds": round(time.time() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2)}
    return (row, model) if return_model else row


def run_key(row):
    """What identifies a run of the grid: (n_layer, d_model, n_tokens, seed)."""
    return (row["n_layer"], row["d_model"], row["n_tokens"], row["seed"])


def run_grid(sizes, token_amounts, seeds=(0,), *, n_layer=2, val=None, tok=None, log=None, done=(), **kwargs):
    """``train_run`` for every width in ``sizes`` x every amount in ``token_amounts`` x every seed;
    returns the list of rows (documents drawn once per seed). ``log(row)`` is called after each new
    run. ``done``: rows of earlier runs (a resumed grid), reused for their ``run_key`` instead of
    training again (a run is deterministic, so the row would be the same)."""
    tok = tok or tokenizer()
    val = val if val is not None else validation_set(tok=tok)
    done = {run_key(r): r for r in done}
    rows = []
    for seed in seeds:
        docs = None
        for d_model in sizes:
            for n_tokens in token_amounts:
                key = (int(n_layer), int(d_model), int(n_tokens), int(seed))
                if key in done:
                    rows.append(done[key])
                    continue
                if docs is None:
                    docs = train_documents(int(max(token_amounts)), seed, tok)
                rows.append(train_run(n_layer, int(d_model), int(n_tokens), seed, val=val, docs=docs,
                                      tok=tok, **kwargs))
                if log is not None:
                    log(rows[-1])
    return rows


# The experiment of scripts/scaling_results.py (results/scaling.json): 5 widths x 3 amounts x 2
# seeds of 2-layer GPTs, then a width-204 model with 10x the largest N, at the largest D.
GRID = {"n_layer": 2, "sizes": (16, 24, 32, 48, 64), "tokens": (40_000, 80_000, 160_000), "seeds": (0, 1),
        "check_d_model": 204, "val_docs": 1000}
# The slice the chapter runs live (about a minute on one core): 3 widths x 2 amounts, one seed.
QUICK = {"n_layer": 2, "sizes": (16, 32, 64), "tokens": (10_000, 20_000), "seeds": (0,), "val_docs": 300}


def quick_slice(sizes=QUICK["sizes"], tokens=QUICK["tokens"], seed=0, val_docs=QUICK["val_docs"], log=None):
    """The quick slice: ``run_grid`` of 2-layer GPTs over ``sizes`` x ``tokens`` with one seed,
    scored on ``val_docs`` validation documents; returns the rows (see ``train_run``)."""
    tok = tokenizer()
    val = validation_set(n_docs=val_docs, tok=tok)
    return run_grid(sizes, tokens, (seed,), n_layer=QUICK["n_layer"], val=val, tok=tok, log=log)


# ----------------------------------------------------------------------------- the fit


def _check_points(N, D, L):
    """Validated float64 arrays (n,) of N, D and L, for a fit of the 4 parameters."""
    arrays = []
    for name, a in (("N", N), ("D", D), ("L", L)):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got {a[~np.isfinite(a)][:3]}")
        if np.any(a <= 0):
            raise ValueError(f"{name} must be positive (a power law is fitted on logs); got "
                             f"{a[a <= 0][:3]}: a loss at or below the floor has no reducible part")
        arrays.append(a)
    N, D, L = arrays
    if not len(N) == len(D) == len(L):
        raise ValueError(f"N, D and L must have the same length, got {len(N)}, {len(D)}, {len(L)}")
    if len(L) <= len(PARAM_NAMES):
        raise ValueError(f"need more points than the law's {len(PARAM_NAMES)} parameters "
                         f"{PARAM_NAMES}, got {len(L)}")
    if len(np.unique(N)) < 2 or len(np.unique(D)) < 2:
        raise ValueError(f"need at least 2 distinct N and 2 distinct D to separate the two terms, "
                         f"got {len(np.unique(N))} and {len(np.unique(D))}")
    for name, a in (("N", N), ("D", D)):
        if a.max() / a.min() < MIN_SPAN:
            raise ValueError(f"{name} spans only a factor {a.max() / a.min():.4g} (< {MIN_SPAN}): its "
                             f"exponent cannot be told from a constant")
    return N, D, L


def _residuals(theta, x, z, logL):
    """log(u + v) - log L with u = exp(a - alpha x), v = exp(b - beta z); returns (r, u, v), each (n,)."""
    a, alpha, b, beta = theta
    u = np.exp(np.clip(a - alpha * x, -700, 700))
    v = np.exp(np.clip(b - beta * z, -700, 700))
    return np.log(u + v) - logL, u, v


def _levenberg_marquardt(theta, x, z, logL, iters=300):
    """Minimise sum r^2 (``_residuals``) over theta = (log A', alpha, log B', beta) from a start.

    Gauss-Newton steps (J^T J + lam diag(J^T J)) step = -J^T r with the Jacobian
    dr/d(a, alpha, b, beta) = (u, -u x, v, -v z) / (u + v); lam shrinks after a step that lowers
    the cost and grows after one that does not. Returns (theta, cost).
    """
    theta = np.asarray(theta, dtype=np.float64)
    r, u, v = _residuals(theta, x, z, logL)
    cost, lam = float(r @ r), 1e-3
    for _ in range(iters):
        s = u + v
        J = np.stack([u / s, -u * x / s, v / s, -v * z / s], axis=1)      # (n, 4)
        H, g = J.T @ J, J.T @ r                                            # (4, 4), (4,)
        try:
            step = np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-12), -g)
        except np.linalg.LinAlgError:
            lam *= 10
            continue
        new = theta + step
        r2, u2, v2 = _residuals(new, x, z, logL)
        c2 = float(r2 @ r2)
        if np.isfinite(c2) and c2 < cost:
            done = cost - c2 < 1e-13 * (1 + cost)
            theta, r, u, v, cost, lam = new, r2, u2, v2, c2, max(lam / 3, 1e-12)
            if done:
                break
        else:
            lam *= 4
            if lam > 1e12:
                break
    return theta, cost


def fit_power_law(N, D, L, exponents=(0.1, 0.25, 0.5, 1.0, 2.0)):
    """Fit L = A / N^alpha + B / D^beta (L: the reducible loss, floor already subtracted) by least
    squares on the logs, sum_i (log(A N_i^-alpha + B D_i^-beta) - log L_i)^2.

    N, D, L: (n,) positive, n > 4, with at least 2 distinct N and 2 distinct D, each spanning a
    factor of at least ``MIN_SPAN`` (ValueError otherwise). N and D are scaled by their geometric means inside the fit (well-conditioned
    numbers); every pair of starting exponents in ``exponents`` x ``exponents`` gets A and B from a
    linear least squares on relative errors, then ``_levenberg_marquardt``; the lowest cost wins.
    Exponents at or below 0 are not used as starts. Returns {"A", "alpha", "B", "beta", "N_c", "D_c" (Kaplan's form (N_c/N)^alpha + (D_c/D)^beta),
    "rmse_log" (root mean square of the log residuals), "n"}.
    """
    N, D, L = _check_points(N, D, L)
    N0, D0 = float(np.exp(np.log(N).mean())), float(np.exp(np.log(D).mean()))
    x, z, logL = np.log(N / N0), np.log(D / D0), np.log(L)                # (n,) each
    best = None
    exponents = [e for e in exponents if e > 0]
    for alpha in exponents:
        for beta in exponents:
            X = np.stack([np.exp(-alpha * x), np.exp(-beta * z)], axis=1) / L[:, None]   # (n, 2)
            coef = np.linalg.lstsq(X, np.ones_like(L), rcond=None)[0]
            coef = np.maximum(coef, 1e-3 * L.mean())
            theta, cost = _levenberg_marquardt(
                [math.log(coef[0]), alpha, math.log(coef[1]), beta], x, z, logL)
            if np.all(np.isfinite(theta)) and (best is None or cost < best[1]):
                best = (theta, cost)
    if best is None:
        raise ValueError("the power-law fit did not converge from any start")
    (a, alpha, b, beta), cost = best
    try:
        A = math.exp(a + alpha * math.log(N0))       # A' (N/N0)^-alpha = A N^-alpha
        B = math.exp(b + beta * math.log(D0))
    except OverflowError:
        raise ValueError(f"the power-law fit diverged (alpha = {alpha:.3g}, beta = {beta:.3g}): the points "
                         f"do not determine both terms") from None
    return {"A": A, "alpha": float(alpha), "B": B, "beta": float(beta),
            "N_c": _critical(A, alpha), "D_c": _critical(B, beta),
            "rmse_log": math.sqrt(cost / len(L)), "n": int(len(L))}


def _critical(A, alpha):
    """N_c with A / N^alpha = (N_c / N)^alpha, i.e. A^(1 / alpha) (inf when it overflows)."""
    try:
        return math.exp(math.log(A) / alpha) if alpha > 0 else float("nan")
    except OverflowError:
        return float("inf")


def predict(fit, N, D):
    """The fitted reducible loss A / N^alpha + B / D^beta at (N, D) (arrays broadcast)."""
    N = np.asarray(N, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    if np.any(N <= 0) or np.any(D <= 0):
        raise ValueError("N and D must be positive")
    out = fit["A"] * N ** -fit["alpha"] + fit["B"] * D ** -fit["beta"]
    return float(out) if out.ndim == 0 else out


def bootstrap_fit(N, D, L, n_boot=200, seed=0, exponents=(0.2, 0.5, 1.0)):
    """The fit on ``n_boot`` resamples of the points (drawn with replacement, n of n; a resample
    with fewer than 2 distinct N or D, 4 or fewer distinct points, or that ``fit_power_law``
    refuses, is drawn again). Each refit starts from
    ``exponents`` x ``exponents`` and from the full data's exponents. Returns a list of fit dicts,
    the spread of which is the fit's uncertainty."""
    N, D, L = _check_points(N, D, L)
    full = fit_power_law(N, D, L)
    exponents = tuple(sorted(set(exponents) | {round(full["alpha"], 3), round(full["beta"], 3)}))
    rng = np.random.default_rng(seed)
    fits = []
    while len(fits) < n_boot:
        i = rng.integers(0, len(L), len(L))                                # (n,)
        if len(np.unique(N[i])) < 2 or len(np.unique(D[i])) < 2 or len(np.unique(i)) <= len(PARAM_NAMES):
            continue
        try:
            fits.append(fit_power_law(N[i], D[i], L[i], exponents))
        except ValueError:                         # a resample whose N or D barely vary: draw again
            continue
    return fits


def summarize_bootstrap(fits, N=None, D=None):
    """Mean, standard deviation and 16-84% interval of each exponent over bootstrap ``fits``, and
    of the predicted reducible loss at (N, D) when given."""
    out = {}
    for key in ("alpha", "beta"):
        v = np.array([f[key] for f in fits])
        out[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)),
                    "p16": float(np.percentile(v, 16)), "p84": float(np.percentile(v, 84))}
    if N is not None:
        p = np.array([predict(f, N, D) for f in fits])
        out["prediction"] = {"mean": float(p.mean()), "std": float(p.std(ddof=1)),
                             "std_log": float(np.log(p).std(ddof=1)),
                             "p16": float(np.percentile(p, 16)), "p84": float(np.percentile(p, 84))}
    return out
