"""W3 video attention (Perez-Rua et al., "Knowing What, Where and When to Look", ECCV 2020).

A W3 module turns a block's feature map F [B, T, H, W, C] into F^s = M^s (x) (M^c (x) F)
(Eq. 1-2): first the channel-temporal mask M^c [B, T, C] ('what' and 'when'), then the
spatio-temporal mask M^s [B, T, H, W] ('where' and 'when') of the channel-attended map.

* `ChannelTemporalAttention` (Sec. 3.1): per frame, average and max spatial pooling ->
  one shared MLP with a C/r hidden layer -> the two outputs summed -> sigmoid
  (M^{c-frm}, Eq. 3); then two 1-D temporal convolutions, kernel K_{c-vid} = 3, over the
  sequence of per-frame masks -> sigmoid (M^c, Eq. 4).
* `SpatioTemporalAttention` (Sec. 3.2): per frame, average and max over channels ->
  one 7x7 2-D convolution (2 -> 1 channel) -> sigmoid (M^{s-frm}, Eq. 5); then two
  3x3x3 convolutions over the T x H x W stack of masks -> sigmoid (M^s, Eq. 6).
* `AttentionRefinement` (Sec. 3.4, Eq. 7-8): the network's final features plus a 1x1
  convolution (with ReLU, Fig. 2) of the stages' spatial masks, each adaptively
  average-pooled to the final grid and concatenated on channels.

Where the paper is silent, these are the defaults (each a module attribute, so a
config sets it through ``model.options.block_module_options``):

* ``reduction`` r = 16: the paper names r but not its value; 16 is CBAM's (Woo et al.
  ECCV 2018), the module W3 says it factorises and extends (Sec. 1, ref. [56]).
* The 1-D temporal convolutions of Eq. 4 are depthwise (``temporal_mixing=
  'depthwise'``: one 3-tap filter per channel, with bias): Sec. 3.1 says they reason
  about "the temporally evolving characteristics of each channel dimension" /
  "per-channel temporal relationships". ``'full'`` makes them C -> C convolutions
  (2 * 3 C^2 weights per block, 25 M at C = 2048). Table 6's +2.1 GFLOPs on TSM-R50
  at 16 frames (65.0 -> 67.1) is about what the full ones cost there (measured with
  `python -m d3d_jax.tools.w3_overhead`: +2.24 G multiply-adds and +123 M parameters,
  against +0.39 G and +2.7 M for the depthwise ones); but the same table gives CBAM,
  which has no temporal convs, +1.5 G where its multiply-adds are +0.36 G, so the
  paper's FLOP counter is not a plain MAC count and does not settle the question.
  Depthwise stays the default: it is what the text describes, at a cost the paper
  would call marginal in parameters too.
* The hidden layers of both temporal sub-networks have ReLU (``hidden_activation``),
  the activation of the MLP of Eq. 3 and of CBAM; the sub-networks end in the sigmoid
  of Eq. 4 / 6. The 3x3x3 convs of Eq. 6 keep one channel (``spatial_hidden_channels``
  = 1): the paper stacks "single-channel per-frame intermediate spatial attention
  maps" and calls the sub-network lightweight.
* All convs are zero-padded to keep T, H and W ('SAME', stride 1) and have a bias; the
  7x7 conv has no BatchNorm (``spatial_batch_norm``; CBAM's has one).
* In an Inception block the module runs on the block's output, after the concatenation
  (and S3D-G's gating): that is the block's feature tensor, the analogue of the output
  of a ResNet block's residual branch where W3 and CBAM sit. It goes into every
  Inception block (`S3DG.block_module_blocks` empty), as W3 goes "at each residual
  block" (Sec. 3.3).

``temporal=False`` drops both temporal sub-networks (M^c = M^{c-frm}, M^s = M^{s-frm}),
the "w/o TA" ablation of Table 5; ``spatial=False`` drops the spatio-temporal sub-module
("w/o SA"). `CBAM` is the image-attention baseline of Tables 6-7: the same two gates
without temporal reasoning, reduction 16, a 7x7 conv with BatchNorm.
"""

from typing import Callable, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models.conv3d import Conv3D
from d3d_jax.models.units import ConvOptions, batch_norm

ACTIVATIONS: dict[str, Callable] = {"relu": nn.relu, "identity": lambda x: x}


def _activation(name: str) -> Callable:
  if name not in ACTIVATIONS:
    raise ValueError(f"block_module_options.hidden_activation must be one of "
                     f"{sorted(ACTIVATIONS)}, got {name!r}")
  return ACTIVATIONS[name]


class DepthwiseTemporalConv(nn.Module):
  """A per-channel 1-D convolution over time of [B, T, C]: zero 'SAME' padding, bias."""

  kernel_size: int = 3

  @nn.compact
  def __call__(self, x):
    k, channels = self.kernel_size, x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(in_axis=0, out_axis=1),
                        (k, channels))
    bias = self.param("bias", nn.initializers.zeros_init(), (channels,))
    before = (k - 1) // 2
    padded = jnp.pad(x, ((0, 0), (before, k - 1 - before), (0, 0)))
    t = x.shape[1]
    return sum(padded[:, j:j + t] * kernel[j] for j in range(k)) + bias


TEMPORAL_MIXINGS = ("depthwise", "full")


def temporal_conv(mixing: str, kernel_size: int, name: str) -> nn.Module:
  """A 1-D conv over time of [B, T, C] ('SAME' zeros, bias): per channel or C -> C."""
  if mixing not in TEMPORAL_MIXINGS:
    raise ValueError(f"block_module_options.temporal_mixing must be one of "
                     f"{TEMPORAL_MIXINGS}, got {mixing!r}")
  if mixing == "depthwise":
    return DepthwiseTemporalConv(kernel_size, name=name)
  return FullTemporalConv(kernel_size, name=name)


class FullTemporalConv(nn.Module):
  """A C -> C 1-D convolution over time of [B, T, C]: zero 'SAME' padding, bias."""

  kernel_size: int = 3

  @nn.compact
  def __call__(self, x):
    return nn.Conv(x.shape[-1], (self.kernel_size,), padding="SAME", name="conv")(x)


class ChannelTemporalAttention(nn.Module):
  """M^c of Eq. 3-4: [B, T, H, W, C] -> a mask [B, T, C] in (0, 1)."""

  reduction: int = 16
  temporal: bool = True
  temporal_kernel_size: int = 3
  hidden_activation: str = "relu"
  temporal_mixing: str = "depthwise"

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    x = x.astype(jnp.float32)
    hidden = nn.Dense(max(channels // self.reduction, 1), name="mlp_hidden")
    output = nn.Dense(channels, name="mlp_out")
    mlp = lambda d: output(nn.relu(hidden(d)))
    frame_mask = jax.nn.sigmoid(mlp(jnp.mean(x, axis=(2, 3))) + mlp(jnp.max(x, axis=(2, 3))))
    if not self.temporal:
      return frame_mask  # Eq. 3 alone ("w/o TA", CBAM's channel gate)
    k, mixing = self.temporal_kernel_size, self.temporal_mixing
    y = temporal_conv(mixing, k, "temporal_conv_0")(frame_mask)
    y = _activation(self.hidden_activation)(y)
    y = temporal_conv(mixing, k, "temporal_conv_1")(y)
    return jax.nn.sigmoid(y)  # Eq. 4


class SpatioTemporalAttention(nn.Module):
  """M^s of Eq. 5-6: [B, T, H, W, C] -> a mask [B, T, H, W] in (0, 1)."""

  temporal: bool = True
  frame_kernel_size: int = 7
  temporal_kernel_size: int = 3
  hidden_channels: int = 1
  hidden_activation: str = "relu"
  batch_norm: bool = False
  options: ConvOptions = ConvOptions()

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(jnp.float32)
    pooled = jnp.stack([jnp.mean(x, axis=-1), jnp.max(x, axis=-1)], axis=-1)
    k = self.frame_kernel_size
    conv = lambda features, kernel, name, **kw: Conv3D(
        features, kernel, padding="SAME", lowering=self.options.lowering, name=name, **kw)
    y = conv(1, (1, k, k), "frame_conv", use_bias=not self.batch_norm)(pooled)
    if self.batch_norm:
      y = batch_norm(self.options, train, "frame_bn")(y)
    frame_mask = jax.nn.sigmoid(y)  # Eq. 5, per frame
    if not self.temporal:
      return frame_mask[..., 0]
    kt = self.temporal_kernel_size
    y = conv(self.hidden_channels, (kt, 3, 3), "temporal_conv_0", use_bias=True)(frame_mask)
    y = _activation(self.hidden_activation)(y)
    y = conv(1, (kt, 3, 3), "temporal_conv_1", use_bias=True)(y)
    return jax.nn.sigmoid(y)[..., 0]  # Eq. 6


class W3Attention(nn.Module):
  """The W3 block module (Eq. 1-2): channel-temporal, then spatio-temporal attention.

  Returns ``(F^s, maps)`` with ``maps = {'channel_mask': M^c [B, T, C],
  'spatial_mask': M^s [B, T, H, W]}`` (the latter absent with ``spatial=False``).
  """

  scope_name: ClassVar[str] = "W3"
  position: ClassVar[str] = "output"
  new_parameters: ClassVar[bool] = True

  reduction: int = 16
  temporal: bool = True
  spatial: bool = True
  temporal_kernel_size: int = 3
  spatial_kernel_size: int = 7
  spatial_hidden_channels: int = 1
  hidden_activation: str = "relu"
  temporal_mixing: str = "depthwise"
  spatial_batch_norm: bool = False
  options: ConvOptions = ConvOptions()

  @nn.compact
  def __call__(self, x, train: bool):
    channel_mask = ChannelTemporalAttention(
        self.reduction, self.temporal, self.temporal_kernel_size, self.hidden_activation,
        self.temporal_mixing, name="channel_temporal")(x)
    x = x * channel_mask[:, :, None, None, :].astype(x.dtype)  # F^c of Eq. 2
    maps = {"channel_mask": channel_mask}
    if self.spatial:
      spatial_mask = SpatioTemporalAttention(
          self.temporal, self.spatial_kernel_size, self.temporal_kernel_size,
          self.spatial_hidden_channels, self.hidden_activation, self.spatial_batch_norm,
          self.options, name="spatio_temporal")(x, train)
      x = x * spatial_mask[..., None].astype(x.dtype)  # F^s of Eq. 2
      maps["spatial_mask"] = spatial_mask
    return x, maps


class CBAM(W3Attention):
  """CBAM (Woo et al., ECCV 2018), W3's image-attention baseline (Tables 6-7): per
  frame, the channel gate (avg + max pooling, shared MLP with reduction 16) then the
  spatial gate (channel avg + max, 7x7 conv with BatchNorm, sigmoid); no temporal
  reasoning. Same maps as `W3Attention`."""

  scope_name: ClassVar[str] = "CBAM"
  temporal: bool = False
  spatial_batch_norm: bool = True


def adaptive_avg_pool(x, output_size):
  """PyTorch's adaptive average pooling of [B, T, H, W, C] to `output_size` (T, H, W):
  output cell i of an axis of length n -> m averages inputs [floor(i n / m),
  ceil((i + 1) n / m))."""
  for axis, out in zip((1, 2, 3), output_size):
    n = x.shape[axis]
    if n == out:
      continue
    cells = [jnp.mean(jax.lax.slice_in_dim(x, (i * n) // out, -(-((i + 1) * n) // out),
                                           axis=axis), axis=axis, keepdims=True)
             for i in range(out)]
    x = jnp.concatenate(cells, axis=axis)
  return x


class AttentionRefinement(nn.Module):
  """Attention-guided feature refinement (Eq. 7-8): y = x + ReLU(W_ref * M^ms + b).

  `masks` are the stages' spatial masks [B, T_j, H_j, W_j]; each is adaptively
  average-pooled to the grid of the final features x [B, T_l, H_l, W_l, C_l] (Eq. 7's
  AAP, here over T too: a 3-D network's stages have different temporal lengths, TSM's
  do not) and they are concatenated on channels (M^ms, N channels); a 1x1x1 conv with
  C_l kernels and ReLU (Fig. 2) maps them to the refining map that is added to x.
  """

  options: ConvOptions = ConvOptions()

  @nn.compact
  def __call__(self, x, masks):
    grid = x.shape[1:4]
    stacked = jnp.concatenate(
        [adaptive_avg_pool(m[..., None].astype(jnp.float32), grid) for m in masks], axis=-1)
    refining = Conv3D(x.shape[-1], (1, 1, 1), use_bias=True, lowering=self.options.lowering,
                      dtype=self.options.dtype, param_dtype=self.options.param_dtype,
                      name="Conv3d_1x1")(stacked)
    return x + nn.relu(refining).astype(x.dtype)


def stage_of(block: str) -> str:
  """The network stage of a block: 'Mixed_4c' -> 'Mixed_4', 'layer3/1' -> 'layer3'."""
  return block.split("/")[0] if "/" in block else block[:-1]


def last_block_per_stage(blocks) -> tuple[str, ...]:
  """The last of `blocks` (in network order) of each stage, e.g. Mixed_3c, 4f, 5c."""
  last: dict[str, str] = {}
  for block in blocks:
    last[stage_of(block)] = block
  return tuple(last.values())

