"""Read and write the .safetensors format in pure NumPy (no torch, no safetensors package).

Layout of a file:
    8 bytes    little-endian uint64 N, the length of the header
    N bytes    UTF-8 JSON: {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
               "__metadata__": {str: str}} (offsets relative to the end of the header)
    the rest   the raw little-endian bytes of every tensor, C order

bfloat16 has no NumPy dtype: it loads as float32 (its 16 bits are the top half of a float32).
"""

import json
import os
import struct
import sys
import tempfile

import numpy as np

# safetensors dtype code -> little-endian NumPy dtype
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {dt: code for code, dt in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024
_LITTLE = sys.byteorder == "little"


def load_file(path):
    """Read every tensor of a .safetensors file -> (dict name -> ndarray, metadata dict).

    Arrays are fresh writable arrays in native byte order (each tensor is read once into its own
    buffer, so a large checkpoint needs about its own size in memory); BF16 becomes float32.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise ValueError(f"{path}: not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", f.read(8))
        if n > _MAX_HEADER or 8 + n > size:
            raise ValueError(f"{path}: corrupt safetensors header length {n} (file has {size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: corrupt safetensors header: {e}") from None
        metadata = header.pop("__metadata__", None) or {}
        data_size = size - 8 - n
        tensors = {}
        for name, info in header.items():
            code, shape = info["dtype"], tuple(info["shape"])
            begin, end = info["data_offsets"]
            if not 0 <= begin <= end <= data_size:
                raise ValueError(f"{path}: tensor {name!r} has data_offsets {[begin, end]} outside the data")
            if code != "BF16" and code not in _DTYPES:
                raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {code!r}")
            buf = bytearray(end - begin)
            f.seek(8 + n + begin)
            f.readinto(buf)
            if code == "BF16":
                arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(buf, dtype=_DTYPES[code])
            expected = int(np.prod(shape, dtype=np.int64))
            if arr.size != expected:
                raise ValueError(
                    f"{path}: tensor {name!r} holds {arr.size} elements but its shape {list(shape)} needs {expected}"
                )
            if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "<" and not _LITTLE):
                arr = arr.astype(arr.dtype.newbyteorder("="))
            tensors[name] = arr.reshape(shape)
    return tensors, metadata


def save_file(tensors, path, metadata=None):
    """Write dict name -> ndarray to `path` atomically (temporary file in the same folder, then os.replace).

    Supported dtypes: float64/32/16, int64/32/16/8, uint8, bool. `metadata` is a dict of str -> str.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        le = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        if le not in _CODES:
            raise TypeError(f"save_file: tensor {name!r} has unsupported dtype {arr.dtype}")
        data = np.ascontiguousarray(arr, dtype=le).tobytes()
        header[name] = {"dtype": _CODES[le], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # pad so the data starts 8-byte aligned, as the reference writer does
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for data in blobs:
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
