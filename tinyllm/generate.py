"""Text generation from a causal LM (S14): greedy decoding, temperature, top-k and top-p sampling,
stop tokens, and a KV cache.

Each new token costs one forward pass. Without a cache the model re-reads the whole sequence every
time; with ``GPT.forward_cached`` it reads only the newest token and reuses the keys and values of
the earlier ones (``past_kv``), which gives the same logits at a fraction of the cost.

A trained prompt (S12) survives generation: ``prompt=`` takes any object with a
``generation_prefix()`` method (tinyllm.prompt.PromptModel) returning
``dict(inputs_embeds=(m, C) or None, past_kv=[(k, v) each (1, H, m, D)] or None)``. Virtual tokens
(a soft prompt, P-tuning) go before the ids and take positions 0..m-1; a prefix (prefix tuning) sits
in the KV cache and takes no positions, so the ids start at 0 as in pre-training.

    ids = generate(model, prompt_ids, max_new_tokens=40, temperature=0.8, top_k=50, seed=0)
    text = generate_text(model, tokenizer, "Anna lives in", greedy=True)
    ids = generate(model, prompt_ids, greedy=True, prompt=prompt_model)   # with a trained prompt
"""

import numpy as np


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The sampling distribution of S14 for one step, in float64.

    logits: (V,) -> probs (V,) with
      temperature: p_i ∝ exp(z_i / tau)
      top_k:       only the k largest logits keep probability (ties at the k-th value are kept)
      top_p:       only the smallest set of most likely tokens whose total probability reaches p
    applied in that order, then renormalised.
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)   # (V,)
    V = z.shape[-1]
    if top_k is not None and top_k < V:
        kth = np.partition(z, V - top_k)[V - top_k]
        z = np.where(z >= kth, z, -np.inf)
    z = z - z.max()
    p = np.exp(z)
    p /= p.sum()
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, kind="stable")                        # most likely first
        cum = np.cumsum(p[order])
        # keep every token whose preceding mass is still below top_p (so the first always stays)
        keep = np.empty(V, dtype=bool)
        keep[order] = (cum - p[order]) < top_p
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    return p


def sample_from(p, rng):
    """Draw one index from the distribution ``p`` (V,) with a single uniform from ``rng``."""
    cum = np.cumsum(p)                                               # (V,)
    i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
    # rounding can push the draw onto the very end: take the last token with probability > 0
    return i if i < p.shape[0] else int(np.flatnonzero(p)[-1])


MAX_NEW_TOKENS = 1_000_000


def _check_args(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, greedy):
    max_len = model.config.max_len
    V = model.config.vocab_size
    ids = np.asarray(prompt_ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"prompt_ids: expected a non-empty 1-D sequence of ints, got shape {ids.shape} "
                         f"dtype {ids.dtype}")
    if ids.size > max_len:
        raise ValueError(f"prompt_ids: the prompt has {ids.size} tokens, longer than the model's "
                         f"max_len={max_len}; shorten it")
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(f"prompt_ids: token ids must lie in [0, {V}), got {int(ids.min())}..{int(ids.max())}")
    if (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer))
            or not 0 <= max_new_tokens <= MAX_NEW_TOKENS):     # the ids are kept: 10**12 would not end
        raise ValueError(f"max_new_tokens: expected an int in [0, {MAX_NEW_TOKENS:,}], got {max_new_tokens!r}")
    if not greedy and not (temperature > 0):
        raise ValueError(f"temperature: expected > 0 when sampling (use greedy=True for argmax), got {temperature}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k: expected an int >= 1 or None, got {top_k!r}")
    if top_p is not None and not (0.0 < top_p <= 1.0):
        raise ValueError(f"top_p: expected a number in (0, 1] or None, got {top_p}")
    return [int(i) for i in ids]


def _prompt_prefix(model, prompt):
    """prompt.generation_prefix() checked -> (soft (1, m, C) or None, prefix list or None)."""
    if not callable(getattr(prompt, "generation_prefix", None)):
        raise TypeError(f"prompt must have a generation_prefix() method (a tinyllm.prompt.PromptModel), "
                        f"got {type(prompt).__name__}")
    out = prompt.generation_prefix()
    if not isinstance(out, dict) or not set(out) <= {"inputs_embeds", "past_kv"}:
        raise TypeError("prompt.generation_prefix() must return a dict with keys inputs_embeds and past_kv")
    soft, prefix = out.get("inputs_embeds"), out.get("past_kv")
    if soft is not None:
        C, max_len = model.config.d_model, model.config.max_len
        if not isinstance(soft, np.ndarray) or soft.ndim != 2 or soft.shape[1] != C or soft.dtype != model.dtype:
            got = (soft.shape, soft.dtype) if isinstance(soft, np.ndarray) else type(soft).__name__
            raise ValueError(f"generation_prefix: inputs_embeds must be an (m, d_model={C}) array of the "
                             f"model's dtype {np.dtype(model.dtype)}, got {got}")
        if soft.shape[0] >= max_len:
            raise ValueError(f"generation_prefix: {soft.shape[0]} virtual tokens leave no room in the "
                             f"model's max_len={max_len}")
        soft = soft[None]                                                         # (1, m, C)
    return soft, prefix


def _forward_window(model, ids, soft, prefix, cached):
    """One pass over ids (a list), behind the prompt if any: virtual tokens first (positions
    0..m-1), the prefix in the cache (no positions). Returns logits (1, m + T, V) and present (or None)."""
    idx = np.array([ids])                                                         # (1, T)
    kw = {} if prefix is None else {"past_kv": prefix, "pos_offset": 0}
    if soft is not None:
        kw["inputs_embeds"] = np.concatenate([soft, model.embed_tokens(idx)], axis=1)   # (1, m + T, C)
    else:
        kw["idx"] = idx
    if cached:
        return model.forward_cached(**kw)
    return model.forward(**kw), None


def generate(model, prompt_ids, max_new_tokens=50, temperature=1.0, top_k=None, top_p=None,
             greedy=False, stop_ids=(), seed=None, rng=None, use_cache=True, return_logits=False,
             prompt=None, vocab_limit=None):
    """Continue ``prompt_ids`` with up to ``max_new_tokens`` tokens (S14).

    greedy:     take the argmax every step (temperature, top_k, top_p are ignored)
    stop_ids:   stop right after generating one of these ids (it is included in the result)
    seed / rng: the sampling randomness; the same seed gives the same tokens
    use_cache:  reuse keys and values through ``model.forward_cached`` (same output, faster)
    prompt:     a trained prompt (S12), an object with ``generation_prefix()`` (see the module text)
    vocab_limit: only ids below it are generated (a tokenizer with fewer ids than the model's
                embedding rows, as with vocabularies padded to a round size); None: every id
    Returns the list of new token ids, and with ``return_logits`` also their (n_new, V) logits.
    When the sequence outgrows ``max_len`` the model sees only the last ``max_len`` tokens (minus
    the virtual tokens of a prompt, which always stay); both paths then recompute the window, so
    they stay identical.
    """
    ids = _check_args(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, greedy)
    soft, prefix = (None, None) if prompt is None else _prompt_prefix(model, prompt)
    m = 0 if soft is None else soft.shape[1]                                      # virtual tokens
    window = model.config.max_len - m                                             # room for the ids
    if len(ids) > window:
        raise ValueError(f"prompt_ids: {len(ids)} tokens after {m} virtual tokens exceed the model's "
                         f"max_len={model.config.max_len}; shorten them")
    if rng is None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed: expected an int >= 0 or None, got {seed!r}")
        rng = np.random.default_rng(seed)
    stop = {int(s) for s in stop_ids}
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    new, all_logits = [], []
    past = None
    try:
        for _ in range(max_new_tokens):
            if use_cache and past is not None and len(ids) <= window:
                logits, past = model.forward_cached(np.array([ids[-1:]]), past_kv=past,
                                                    pos_offset=m + len(ids) - 1)          # (1, 1, V)
            elif use_cache and len(ids) <= window:
                logits, past = _forward_window(model, ids, soft, prefix, cached=True)     # (1, m + T, V)
            else:
                past = None
                logits, _ = _forward_window(model, ids[-window:], soft, prefix, cached=False)
            z = logits[0, -1]                                                             # (V,)
            if vocab_limit is not None and vocab_limit < z.shape[0]:
                z = z.copy()
                z[vocab_limit:] = -np.inf                 # rows no token of the tokenizer stands for
            if greedy:
                tok = int(np.argmax(z))
            else:
                tok = sample_from(next_token_probs(z, temperature, top_k, top_p), rng)
            ids.append(tok)
            new.append(tok)
            all_logits.append(z.copy())
            if tok in stop:
                break
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    if return_logits:
        V = model.config.vocab_size
        return new, (np.stack(all_logits) if all_logits else np.zeros((0, V)))
    return new


def generate_text(model, tokenizer, prompt, max_new_tokens=50, add_bos=True, stop_at_eos=True,
                  include_prompt=False, prompt_model=None, **kwargs):
    """Encode ``prompt`` (after [BOS] when the tokenizer has one), generate, decode the new text.

    With ``include_prompt`` the prompt and the new tokens are decoded together, so the tokenizer
    joins them with its own spacing rules (a space between words, none between characters).

    Generation stops at [EOS] (not included in the text) unless ``stop_at_eos`` is False.
    ``prompt_model``: a trained prompt (S12), passed to ``generate`` as ``prompt=``. Other keyword
    arguments go to ``generate``.
    """
    prompt_ids = list(tokenizer.encode(prompt))
    ids = prompt_ids
    bos = getattr(tokenizer, "bos_id", None)
    if add_bos and bos is not None:
        ids = [bos] + ids
    eos = getattr(tokenizer, "eos_id", None)
    stop = set(kwargs.pop("stop_ids", ()))
    if stop_at_eos and eos is not None:
        stop.add(eos)
    kwargs.setdefault("vocab_limit", getattr(tokenizer, "vocab_size", None))
    new = generate(model, ids, max_new_tokens=max_new_tokens, stop_ids=stop, prompt=prompt_model, **kwargs)
    if new and new[-1] in stop:
        new = new[:-1]
    return tokenizer.decode((prompt_ids if include_prompt else []) + new)
