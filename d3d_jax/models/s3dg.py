"""S3D-G and its family: the Inception-v1 3-D network of I3D, S3D, S3D-G, I2D and the
bottom- / top-heavy I3D variants (Xie et al., ECCV 2018; Carreira & Zisserman, 2017).

One module covers the family the way slim's `s3dg_base` does; the presets in
`d3d_jax.models.registry` name the published configurations. Layer table (names as in
the DeepMind checkpoints, shapes for a 64x224x224 input):

| endpoint          | op                                   | output       |
|-------------------|--------------------------------------|--------------|
| Conv3d_1a_7x7     | conv [k1,7,7] stride 2               | 32x112x112x64 |
| MaxPool3d_2a_3x3  | max pool [1,3,3] stride [1,2,2]      | 32x56x56x64  |
| Conv3d_2b_1x1     | conv 1x1x1                           | 32x56x56x64  |
| Conv3d_2c_3x3     | conv [t,3,3] (separable in S3D)      | 32x56x56x192 |
| MaxPool3d_3a_3x3  | max pool [1,3,3] stride [1,2,2]      | 32x28x28x192 |
| Mixed_3b, 3c      | Inception                            | 32x28x28x480 |
| MaxPool3d_4a_3x3  | max pool [3,3,3] stride 2            | 16x14x14x480 |
| Mixed_4b ... 4f   | Inception                            | 16x14x14x832 |
| MaxPool3d_5a_2x2  | max pool [2,2,2] stride 2            | 8x7x7x832    |
| Mixed_5b, 5c      | Inception                            | 8x7x7x1024   |
| Logits            | avg pool [2,7,7] VALID (clipped), dropout, 1x1x1 conv + bias, mean over T | 400 |

``t`` is 3 for the blocks in [`temporal_conv_startat`, `temporal_conv_endat`) and 1
elsewhere; S3D-G gates every conv block from `gating_startat` on. Pools keep their
temporal extent in every variant (slim). `__call__` returns ``(logits, endpoints)``
where `endpoints` maps every endpoint name above, plus ``Logits_per_time`` (the
[B, T', classes] logits before the temporal mean) and ``Predictions`` (softmax), to its
activation, so objectives can distill or probe any layer by name.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models import attention, feature_attention, logical_axes, w3
from d3d_jax.models.block_modules import (get_block_module, new_module_patterns,
                                          option_pairs)
from d3d_jax.models.conv3d import Conv3D
from d3d_jax.models.inception import INCEPTION_V1_CHANNELS, InceptionBlock
from d3d_jax.models.pooling import clipped_avg_pool_3d, max_pool_3d
from d3d_jax.models.units import ConvOptions, ConvUnit

# Blocks whose [t,3,3] convs switch between 2-D and 3-D, in network order.
CONV_BLOCKS = (
    "Conv3d_2c_3x3", "Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d",
    "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c",
)

BACKBONE_ENDPOINTS = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3", "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b",
    "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b",
    "Mixed_5c",
)
ENDPOINTS = BACKBONE_ENDPOINTS + ("Logits_per_time", "Logits", "Predictions")

# The heads `head` may name: the plain head, Liu's attention heads, Wang's feature
# attention, and 'none': a trunk without a classifier (the flow-prediction front-end of
# `d3d_jax.models.cnn_flow`), which returns logits None and only backbone endpoints.
HEADS = attention.HEADS + ("feature_attention", "none")

# Max pools: (window, strides), identical in every variant.
_POOLS = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}


def _block_range(start: Optional[str], end: Optional[str], option: str) -> range:
  """Indices into CONV_BLOCKS of [start, end); empty when start is None."""
  for name, value in ((f"{option}_startat", start), (f"{option}_endat", end)):
    if value is not None and value not in CONV_BLOCKS:
      raise ValueError(f"{name} must be None or one of {CONV_BLOCKS}, got {value!r}")
  if start is None:
    return range(0)
  stop = len(CONV_BLOCKS) if end is None else CONV_BLOCKS.index(end)
  return range(CONV_BLOCKS.index(start), stop)


class S3DG(nn.Module):
  """The Inception-v1 3-D family on NTHWC clips (see the module docstring).

  Attributes:
    num_classes: logits width.
    input_channels: 3 for RGB, 2 for optical flow (x, y); checked against the input.
    first_temporal_kernel_size: k1 of Conv3d_1a_7x7 ([k1,7,7], stride 2 in T, H, W).
    separable_conv1: split Conv3d_1a into 1x7x7 + k1x1x1 (torchvision S3D).
    temporal_conv_startat / temporal_conv_endat: the [start, end) range of CONV_BLOCKS
      with 3-D ([3,3,3]) convs; None start means no temporal convs (I2D).
    separable: split each [3,3,3] conv into 1x3x3 + 3x1x1 (S3D / S3D-G).
    temporal_norm: 'bias' (slim) or 'batch_norm' (torchvision / MMV) after the
      temporal half of a separable conv.
    gating_startat: first block with self-gating, or None (no gating).
    gate_bias: a bias in the gating projection (MMV) or not (slim).
    depth_multiplier, min_depth: channels ``max(int(c * depth_multiplier), min_depth)``.
    final_endpoint: the last backbone endpoint built (slim's `final_endpoint`); the
      logits head pools whatever it is. 'Mixed_5c' is the full network; an earlier
      one gives a shallow network for quick experiments and fast-compiling tests.
    dropout_rate: dropout before the logits conv, active only when ``train=True``.
    head: 'logits' (the plain average-pool head) or an attention head of
      `d3d_jax.models.attention` ('soft_atten', 'soft_res', 'prob_atten',
      'prob_distill'), which predicts its maps from `attention_source` and pools the
      final endpoint; gumbel_temperature / gumbel_eps / gumbel_per_channel set the
      training-time samples of the probabilistic heads. 'feature_attention' is the
      channel x time gate of generative KD (Wang et al. 2024, Eq. 8-10,
      `d3d_jax.models.feature_attention`) on the final endpoint, whose re-weighted
      features the plain logits head reads; feature_attention_sigma ('clip' |
      'batch'), feature_attention_theta ('transposed_conv' | 'identity'),
      feature_attention_length (the code's time upsampling, 1024) and
      feature_attention_groups (GroupNorm groups, 32) are its options.
    block_module: a name of `d3d_jax.models.block_modules.BLOCK_MODULES` to run inside
      the Inception blocks `block_module_blocks` (empty: every one), built with
      `block_module_options` (a mapping or ``(key, value)`` pairs).
    attention_refinement: W3's attention-guided feature refinement (Eq. 7-8,
      `w3.AttentionRefinement`): the ``spatial_mask`` maps of the block module in
      `refinement_blocks` (empty: the last block of each stage that has one, e.g.
      Mixed_3c, 4f, 5c) refine the final features; the result is the endpoint
      ``AttentionRefinement`` (y of Eq. 8), which the head pools.
    options: padding ('SAME' | 'symmetric'), conv lowering, BN and dtype conventions.
  """

  num_classes: int = 400
  input_channels: int = 3
  first_temporal_kernel_size: int = 3
  separable_conv1: bool = False
  temporal_conv_startat: Optional[str] = "Conv3d_2c_3x3"
  temporal_conv_endat: Optional[str] = None
  separable: bool = True
  temporal_norm: str = "bias"
  gating_startat: Optional[str] = "Conv3d_2c_3x3"
  gate_bias: bool = False
  depth_multiplier: float = 1.0
  min_depth: int = 16
  dropout_rate: float = 0.2
  final_endpoint: str = "Mixed_5c"
  head: str = "logits"
  attention_source: str = "Mixed_4f"
  gumbel_temperature: float = 2.0
  gumbel_eps: float = 1e-6
  gumbel_per_channel: bool = True
  feature_attention_sigma: str = "clip"
  feature_attention_theta: str = "transposed_conv"
  feature_attention_length: int = 1024
  feature_attention_groups: int = 32
  block_module: Optional[str] = None
  block_module_blocks: tuple = ()
  block_module_options: tuple = ()
  attention_refinement: bool = False
  refinement_blocks: tuple = ()
  options: ConvOptions = ConvOptions()

  def depth(self, channels: int) -> int:
    return max(int(channels * self.depth_multiplier), self.min_depth)

  def _block_module_blocks(self) -> tuple:
    if self.block_module is None:
      return ()
    blocks = tuple(self.block_module_blocks) or tuple(
        b for b in CONV_BLOCKS if b.startswith("Mixed_"))
    for block in blocks:
      if block not in CONV_BLOCKS or not block.startswith("Mixed_"):
        raise ValueError(f"block_module_blocks: {block!r} is not an Inception block of "
                         f"{CONV_BLOCKS[1:]}")
    return blocks

  def new_modules(self) -> tuple[str, ...]:
    """Regexes of the parameter paths that published backbone checkpoints lack.

    The attention heads' maps (and Prob-Distill's two classifiers) and block modules
    with parameters: `model.init_from` leaves exactly these at their initial values
    when the file does not have them (and loads them when it does).
    """
    modules = list(feature_attention.NEW_MODULES if self.head == "feature_attention"
                   else attention.NEW_MODULES.get(self.head, ()))
    modules += new_module_patterns(self.block_module, self._block_module_blocks(),
                                   self.attention_refinement)
    return tuple(modules)

  def _refinement_masks(self, endpoints) -> list:
    """The spatial masks that W3's feature refinement pools (Eq. 7), in network order."""
    if self.block_module is None:
      raise ValueError("attention_refinement needs a block module with spatial masks "
                       "(block_module='w3' or 'cbam')")
    scope = get_block_module(self.block_module).scope_name
    built = [b for b in CONV_BLOCKS if b in self._block_module_blocks() and b in endpoints]
    blocks = tuple(self.refinement_blocks) or w3.last_block_per_stage(built)
    keys = [f"{block}/{scope}/spatial_mask" for block in blocks]
    missing = [k for k in keys if k not in endpoints]
    if missing or not keys:
      raise ValueError(f"attention_refinement: no spatial masks {missing or keys} among the "
                       f"endpoints (refinement_blocks={self.refinement_blocks!r}, block_module="
                       f"{self.block_module!r} with spatial attention)")
    return [endpoints[k] for k in keys]

  @nn.compact
  def __call__(self, x, train: bool = False) -> tuple[jax.Array, dict[str, Any]]:
    if x.ndim != 5 or x.shape[-1] != self.input_channels:
      raise ValueError(
          f"expected an NTHWC clip with {self.input_channels} channels "
          f"(model.input_channels), got shape {x.shape}")
    if self.final_endpoint not in BACKBONE_ENDPOINTS:
      raise ValueError(f"final_endpoint must be one of {BACKBONE_ENDPOINTS}, "
                       f"got {self.final_endpoint!r}")
    if self.head not in HEADS:
      raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
    if self.head in attention.HEADS[1:] and (
        self.attention_source not in BACKBONE_ENDPOINTS or
        BACKBONE_ENDPOINTS.index(self.attention_source) >
        BACKBONE_ENDPOINTS.index(self.final_endpoint)):
      raise ValueError(f"attention_source must be a backbone endpoint up to final_endpoint "
                       f"{self.final_endpoint!r}, got {self.attention_source!r}")
    module_blocks = self._block_module_blocks()
    temporal_blocks = _block_range(self.temporal_conv_startat, self.temporal_conv_endat,
                                   "temporal_conv")
    gated_blocks = _block_range(self.gating_startat, None, "gating")
    o = self.options
    endpoints = {}

    def record(name, value):
      endpoints[name] = logical_axes.constrain_activation(value)
      return endpoints[name]

    x = jnp.asarray(x, o.dtype)
    k1 = self.first_temporal_kernel_size
    x = record("Conv3d_1a_7x7", ConvUnit(
        self.depth(64), (k1, 7, 7), (2, 2, 2), separable=self.separable_conv1,
        temporal_norm=self.temporal_norm, options=o, name="Conv3d_1a_7x7")(x, train))

    def pool(name, x):
      window, strides = _POOLS[name]
      return record(name, max_pool_3d(x, window, strides, o.padding, o.lowering))

    def conv_1x1(name, x):
      return record(name, ConvUnit(self.depth(64), (1, 1, 1), options=o, name=name)(x, train))

    def conv_block(name, x):
      index = CONV_BLOCKS.index(name)
      t = 3 if index in temporal_blocks else 1
      common = dict(separable=self.separable, temporal_norm=self.temporal_norm,
                    gating=index in gated_blocks, gate_bias=self.gate_bias, options=o,
                    name=name)
      if name == "Conv3d_2c_3x3":
        return record(name, ConvUnit(self.depth(192), (t, 3, 3), **common)(x, train))
      channels = INCEPTION_V1_CHANNELS[name].scaled(self.depth)
      if name in module_blocks:
        common.update(block_module=self.block_module,
                      block_module_options=option_pairs(self.block_module_options))
      # static_argnums counts the module as 0: `train` (2) picks Python branches.
      block = nn.remat(InceptionBlock, static_argnums=(2,)) if o.remat_blocks else InceptionBlock
      x, maps = block(channels, t, **common)(x, train)
      for key, value in maps.items():
        record(f"{name}/{key}", value)
      return record(name, x)

    layers = [("MaxPool3d_2a_3x3", pool), ("Conv3d_2b_1x1", conv_1x1),
              ("Conv3d_2c_3x3", conv_block), ("MaxPool3d_3a_3x3", pool),
              ("Mixed_3b", conv_block), ("Mixed_3c", conv_block),
              ("MaxPool3d_4a_3x3", pool), ("Mixed_4b", conv_block), ("Mixed_4c", conv_block),
              ("Mixed_4d", conv_block), ("Mixed_4e", conv_block), ("Mixed_4f", conv_block),
              ("MaxPool3d_5a_2x2", pool), ("Mixed_5b", conv_block), ("Mixed_5c", conv_block)]
    for name, layer in layers:
      if self.final_endpoint in endpoints:
        break
      x = layer(name, x)
    if self.attention_refinement:
      x = record("AttentionRefinement", w3.AttentionRefinement(o, name="AttentionRefinement")(
          x, self._refinement_masks(endpoints)))

    if self.head == "none":
      return None, endpoints
    if self.head == "feature_attention":
      gate, x = feature_attention.FeatureAttention(
          self.feature_attention_sigma, self.feature_attention_theta,
          self.feature_attention_length, self.feature_attention_groups, o,
          name="FeatureAttention")(x)
      record(feature_attention.ATTENTION_ENDPOINT, gate)
      record(feature_attention.FEATURES_ENDPOINT, x)
    if self.head in ("logits", "feature_attention"):
      logits_per_time = LogitsHead(self.num_classes, self.dropout_rate, o, name="Logits")(
          x, train)
      logits = jnp.mean(logits_per_time, axis=1)
    else:
      probabilistic_train = train and self.head in ("prob_atten", "prob_distill")
      logits_per_time, logits, maps = attention.attention_head(
          self.head, endpoints[self.attention_source], x, num_classes=self.num_classes,
          dropout_rate=self.dropout_rate, options=o, train=train,
          rng=self.make_rng("dropout") if probabilistic_train else None,
          temperature=self.gumbel_temperature, eps=self.gumbel_eps,
          per_channel_noise=self.gumbel_per_channel)
      for key, value in maps.items():
        record(key, value)
    endpoints["Logits_per_time"] = logits_per_time
    endpoints["Logits"] = logits
    endpoints["Predictions"] = jax.nn.softmax(logits, axis=-1)
    return logits, endpoints


class LogitsHead(nn.Module):
  """avg pool [2,7,7] VALID (clipped to the input), dropout, 1x1x1 conv with bias.

  Returns float32 per-time-step logits [B, T', classes]; positions left over in H, W
  (inputs larger than 224 px) are averaged, so the network is fully convolutional.
  """

  num_classes: int
  dropout_rate: float
  options: ConvOptions

  @nn.compact
  def __call__(self, x, train: bool):
    o = self.options
    x = clipped_avg_pool_3d(x, (2, 7, 7))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = Conv3D(self.num_classes, (1, 1, 1), use_bias=True, lowering=o.lowering,
               dtype=o.dtype, param_dtype=o.param_dtype, name="Conv3d_0c_1x1")(x)
    return jnp.mean(x, axis=(2, 3)).astype(jnp.float32)
