"""The Inception-v1 block shared by I3D, S3D, S3D-G and their variants.

Four branches, concatenated on channels in this order:

* ``Branch_0``: 1x1x1 conv;
* ``Branch_1``: 1x1x1 conv, then a [t,3,3] conv;
* ``Branch_2``: 1x1x1 conv, then a [t,3,3] conv;
* ``Branch_3``: 3x3x3 max pool (stride 1, padded), then a 1x1x1 conv.

``t`` is 3 in 3-D blocks and 1 in 2-D blocks; the [t,3,3] conv is split into 1x3x3 +
3x1x1 when the network is separable (S3D / S3D-G); in S3D-G each branch output is
self-gated before the concat. The max pool keeps its 3x3x3 window in every variant,
as in slim's `s3dg_base`.
"""

from typing import NamedTuple, Optional

import flax.linen as nn
import jax.numpy as jnp

from d3d_jax.models.block_modules import get_block_module
from d3d_jax.models.pooling import max_pool_3d
from d3d_jax.models.units import ConvOptions, ConvUnit


class InceptionChannels(NamedTuple):
  """Output channels of each branch conv (before the depth multiplier)."""

  branch_0: int
  branch_1_reduce: int
  branch_1: int
  branch_2_reduce: int
  branch_2: int
  branch_3: int

  def scaled(self, depth) -> "InceptionChannels":
    return InceptionChannels(*(depth(c) for c in self))

  @property
  def out_channels(self) -> int:
    return self.branch_0 + self.branch_1 + self.branch_2 + self.branch_3


# The channel table of Inception-v1, identical in the DeepMind, slim, torchvision and
# PyTorch I3D code (kinetics-i3d's i3d.py, TF-slim's s3dg.py, torchvision's s3d.py,
# piergiaj/pytorch-i3d's pytorch_i3d.py).
INCEPTION_V1_CHANNELS = {
    "Mixed_3b": InceptionChannels(64, 96, 128, 16, 32, 32),
    "Mixed_3c": InceptionChannels(128, 128, 192, 32, 96, 64),
    "Mixed_4b": InceptionChannels(192, 96, 208, 16, 48, 64),
    "Mixed_4c": InceptionChannels(160, 112, 224, 24, 64, 64),
    "Mixed_4d": InceptionChannels(128, 128, 256, 24, 64, 64),
    "Mixed_4e": InceptionChannels(112, 144, 288, 32, 64, 64),
    "Mixed_4f": InceptionChannels(256, 160, 320, 32, 128, 128),
    "Mixed_5b": InceptionChannels(256, 160, 320, 32, 128, 128),
    "Mixed_5c": InceptionChannels(384, 192, 384, 48, 128, 128),
}


class InceptionBranch(nn.Module):
  """One branch: an optional 3x3x3 max pool, then named conv units in order.

  Only the branch's last conv is self-gated (S3D-G gates each branch output).
  """

  convs: tuple[tuple[str, int, tuple[int, int, int]], ...]  # (name, features, kernel)
  pool_first: bool = False
  separable: bool = False
  temporal_norm: str = "bias"
  gating: bool = False
  gate_bias: bool = False
  options: ConvOptions = ConvOptions()

  @nn.compact
  def __call__(self, x, train: bool):
    if self.pool_first:
      x = max_pool_3d(x, (3, 3, 3), (1, 1, 1), self.options.padding, self.options.lowering)
    for i, (name, features, kernel_size) in enumerate(self.convs):
      is_last = i == len(self.convs) - 1
      x = ConvUnit(features, kernel_size, separable=self.separable,
                   temporal_norm=self.temporal_norm, gating=self.gating and is_last,
                   gate_bias=self.gate_bias, options=self.options, name=name)(x, train)
    return x


class InceptionBlock(nn.Module):
  """An Inception-v1 block; parameters live under ``Branch_i/Conv3d_0x_...``.

  With `block_module` (a name of `block_modules.BLOCK_MODULES`, options as
  ``(key, value)`` pairs) that module runs on the block's input or output, with its
  parameters under ``<scope_name>/``. Returns ``(output, maps)``: the module's named
  tensors (empty without one).
  """

  channels: InceptionChannels
  temporal_kernel_size: int = 3
  separable: bool = False
  temporal_norm: str = "bias"
  gating: bool = False
  gate_bias: bool = False
  options: ConvOptions = ConvOptions()
  block_module: Optional[str] = None
  block_module_options: tuple = ()

  @nn.compact
  def __call__(self, x, train: bool):
    maps = {}
    module = cls = None
    if self.block_module is not None:
      cls = get_block_module(self.block_module)
      module = cls(**dict(self.block_module_options), name=cls.scope_name)
    if module is not None and module.position == "input":
      x, maps = module(x, train)
    x = self._branches(x, train)
    if module is not None and module.position == "output":
      x, maps = module(x, train)
    return x, {f"{cls.scope_name}/{k}": v for k, v in maps.items()} if module else {}

  def _branches(self, x, train: bool):
    c, t = self.channels, self.temporal_kernel_size
    branches = (
        ((("Conv3d_0a_1x1", c.branch_0, (1, 1, 1)),), False),
        ((("Conv3d_0a_1x1", c.branch_1_reduce, (1, 1, 1)),
          ("Conv3d_0b_3x3", c.branch_1, (t, 3, 3))), False),
        ((("Conv3d_0a_1x1", c.branch_2_reduce, (1, 1, 1)),
          ("Conv3d_0b_3x3", c.branch_2, (t, 3, 3))), False),
        ((("Conv3d_0b_1x1", c.branch_3, (1, 1, 1)),), True),
    )
    outputs = [
        InceptionBranch(convs, pool_first, self.separable, self.temporal_norm, self.gating,
                        self.gate_bias, self.options, name=f"Branch_{i}")(x, train)
        for i, (convs, pool_first) in enumerate(branches)
    ]
    return jnp.concatenate(outputs, axis=-1)
