"""The view of a checkpoint file every importer works on: names, shapes, and reads.

Readers (`tf_checkpoint`, `torch_state_dict`, `d3d_jax_format`) return a `TensorFile`;
shapes come without reading data, so name and shape checks run before any tensor is
loaded, and each tensor is read once, when it is assigned.
"""

from typing import Mapping, Protocol

import numpy as np


class TensorFile(Protocol):
  """A named set of tensors: `shapes` lists every name; `read` returns one as NumPy."""

  path: str

  @property
  def shapes(self) -> Mapping[str, tuple[int, ...]]:
    ...

  def read(self, name: str) -> np.ndarray:
    ...


class ArrayTensorFile:
  """A `TensorFile` over arrays already in memory (npz, torch state dicts, orbax)."""

  def __init__(self, path: str, arrays: Mapping[str, np.ndarray]):
    self.path = path
    self._arrays = dict(arrays)

  @property
  def shapes(self) -> dict[str, tuple[int, ...]]:
    return {name: tuple(np.shape(a)) for name, a in self._arrays.items()}

  def read(self, name: str) -> np.ndarray:
    if name not in self._arrays:
      raise KeyError(f"{self.path}: no tensor {name!r}")
    return np.asarray(self._arrays[name])
