"""Padding conventions for 3-D convolutions and pools.

Two conventions meet in published video checkpoints:

* ``'SAME'`` (TF, the default): ``out = ceil(in / stride)``; the total padding is
  ``max((out - 1) * stride + kernel - in, 0)`` and the extra pixel goes at the end.
  The DeepMind I3D and TF-slim S3D-G checkpoints were trained with it.
* ``'symmetric'`` (PyTorch ports, torchvision S3D): ``(kernel - 1) // 2`` on both
  sides, output floored. Needed for bitwise parity with torchvision weights, whose
  stride-2 layers are offset by one position against TF 'SAME'.

Every layer asks this module for explicit ``(low, high)`` pads, so the native 3-D
convolution and each folded lowering pad identically.
"""

from typing import Sequence

PADDING_MODES = ("SAME", "symmetric")


def check_padding_mode(mode: str) -> str:
  if mode not in PADDING_MODES:
    raise ValueError(f"padding must be one of {PADDING_MODES}, got {mode!r}")
  return mode


def pads_for_dim(size: int, kernel: int, stride: int, mode: str) -> tuple[int, int]:
  """Returns (low, high) padding of one dimension under `mode`."""
  check_padding_mode(mode)
  if mode == "SAME":
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
  half = (kernel - 1) // 2
  return half, half


def explicit_pads(
    spatial_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    mode: str,
) -> tuple[tuple[int, int], ...]:
  """Explicit pads for every spatial dimension (T, H, W for NTHWC tensors)."""
  return tuple(
      pads_for_dim(s, k, st, mode) for s, k, st in zip(spatial_shape, kernel, strides)
  )
