"""Read and write .safetensors files with the ``safetensors`` package's NumPy API.

Layout of a file (chapter 04 takes one apart byte by byte):
    8 bytes    little-endian uint64 N, the length of the header
    N bytes    UTF-8 JSON: {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
               "__metadata__": {str: str}} (offsets relative to the end of the header)
    the rest   the raw little-endian bytes of every tensor, C order

The package is the reference reader of the format (every Hugging Face user has it). It refuses a
header that is not such an object, offsets outside the data, tensors whose byte count does not
match dtype x shape, and overlapping, aliased or gapped tensors (each tensor must start where the
previous one ends). Any of those becomes a ValueError naming the file here.

bfloat16 has no NumPy dtype: it loads as float32 (its 16 bits are the top half of a float32), which
holds every bfloat16 value exactly. The 8- and 4-bit float formats of quantized checkpoints (F8_E4M3,
F8_E5M2, ...) have no NumPy dtype either and are refused by name.
"""

import os
import tempfile

import numpy as np
from safetensors import SafetensorError, deserialize, safe_open
from safetensors.numpy import save_file as _save_file

# the safetensors dtypes NumPy can hold (BF16 is widened to float32 here)
LOAD_DTYPES = frozenset(("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16",
                         "U8", "BOOL"))
_SAVE_DTYPES = frozenset(np.dtype(t) for t in ("f8", "f4", "f2", "i8", "i4", "i2", "i1", "u1", "?"))


def load_file(path):
    """Read every tensor of a .safetensors file -> (dict name -> ndarray, metadata dict).

    Arrays are fresh writable arrays in native byte order; BF16 becomes float32.
    """
    path = os.fspath(path)
    from tinyllm.runtime import physical_memory

    size, memory = os.path.getsize(path), physical_memory()
    if memory is not None and size > memory:            # a sparse file can claim a terabyte for free
        raise ValueError(f"{path}: {size:,} bytes of weights, more than this machine's {memory:,} bytes of "
                         f"memory; tinyllm reads a checkpoint into memory whole")
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            dtypes = {n: f.get_slice(n).get_dtype() for n in f.keys()}
            odd = sorted(n for n, d in dtypes.items() if d not in LOAD_DTYPES)
            if odd:
                raise ValueError(f"{path}: tensor {odd[0]!r} has dtype {dtypes[odd[0]]}, which NumPy cannot "
                                 f"hold (a quantized checkpoint?); tinyllm reads F64, F32, F16 and BF16 weights")
            bf16 = {n for n, d in dtypes.items() if d == "BF16"}
            tensors = {n: np.array(f.get_tensor(n)) for n in f.keys() if n not in bf16}
        if bf16:
            with open(path, "rb") as fh:
                raw = dict(deserialize(fh.read()))
            for n in bf16:
                bits = np.frombuffer(bytes(raw[n]["data"]), dtype="<u2").astype(np.uint32) << 16
                tensors[n] = bits.view(np.float32).reshape(raw[n]["shape"])
    except SafetensorError as e:
        raise ValueError(f"{path}: not a valid safetensors file: {e}") from None
    return {n: tensors[n] for n in sorted(tensors)}, metadata


def save_file(tensors, path, metadata=None):
    """Write dict name -> ndarray to `path` atomically (temporary file in the same folder, then os.replace).

    Supported dtypes: float64/32/16, int64/32/16/8, uint8, bool. `metadata` is a dict of str -> str.
    """
    arrays = {}
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype.newbyteorder("=") not in _SAVE_DTYPES:
            raise TypeError(f"save_file: tensor {name!r} has unsupported dtype {arr.dtype}")
        arrays[name] = np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")  # keeps 0-d
    meta = {str(k): str(v) for k, v in metadata.items()} if metadata else None
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".safetensors")
    os.close(fd)
    try:
        _save_file(arrays, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
