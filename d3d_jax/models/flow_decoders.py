"""Optical-flow decoders of D3D Sec. 3.1 (Stroud et al., WACV 2020, Figure 3).

A decoder maps a hidden activation [B, T, H, W, C] of a 3-D CNN to a three-channel
flow picture [B, T, H, W, 3] = (mag, sin theta, cos theta) at the same T x H x W.
None has a temporal filter (every kernel is 1 x k x k), a cost volume or warping, so
whatever motion the output shows was already in the features: perturbing frame t of
the input changes only frame t of the output.

* ``simple``: one 3 x (1x1x1) conv, linear.
* ``spatial``: two C x (1x3x3) convs (C = the input channels), then 3 x (1x1x1).
* ``pwc``: six C_L x (1x3x3) convs, C_L = 128, 128, 96, 64, 32, 3: PWC-Net's optical
  flow estimator (Sun et al., CVPR 2018) without its cost volume, warping and dense
  connections.

Where the paper is silent, the choices here:

* activations: ``pwc`` follows PWC-Net's estimator, a leaky ReLU with slope 0.1 after
  every conv but the last (PWC-Net paper Sec. 3 / its released Caffe and PyTorch
  models); ``spatial`` uses the same leaky ReLU after its two C-wide convs, so the two
  multi-layer decoders differ only in widths and depth; every last conv is linear.
* dilation: 1 everywhere (PWC-Net's estimator is undilated; the dilations 1, 2, 4, 8,
  16 belong to its separate context network, which the D3D decoder does not include).
* every conv has a bias and there is no normalisation (as in PWC-Net), so a frozen
  backbone's BatchNorm is the only BN in a probe.
* the decoder computes in float32 whatever the backbone's dtype (three output
  channels are cheap; the loss is a regression).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models.conv3d import Conv3D

DECODERS = ("simple", "spatial", "pwc")
# PWC-Net's flow-estimator widths C_L, the last being the (mag, sin, cos) output.
PWC_CHANNELS = (128, 128, 96, 64, 32, 3)
LEAKY_SLOPE = 0.1


class FlowDecoder(nn.Module):
  """One of `DECODERS` on a [B, T, H, W, C] activation -> [B, T, H, W, 3] (mag, sin, cos).

  Attributes:
    kind: 'simple', 'spatial' or 'pwc'.
    pwc_channels: C_L of the 'pwc' decoder (the paper's by default; the last must be 3).
    lowering: the conv lowering (`d3d_jax.models.conv3d.LOWERINGS`).
  """

  kind: str = "pwc"
  pwc_channels: Sequence[int] = PWC_CHANNELS
  lowering: str = "auto"

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    if self.kind not in DECODERS:
      raise ValueError(f"flow decoder must be one of {DECODERS}, got {self.kind!r}")
    if features.ndim != 5:
      raise ValueError(f"a flow decoder reads a [B, T, H, W, C] activation, got shape "
                       f"{features.shape}")
    x = jnp.asarray(features, jnp.float32)
    if self.kind == "simple":
      widths, kernels = (3,), ((1, 1, 1),)
    elif self.kind == "spatial":
      widths, kernels = (x.shape[-1], x.shape[-1], 3), ((1, 3, 3), (1, 3, 3), (1, 1, 1))
    else:
      if tuple(self.pwc_channels)[-1:] != (3,):
        raise ValueError(f"pwc_channels must end with 3 output channels (mag, sin, cos), "
                         f"got {tuple(self.pwc_channels)}")
      widths, kernels = tuple(self.pwc_channels), ((1, 3, 3),) * len(self.pwc_channels)
    for i, (width, kernel) in enumerate(zip(widths, kernels)):
      x = Conv3D(width, kernel, use_bias=True, lowering=self.lowering,
                 name=f"conv{i}_{kernel[1]}x{kernel[2]}")(x)
      if i < len(widths) - 1:
        x = nn.leaky_relu(x, LEAKY_SLOPE)
    return x
