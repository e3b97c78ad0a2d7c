"""Checks on what a user passes to a model, so that a mistake fails early with a message that names
the argument, what was expected and what was received (instead of an IndexError deep inside an op)."""

import numpy as np

IGNORE_INDEX = -100


def _as_array(name, x):
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f"{name} must be a numpy.ndarray (or a nested list), got {type(x).__name__}")


def _check_int_dtype(name, x, what):
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integer {what}, got dtype {x.dtype}")


def input_shape(idx, inputs_embeds):
    """Exactly one of idx (B, T) or inputs_embeds (B, T, C) -> its (B, T) (not yet validated)."""
    if (idx is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of idx (B, T) or inputs_embeds (B, T, C)")
    return np.shape(idx if idx is not None else inputs_embeds)[:2]


def check_ids(name, ids, vocab_size, max_len, past=0):
    """Token ids: integer (B, T) with T >= 1, every id in [0, vocab_size), past + T <= max_len.

    Returns the ids as an ndarray.
    """
    ids = _as_array(name, ids)
    _check_int_dtype(name, ids, "token ids")
    if ids.ndim != 2:
        hint = " (add a batch axis: ids[None])" if ids.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (B, T), got shape {ids.shape}{hint}")
    check_length(name, ids.shape, max_len, past)
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0:
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got negative id {lo} "
                         f"at position {tuple(int(i) for i in np.argwhere(ids == lo)[0])}")
    if hi >= vocab_size:
        raise ValueError(f"{name} must lie in [0, vocab_size={vocab_size}), got id {hi} "
                         f"at position {tuple(int(i) for i in np.argwhere(ids == hi)[0])}")
    return ids


def check_length(name, shape, max_len, past=0):
    """Sequence length: B, T >= 1 and past + T <= max_len (the learned position table, S8)."""
    B, T = shape[:2]
    if B == 0 or T == 0:
        raise ValueError(f"{name} must have at least one sequence and one position, got shape {tuple(shape)}")
    if past + T > max_len:
        extra = f" plus {past} cached positions" if past else ""
        raise ValueError(f"{name} has sequence length T={T}{extra}, more than the model's max_len={max_len}")


def check_embeds(name, x, d_model, dtype, max_len, past=0):
    """Input embeddings: float (B, T, C) of the model's dtype (no silent casting)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name} must have the model's dtype {np.dtype(dtype)}, got {x.dtype}")
    if x.ndim != 3 or x.shape[2] != d_model:
        raise ValueError(f"{name} must have shape (B, T, d_model={d_model}), got {x.shape}")
    check_length(name, x.shape, max_len, past)
    return x


def check_labels(name, labels, shape, vocab_size):
    """Targets / labels: integer array of `shape`, each in [0, vocab_size) or IGNORE_INDEX (-100)."""
    labels = _as_array(name, labels)
    _check_int_dtype(name, labels, "class ids")
    if labels.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of the inputs {tuple(shape)}, got {labels.shape}")
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= vocab_size))
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must lie in [0, {vocab_size}) or equal {IGNORE_INDEX} (ignore), "
                         f"got {int(labels[pos])} at position {pos}")
    return labels


def check_mask(name, mask, shape):
    """attention_mask: (B, T) of bool or 0/1 integers (1 = a real token) -> bool array."""
    mask = _as_array(name, mask)
    if mask.dtype != np.bool_:
        _check_int_dtype(name, mask, "0/1 flags (or be bool)")
        if ((mask != 0) & (mask != 1)).any():
            raise ValueError(f"{name} must hold only 0 and 1, got values {sorted(set(np.unique(mask).tolist()))[:5]}")
        mask = mask.astype(bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {mask.shape}")
    return mask


def check_past_kv(name, past_kv, n_layer, n_head, head_dim, dtype):
    """past_kv: a list of n_layer pairs (k, v), each (B, H, P, D) of the model's dtype, the same
    B and P in every layer -> P."""
    if not isinstance(past_kv, (list, tuple)) or len(past_kv) != n_layer:
        got = len(past_kv) if isinstance(past_kv, (list, tuple)) else type(past_kv).__name__
        raise ValueError(f"{name} must be a list of n_layer={n_layer} (k, v) pairs, got {got}")
    B = P = None
    for i, pair in enumerate(past_kv):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{name}[{i}] must be a pair (k, v)")
        for which, a in zip("kv", pair):
            if not isinstance(a, np.ndarray) or a.dtype != dtype:
                got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
                raise TypeError(f"{name}[{i}].{which} must be a numpy array of dtype {np.dtype(dtype)}, got {got}")
            if B is None and a.ndim == 4:
                B, P = a.shape[0], a.shape[2]
            if a.ndim != 4 or a.shape != (B, n_head, P, head_dim):
                raise ValueError(f"{name}[{i}].{which} must have shape (B, H, P, D) = "
                                 f"{(B, n_head, P, head_dim)}, got {a.shape}")
    return P


def check_pos_offset(pos_offset):
    """pos_offset: the position of the first new token, an int >= 0 -> int."""
    if isinstance(pos_offset, bool) or not isinstance(pos_offset, (int, np.integer)) or pos_offset < 0:
        raise ValueError(f"pos_offset must be an int >= 0 (or None for the length of past_kv), got {pos_offset!r}")
    return int(pos_offset)


def check_at(at, B, T):
    """at: (row, time) pairs where a head is wanted, an int array (n, 2) with 0 <= row < B and
    0 <= time < T -> int64 array (n, 2)."""
    at = _as_array("at", at)
    if at.size == 0:
        at = at.reshape(0, 2).astype(np.int64)
    _check_int_dtype("at", at, "(row, time) pairs")
    if at.ndim != 2 or at.shape[1] != 2:
        raise ValueError(f"at must be an int array of (row, time) pairs, shape (n, 2), got shape {at.shape}")
    bad = (at[:, 0] < 0) | (at[:, 0] >= B) | (at[:, 1] < 0) | (at[:, 1] >= T)
    if bad.any():
        raise ValueError(f"at: pairs must lie within the batch (B, T) = {(B, T)}, got {tuple(at[bad][0].tolist())}")
    return at.astype(np.int64)
