"""The `.safetensors` format, read and written with NumPy alone.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__":
{...}}`` (offsets into the byte buffer that follows), then the raw little-endian tensor
bytes. Parsing it here keeps the `safetensors` package (and torch) optional: exports
made with ``safetensors.torch.save_file(model.state_dict(), path)`` load without either.
"""

import json
import os
import struct
from typing import Mapping

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("bool"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


class SafetensorsFile:
  """A `TensorFile` over a .safetensors file; tensors are read on demand."""

  def __init__(self, path: str):
    self.path = os.fspath(path)
    with open(self.path, "rb") as f:
      prefix = f.read(8)
      if len(prefix) != 8:
        raise ValueError(f"{self.path}: not a safetensors file (shorter than 8 bytes)")
      (header_size,) = struct.unpack("<Q", prefix)
      file_size = os.fstat(f.fileno()).st_size
      if header_size > file_size - 8:
        raise ValueError(f"{self.path}: not a safetensors file (header length {header_size} "
                         f"exceeds the file size {file_size})")
      try:
        header = json.loads(f.read(header_size))
      except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{self.path}: not a safetensors file (bad JSON header: {e})") from e
    self._data_start = 8 + header_size
    self.metadata = header.pop("__metadata__", {}) or {}
    self._entries = {}
    for name, entry in header.items():
      if entry["dtype"] not in _DTYPES:
        raise ValueError(f"{self.path}: tensor {name!r} has dtype {entry['dtype']}, "
                         f"supported: {sorted(_DTYPES)}")
      dtype = _DTYPES[entry["dtype"]]
      shape = tuple(entry["shape"])
      begin, end = entry["data_offsets"]
      if end - begin != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"{self.path}: tensor {name!r} of shape {shape} and dtype "
                         f"{entry['dtype']} has {end - begin} bytes")
      if self._data_start + end > file_size:
        raise ValueError(f"{self.path}: tensor {name!r} runs past the end of the file")
      self._entries[name] = (dtype, shape, begin, end)

  @property
  def shapes(self) -> dict[str, tuple[int, ...]]:
    return {name: shape for name, (_, shape, _, _) in self._entries.items()}

  def read(self, name: str) -> np.ndarray:
    if name not in self._entries:
      raise KeyError(f"{self.path}: no tensor {name!r}")
    dtype, shape, begin, end = self._entries[name]
    with open(self.path, "rb") as f:
      f.seek(self._data_start + begin)
      buffer = f.read(end - begin)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def write(path: str, tensors: Mapping[str, np.ndarray],
          metadata: Mapping[str, str] | None = None) -> str:
  """Writes `tensors` (C-order, little-endian) as a .safetensors file; returns `path`."""
  header, chunks, offset = {}, [], 0
  for name in sorted(tensors):
    array = np.asarray(tensors[name])
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    if dtype not in _NAMES:
      raise ValueError(f"tensor {name!r}: dtype {array.dtype} cannot be written to safetensors")
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape),
                    "data_offsets": [offset, offset + len(data)]}
    chunks.append(data)
    offset += len(data)
  if metadata:
    header["__metadata__"] = dict(metadata)
  encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
  encoded += b" " * (-len(encoded) % 8)  # the data buffer starts 8-byte aligned
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  partial = f"{path}.partial"
  with open(partial, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)))
    f.write(encoded)
    for data in chunks:
      f.write(data)
  os.replace(partial, path)  # readers never see a half-written file
  return path
