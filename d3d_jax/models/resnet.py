"""ResNet-50 on video frames, with TSM's temporal shift: W3's own backbone (TSM-R50).

torchvision's ``resnet50`` (He et al., CVPR 2016; the v1.5 bottleneck, stride on the 3x3
conv) run on every frame of an NTHWC clip, so ImageNet weights import one to one
(`d3d_jax.weights.torchvision_resnet`); 25,557,032 parameters at 1000 classes:

| endpoint   | op                                              | output (16x224x224 clip) |
|------------|-------------------------------------------------|--------------------------|
| conv1      | conv 7x7 stride 2, BN, ReLU                     | 16x112x112x64   |
| maxpool    | max pool 3x3 stride 2                           | 16x56x56x64     |
| layer1/0-2 | bottleneck (64, 64, 256)                        | 16x56x56x256    |
| layer2/0-3 | bottleneck (128, 128, 512), first stride 2      | 16x28x28x512    |
| layer3/0-5 | bottleneck (256, 256, 1024), first stride 2     | 16x14x14x1024   |
| layer4/0-2 | bottleneck (512, 512, 2048), first stride 2     | 16x7x7x2048     |
| Logits     | spatial mean, dropout, fc per frame, mean over T | classes        |

Paddings are PyTorch's (symmetric, ``padding='symmetric'``) and BatchNorm has a scale,
epsilon 1e-5 and PyTorch's momentum 0.1 (Flax 0.9). Frames are independent except
through TSM's shift (Lin et al., ICCV 2019): with ``temporal_shift`` every bottleneck
shifts 1/`shift_fold_div` of its residual branch's input channels one frame back and
as many one frame forward (`block_modules.TemporalShift`; TSM's "residual shift",
1/8 each way), the identity path unshifted. The prediction is the mean of the
per-frame logits (TSM's average consensus; W3: "video-level prediction is obtained by
averaging the frame-level predictions").

A `block_module` (``'w3'``, ``'cbam'``) runs on each listed bottleneck's residual
branch output, after bn3 and before the addition, where CBAM sits in a ResNet block
(Woo et al. 2018) and W3 "at each residual block" (Sec. 3.3); its maps are endpoints
``layer<i>/<j>/<scope_name>/<key>``. `attention_refinement` adds W3's Eq. 7-8 from
the last block of each of the four stages (Fig. 2) to layer4's output (endpoint
``AttentionRefinement``).
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models import logical_axes, w3
from d3d_jax.models.block_modules import (TemporalShift, get_block_module,
                                          new_module_patterns, option_pairs)
from d3d_jax.models.conv3d import Conv3D
from d3d_jax.models.pooling import max_pool_3d
from d3d_jax.models.units import ConvOptions, batch_norm

STAGE_WIDTHS = (64, 128, 256, 512)  # bottleneck widths; outputs are 4x
EXPANSION = 4


def block_names(depths) -> tuple[str, ...]:
  """Every bottleneck in network order: layer1/0 ... layer4/2 for ResNet-50."""
  return tuple(f"layer{i + 1}/{j}" for i, depth in enumerate(depths) for j in range(depth))


def _norm_trains(module: nn.Module, options: ConvOptions, train: bool, name: str) -> bool:
  return train and "/".join(module.path + (name,)) not in options.frozen_norms


class Downsample(nn.Module):
  """torchvision's ``downsample``: ``0`` a 1x1 conv with stride, ``1`` BatchNorm."""

  features: int
  stride: int
  options: ConvOptions

  @nn.compact
  def __call__(self, x, train: bool):
    o = self.options
    x = Conv3D(self.features, (1, 1, 1), (1, self.stride, self.stride), padding=o.padding,
               lowering=o.lowering, dtype=o.dtype, param_dtype=o.param_dtype, name="0")(x)
    return batch_norm(o, _norm_trains(self, o, train, "1"), "1")(x)


class Bottleneck(nn.Module):
  """torchvision's ``Bottleneck``: 1x1, 3x3 (stride), 1x1 convs with BN; ReLU after the
  addition; TSM's shift on the residual branch's input; a block module on its output."""

  width: int
  stride: int = 1
  downsample: bool = False
  temporal_shift: bool = False
  shift_fold_div: int = 8
  block_module: Optional[str] = None
  block_module_options: tuple = ()
  options: ConvOptions = ConvOptions()

  @nn.compact
  def __call__(self, x, train: bool):
    o = self.options

    def conv_bn(y, features, kernel, stride, index, relu=True):
      y = Conv3D(features, (1, kernel, kernel), (1, stride, stride), padding=o.padding,
                 lowering=o.lowering, dtype=o.dtype, param_dtype=o.param_dtype,
                 name=f"conv{index}")(y)
      y = batch_norm(o, _norm_trains(self, o, train, f"bn{index}"), f"bn{index}")(y)
      return nn.relu(y) if relu else y

    residual = x
    if self.temporal_shift:
      residual, _ = TemporalShift(self.shift_fold_div, name="temporal_shift")(residual, train)
    residual = conv_bn(residual, self.width, 1, 1, 1)
    residual = conv_bn(residual, self.width, 3, self.stride, 2)
    residual = conv_bn(residual, self.width * EXPANSION, 1, 1, 3, relu=False)
    maps = {}
    if self.block_module is not None:
      cls = get_block_module(self.block_module)
      if cls.position != "output":
        raise ValueError(f"block_module {self.block_module!r} runs on a block's input; in "
                         f"a ResNet use temporal_shift for TSM's shift")
      residual, module_maps = cls(**dict(self.block_module_options), name=cls.scope_name)(
          residual, train)
      maps = {f"{cls.scope_name}/{k}": v for k, v in module_maps.items()}
    identity = x
    if self.downsample:
      identity = Downsample(self.width * EXPANSION, self.stride, o, name="downsample")(
          x, train)
    return nn.relu(residual + identity), maps


class ResLayer(nn.Module):
  """One stage (torchvision's ``layer<i>``): bottlenecks named ``0``, ``1``, ..."""

  width: int
  depth: int
  stride: int
  module_blocks: tuple  # indices j of the bottlenecks with the block module
  temporal_shift: bool
  shift_fold_div: int
  block_module: Optional[str]
  block_module_options: tuple
  options: ConvOptions

  @nn.compact
  def __call__(self, x, train: bool):
    outputs = []
    for j in range(self.depth):
      module = self.block_module if j in self.module_blocks else None
      x, maps = Bottleneck(
          self.width, self.stride if j == 0 else 1, downsample=j == 0,
          temporal_shift=self.temporal_shift, shift_fold_div=self.shift_fold_div,
          block_module=module, block_module_options=self.block_module_options,
          options=self.options, name=str(j))(x, train)
      outputs.append((x, maps))
    return outputs


class ResNet(nn.Module):
  """A torchvision ResNet with bottlenecks on NTHWC clips, frame by frame (see above).

  Attributes:
    num_classes, input_channels: the fc width; 3 (RGB) or 2 (flow) input channels.
    depths: bottlenecks per stage ((3, 4, 6, 3): ResNet-50).
    temporal_shift, shift_fold_div: TSM's residual shift in every bottleneck.
    dropout_rate: before the fc (TSM: 0.5; torchvision: none).
    block_module, block_module_blocks, block_module_options: as `S3DG`'s, over the
      bottlenecks ``layer<i>/<j>`` (empty: every one).
    attention_refinement, refinement_blocks: W3's Eq. 7-8, as `S3DG`'s (empty: the
      last bottleneck of each stage).
    options: padding ('symmetric' for torchvision), lowering, BN conventions, dtype.
  """

  num_classes: int = 1000
  input_channels: int = 3
  depths: tuple = (3, 4, 6, 3)
  temporal_shift: bool = False
  shift_fold_div: int = 8
  dropout_rate: float = 0.0
  block_module: Optional[str] = None
  block_module_blocks: tuple = ()
  block_module_options: tuple = ()
  attention_refinement: bool = False
  refinement_blocks: tuple = ()
  options: ConvOptions = ConvOptions()

  def _block_module_blocks(self) -> tuple:
    if self.block_module is None:
      return ()
    names = block_names(self.depths)
    blocks = tuple(self.block_module_blocks) or names
    for block in blocks:
      if block not in names:
        raise ValueError(f"block_module_blocks: {block!r} is not a bottleneck of "
                         f"{names[0]} ... {names[-1]}")
    return blocks

  def new_modules(self) -> tuple[str, ...]:
    """Regexes of the parameter paths that ImageNet ResNet checkpoints lack."""
    return tuple(new_module_patterns(self.block_module, self._block_module_blocks(),
                                     self.attention_refinement))

  @nn.compact
  def __call__(self, x, train: bool = False) -> tuple[jax.Array, dict[str, Any]]:
    if x.ndim != 5 or x.shape[-1] != self.input_channels:
      raise ValueError(
          f"expected an NTHWC clip with {self.input_channels} channels "
          f"(model.input_channels), got shape {x.shape}")
    o = self.options
    module_blocks = self._block_module_blocks()
    endpoints = {}

    def record(name, value):
      endpoints[name] = logical_axes.constrain_activation(value)
      return endpoints[name]

    x = jnp.asarray(x, o.dtype)
    x = Conv3D(64, (1, 7, 7), (1, 2, 2), padding=o.padding, lowering=o.lowering,
               dtype=o.dtype, param_dtype=o.param_dtype, name="conv1")(x)
    x = nn.relu(batch_norm(o, _norm_trains(self, o, train, "bn1"), "bn1")(x))
    record("conv1", x)
    x = record("maxpool", max_pool_3d(x, (1, 3, 3), (1, 2, 2), o.padding, o.lowering))
    for i, (width, depth) in enumerate(zip(STAGE_WIDTHS, self.depths)):
      layer = f"layer{i + 1}"
      in_layer = tuple(int(b.split("/")[1]) for b in module_blocks if b.startswith(layer + "/"))
      outputs = ResLayer(width, depth, 1 if i == 0 else 2, in_layer, self.temporal_shift,
                         self.shift_fold_div, self.block_module,
                         option_pairs(self.block_module_options), o, name=layer)(x, train)
      for j, (x, maps) in enumerate(outputs):
        record(f"{layer}/{j}", x)
        for key, value in maps.items():
          record(f"{layer}/{j}/{key}", value)
      record(layer, x)
    if self.attention_refinement:
      x = record("AttentionRefinement", w3.AttentionRefinement(o, name="AttentionRefinement")(
          x, self._refinement_masks(endpoints, module_blocks)))
    features = jnp.mean(x, axis=(2, 3))  # [B, T, C]: global average pool per frame
    features = nn.Dropout(self.dropout_rate, deterministic=not train)(features)
    logits_per_time = Conv3D(
        self.num_classes, (1, 1, 1), use_bias=True, lowering=o.lowering, dtype=o.dtype,
        param_dtype=o.param_dtype, name="fc")(features[:, :, None, None, :])[:, :, 0, 0]
    logits_per_time = logits_per_time.astype(jnp.float32)
    logits = jnp.mean(logits_per_time, axis=1)
    endpoints["Logits_per_time"] = logits_per_time
    endpoints["Logits"] = logits
    endpoints["Predictions"] = jax.nn.softmax(logits, axis=-1)
    return logits, endpoints

  def _refinement_masks(self, endpoints, module_blocks) -> list:
    if self.block_module is None:
      raise ValueError("attention_refinement needs a block module with spatial masks "
                       "(block_module='w3' or 'cbam')")
    scope = get_block_module(self.block_module).scope_name
    blocks = tuple(self.refinement_blocks) or w3.last_block_per_stage(
        [b for b in block_names(self.depths) if b in module_blocks])
    keys = [f"{block}/{scope}/spatial_mask" for block in blocks]
    missing = [k for k in keys if k not in endpoints]
    if missing or not keys:
      raise ValueError(f"attention_refinement: no spatial masks {missing or keys} among the "
                       f"endpoints (block_module={self.block_module!r} with spatial attention)")
    return [endpoints[k] for k in keys]


def torchvision_options() -> dict[str, Any]:
  """PyTorch conventions: symmetric padding, BN with scale, eps 1e-5, momentum 0.1."""
  return dict(padding="symmetric", bn_scale=True, bn_epsilon=1e-5, bn_momentum=0.9)


PRESETS = {
    # torchvision resnet50 on each frame (no temporal modelling: TSN-style).
    "resnet50": lambda: dict(depths=(3, 4, 6, 3), temporal_shift=False, dropout_rate=0.0,
                             **torchvision_options()),
    # TSM ResNet-50 (Lin et al. ICCV 2019): residual shift 1/8 each way, dropout 0.5.
    "tsm_resnet50": lambda: dict(depths=(3, 4, 6, 3), temporal_shift=True, shift_fold_div=8,
                                 dropout_rate=0.5, **torchvision_options()),
}
