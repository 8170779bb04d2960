"""The conv units every Inception-v1 3-D network here is built from.

* `ConvUnit`: conv (no bias) -> BatchNorm -> ReLU (the DeepMind `Unit3D`), or slim's
  separable `conv3d_spatiotemporal`, optionally followed by self-gating;
* `SelfGating`: S3D-G's feature gating, ``x * sigmoid(W mean_{T,H,W}(x))``.

BatchNorm follows Sonnet / tf_slim: decay 0.999, epsilon 1e-3, a learned offset and
by default no scale (the DeepMind and slim checkpoints have no gamma); the PyTorch
ports and torchvision have a scale, switched on with ``bn_scale=True``.
"""

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models.conv3d import Conv3D
from d3d_jax.models.logical_axes import DENSE_AXES, NORM_AXES


@dataclasses.dataclass(frozen=True)
class ConvOptions:
  """Options shared by every conv unit of a network (one place, passed down)."""

  padding: str = "SAME"
  lowering: str = "auto"
  bn_momentum: float = 0.999
  bn_epsilon: float = 1e-3
  bn_scale: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32


def identity_temporal_init(key, shape, dtype=jnp.float32):
  """slim's "center" initializer: the middle temporal tap is the identity matrix."""
  del key
  kt, kh, kw, cin, cout = shape
  if cin != cout or kh != 1 or kw != 1:
    raise ValueError(f"identity init needs a kx1x1 kernel with C_in == C_out, got {shape}")
  kernel = jnp.zeros(shape, dtype)
  return kernel.at[kt // 2, 0, 0].set(jnp.eye(cin, dtype=dtype))


def batch_norm(options: ConvOptions, train: bool, name: str) -> nn.BatchNorm:
  """Reference-convention BatchNorm: batch statistics in training, averages in eval."""
  o = options
  return nn.BatchNorm(
      use_running_average=not train, momentum=o.bn_momentum, epsilon=o.bn_epsilon,
      use_scale=o.bn_scale, use_bias=True, dtype=o.dtype, param_dtype=o.param_dtype,
      scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), NORM_AXES),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), NORM_AXES),
      name=name)


class ConvUnit(nn.Module):
  """One named conv of the network, with the reference semantics.

  * not separable, or temporal kernel 1: ``conv`` (no bias) -> ``bn`` -> ReLU
    (DeepMind `Unit3D`, slim `conv3d`);
  * separable with temporal kernel kt > 1 (slim `conv3d_spatiotemporal`): the spatial
    1xkxk ``conv`` -> ``bn`` -> ReLU, then the temporal kt x1x1 conv ``temporal``,
    identity-initialised, with ``temporal_norm='bias'`` (slim: a bias and no BN) or
    ``'batch_norm'`` (torchvision / MMV: ``temporal_bn`` and no bias), then ReLU;
  * with ``gating``: S3D-G's `SelfGating` (``self_gating``) on the result.

  Parameter names mirror the checkpoints' scopes (`weights`, `BatchNorm`, `temporal`,
  `self_gating/transformer_W`), so importers map them one to one.
  """

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1, 1)
  separable: bool = False
  temporal_norm: str = "bias"
  gating: bool = False
  gate_bias: bool = False
  options: ConvOptions = ConvOptions()

  def _conv(self, kernel_size, strides, name, **kwargs):
    o = self.options
    return Conv3D(self.features, kernel_size, strides, padding=o.padding, lowering=o.lowering,
                  dtype=o.dtype, param_dtype=o.param_dtype, name=name, **kwargs)

  @nn.compact
  def __call__(self, x, train: bool):
    kt, kh, kw = self.kernel_size
    st, sh, sw = self.strides
    split = self.separable and kt > 1
    first_kernel, first_strides = ((1, kh, kw), (1, sh, sw)) if split else (
        tuple(self.kernel_size), tuple(self.strides))
    x = self._conv(first_kernel, first_strides, "conv")(x)
    x = nn.relu(batch_norm(self.options, train, "bn")(x))
    if split:
      if self.temporal_norm not in ("bias", "batch_norm"):
        raise ValueError(
            f"temporal_norm must be 'bias' or 'batch_norm', got {self.temporal_norm!r}")
      use_bias = self.temporal_norm == "bias"
      x = self._conv((kt, 1, 1), (st, 1, 1), "temporal", use_bias=use_bias,
                     kernel_init=identity_temporal_init)(x)
      if not use_bias:
        x = batch_norm(self.options, train, "temporal_bn")(x)
      x = nn.relu(x)
    if self.gating:
      x = SelfGating(self.gate_bias, self.options.dtype, self.options.param_dtype,
                     name="self_gating")(x)
    return x


class SelfGating(nn.Module):
  """S3D-G feature gating: ``x * sigmoid(W mean_{T,H,W}(x) [+ b])`` per channel.

  slim's ``self_gating/transformer_W`` has no bias and a truncated-normal(0.01) init;
  DeepMind's Haiku S3D-G (MMV) uses a bias (``use_bias=True``).
  """

  use_bias: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    pooled = jnp.mean(x, axis=(1, 2, 3))
    gate_logits = nn.Dense(
        channels, use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype,
        kernel_init=nn.with_logical_partitioning(
            nn.initializers.truncated_normal(0.01), DENSE_AXES),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("conv_out",)),
        name="transformer_W")(pooled)
    return x * jax.nn.sigmoid(gate_logits)[:, None, None, None, :]
