"""How a file tensor's layout relates to our variable's layout.

* `SAME`: identical layout. DeepMind Sonnet `w` and slim `weights` are (T,H,W,Cin,Cout),
  exactly a Flax conv kernel.
* `TORCH_CONV`: PyTorch `Conv3d.weight` is (Cout,Cin,T,H,W); ours is (T,H,W,Cin,Cout),
  i.e. ``w.transpose(2, 3, 4, 1, 0)``, and back with ``transpose(4, 3, 0, 1, 2)``.
* `LeadingOnes(rank, written)`: the file holds our rank-`rank` tensor behind leading
  size-1 axes. slim's gate is a 1x1x1 conv, `transformer_W/weights` [1,1,1,C,C], where
  ours is a Dense (C,C); the DeepMind Kinetics-600 checkpoint stores BN statistics as
  [1,1,1,1,C]. Any number of leading ones is accepted on import; `written` are written
  on export.
"""

import dataclasses
from typing import Optional, Sequence

import numpy as np

Shape = tuple[int, ...]


class Layout:
  """Base: identity layout."""

  def model_shape(self, file_shape: Sequence[int]) -> Optional[Shape]:
    """The shape our variable must have to hold this file tensor; None if impossible."""
    return tuple(file_shape)

  def file_shape(self, model_shape: Sequence[int]) -> Shape:
    """The file shape written for our variable of `model_shape`."""
    return tuple(model_shape)

  def to_model(self, array: np.ndarray) -> np.ndarray:
    return array

  def to_file(self, array: np.ndarray) -> np.ndarray:
    return array

  def describe(self) -> str:
    return "same layout"

  def bind(self, model_shape: Sequence[int]) -> "Layout":
    """The layout that fills a variable of exactly `model_shape` (itself, here).

    Layouts whose conversion depends on the variable's shape override it: inflating a
    2-D kernel repeats it over the variable's temporal size (`slim_inception_v1`).
    """
    del model_shape
    return self


class _TorchConv(Layout):
  _TO_MODEL = (2, 3, 4, 1, 0)
  _TO_FILE = (4, 3, 0, 1, 2)

  def model_shape(self, file_shape):
    if len(file_shape) != 5:
      return None
    return tuple(file_shape[i] for i in self._TO_MODEL)

  def file_shape(self, model_shape):
    return tuple(model_shape[i] for i in self._TO_FILE)

  def to_model(self, array):
    return np.ascontiguousarray(np.transpose(array, self._TO_MODEL))

  def to_file(self, array):
    return np.ascontiguousarray(np.transpose(array, self._TO_FILE))

  def describe(self):
    return "PyTorch (Cout,Cin,T,H,W) -> (T,H,W,Cin,Cout)"


@dataclasses.dataclass(frozen=True)
class LeadingOnes(Layout):
  rank: int
  written: int = 0

  def model_shape(self, file_shape):
    file_shape = tuple(file_shape)
    if len(file_shape) < self.rank or any(d != 1 for d in file_shape[:-self.rank]):
      return None
    return file_shape[len(file_shape) - self.rank:]

  def file_shape(self, model_shape):
    return (1,) * self.written + tuple(model_shape)

  def to_model(self, array):
    return array.reshape(self.model_shape(array.shape))

  def to_file(self, array):
    return array.reshape(self.file_shape(array.shape))

  def describe(self):
    return f"rank {self.rank} behind leading size-1 axes"


SAME = Layout()
TORCH_CONV = _TorchConv()
