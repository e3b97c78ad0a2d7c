"""The pure-NumPy safetensors reader/writer: round trips, bf16, the byte layout, atomic writes,
and agreement with the reference `safetensors` package when it is installed."""

import json
import os
import struct

import numpy as np
import pytest

from tinyllm.models.safetensors_io import load_file, save_file


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "f64": rng.standard_normal((3, 4)),
        "f32": rng.standard_normal((2, 3, 5)).astype(np.float32),
        "f16": rng.standard_normal((7,)).astype(np.float16),
        "i64": np.arange(12, dtype=np.int64).reshape(3, 4),
        "i32": np.array([[-1, 2]], dtype=np.int32),
        "u8": np.array([0, 255], dtype=np.uint8),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "big_endian": np.arange(4, dtype=">f4"),
    }


def test_round_trip_all_dtypes(tmp_path):
    path = tmp_path / "t.safetensors"
    data = _tensors()
    save_file(data, path, metadata={"format": "pt"})
    back, meta = load_file(path)
    assert meta == {"format": "pt"}
    assert set(back) == set(data)
    for k, v in data.items():
        assert back[k].shape == v.shape and back[k].dtype == v.dtype.newbyteorder("=")
        np.testing.assert_array_equal(back[k], v)
        assert back[k].flags.writeable


def test_layout_header_is_little_endian_json_and_aligned(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"a": np.array([1.0, 2.0], np.float32)}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert (8 + n) % 8 == 0
    assert raw[8 + n:] == np.array([1.0, 2.0], "<f4").tobytes()


def test_bf16_loads_as_float32(tmp_path):
    x = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)     # exactly representable in bfloat16
    bits = (x.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())
    back, _ = load_file(path)
    assert back["x"].dtype == np.float32
    np.testing.assert_array_equal(back["x"], x.reshape(2, 2))


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"a": np.ones(3)}, path)
    with pytest.raises(TypeError, match="unsupported dtype"):
        save_file({"b": np.array(["text"])}, path)
    assert os.listdir(tmp_path) == ["m.safetensors"]
    np.testing.assert_array_equal(load_file(path)[0]["a"], np.ones(3))


@pytest.mark.parametrize("corrupt, words", [
    (b"\x01\x02", "not a valid safetensors file.*too small"),
    (struct.pack("<Q", 10 ** 6) + b"{}", "not a valid safetensors file.*header"),
    (struct.pack("<Q", 2) + b"{x", "not a valid safetensors file.*JSON"),
])
def test_corrupt_files(tmp_path, corrupt, words):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(corrupt)
    with pytest.raises(ValueError, match=words):
        load_file(path)


def test_shape_and_offsets_are_checked(tmp_path):
    header = json.dumps({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_file(path)
    header = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_file(path)


def test_agrees_with_reference_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    data = {k: v for k, v in _tensors().items() if k not in ("big_endian",)}
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    save_file(data, ours, metadata={"format": "pt"})
    st.save_file(data, str(theirs), metadata={"format": "pt"})
    loaded_by_ref = st.load_file(str(ours))
    loaded_by_us, _ = load_file(theirs)
    for k, v in data.items():
        np.testing.assert_array_equal(loaded_by_ref[k], v)
        np.testing.assert_array_equal(loaded_by_us[k], v)
