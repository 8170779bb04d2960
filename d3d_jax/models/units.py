"""The conv units every Inception-v1 3-D network here is built from.

* `ConvUnit`: conv (no bias) -> BatchNorm -> ReLU (the DeepMind `Unit3D`), or slim's
  separable `conv3d_spatiotemporal`, optionally followed by self-gating;
* `SelfGating`: S3D-G's feature gating, ``x * sigmoid(W mean_{T,H,W}(x))``.

BatchNorm follows Sonnet / tf_slim: decay 0.999, epsilon 1e-3, a learned offset and
by default no scale (the DeepMind and slim checkpoints have no gamma); the PyTorch
ports and torchvision have a scale, switched on with ``bn_scale=True``.

Which clips share training statistics is ``bn_group_size`` (`GroupBatchNorm`): 0, the
default, normalises over the whole batch the train step sees. Under one `jax.jit` over a
batch-sharded array that is the GLOBAL batch (XLA inserts the cross-device reductions),
which is what big_vision and scenic do. The reference runs normalised per replica: the
kinetics-i3d README trained 6 clips per replica on 64 replicas, D3D (Sec. 5.1) 6 per GPU
on 64 GPUs, each GPU's BatchNorm seeing its own 6 clips. ``bn_group_size=6`` reproduces
that on any mesh and any global batch divisible by 6.
"""

import dataclasses
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
from jax import lax
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
  # Clips per BatchNorm statistics group in training; 0 = the whole batch. See
  # `GroupBatchNorm` and the module docstring.
  bn_group_size: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  # Paths of BatchNorm layers that run in inference mode even in training (their
  # parameters are frozen; set by the trainer, never stored in an export).
  frozen_norms: tuple = ()
  # Rematerialise each Inception block in the backward pass (`flax.linen.remat`): its
  # activations are recomputed instead of kept, trading ~1/3 more FLOPs for memory so a
  # larger batch fits on an accelerator. Same values and gradients as without.
  remat_blocks: bool = False


def identity_temporal_init(key, shape, dtype=jnp.float32):
  """slim's "center" initializer: the middle temporal tap is the identity matrix."""
  del key
  kt, kh, kw, cin, cout = shape
  if cin != cout or kh != 1 or kw != 1:
    raise ValueError(f"identity init needs a kx1x1 kernel with C_in == C_out, got {shape}")
  kernel = jnp.zeros(shape, dtype)
  return kernel.at[kt // 2, 0, 0].set(jnp.eye(cin, dtype=dtype))


def batch_norm(options: ConvOptions, train: bool, name: str) -> nn.Module:
  """Reference-convention BatchNorm: batch statistics in training, averages in eval.

  With ``options.bn_group_size`` set, training uses `GroupBatchNorm` (the same variables,
  statistics per group of clips); evaluation and ``bn_group_size=0`` use `nn.BatchNorm`.
  """
  o = options
  if o.bn_group_size < 0:
    raise ValueError(
        f"model.options.bn_group_size must be >= 0 (0 = the whole batch), got {o.bn_group_size}")
  scale_init = nn.with_logical_partitioning(nn.initializers.ones_init(), NORM_AXES)
  bias_init = nn.with_logical_partitioning(nn.initializers.zeros_init(), NORM_AXES)
  if train and o.bn_group_size:
    return GroupBatchNorm(
        group_size=o.bn_group_size, momentum=o.bn_momentum, epsilon=o.bn_epsilon,
        use_scale=o.bn_scale, dtype=o.dtype, param_dtype=o.param_dtype,
        scale_init=scale_init, bias_init=bias_init, name=name)
  return nn.BatchNorm(
      use_running_average=not train, momentum=o.bn_momentum, epsilon=o.bn_epsilon,
      use_scale=o.bn_scale, use_bias=True, dtype=o.dtype, param_dtype=o.param_dtype,
      scale_init=scale_init, bias_init=bias_init, name=name)


class GroupBatchNorm(nn.Module):
  """Training-mode BatchNorm whose statistics are over groups of `group_size` clips.

  The batch [B, ...] is viewed as [B / G, G, ...] (a reshape inside the jitted step, no
  `shard_map`): clips b and b' share statistics iff b // G == b' // G. A batch-sharded
  array stays sharded: when G divides the clips per device, every group lives on one
  device and normalising needs no communication at all; when it does not (fewer than G
  clips per device), XLA adds the reductions within each group, so the result is the
  same on every mesh. This reproduces per-replica BatchNorm of the reference's
  multi-GPU training (6 clips per GPU) whatever our device count.

  Moving averages: ``ra <- momentum * ra + (1 - momentum) * mean_over_groups(stat)`` for
  the group means and the group (biased, as `nn.BatchNorm`) variances. Per-replica TF
  training updated them either from one tower only (slim's `train_image_classifier.py`
  keeps the UPDATE_OPS of the first clone) or as the mean of all replicas' updates
  (Keras BatchNormalization under `tf.distribute`, whose moving statistics are
  MEAN-aggregated mirrored variables). Both estimate the same quantity; the mean over
  groups is the lower-variance one and does not depend on which clips land first. Note
  the averaged variance is the within-group variance, i.e. what the network was
  normalised with in training, not the variance of the whole batch.

  Variables are `nn.BatchNorm`'s (``params/{scale,bias}``, ``batch_stats/{mean,var}``),
  so checkpoints, exports and the eval path (`nn.BatchNorm` on the averages) are
  unchanged; the arithmetic mirrors `nn.BatchNorm`'s (float32 statistics, E[x^2] - E[x]^2).
  """

  group_size: int
  momentum: float = 0.99
  epsilon: float = 1e-5
  use_scale: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  scale_init: Callable = nn.initializers.ones_init()
  bias_init: Callable = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x):
    batch, features = x.shape[0], x.shape[-1]
    g = self.group_size
    if g < 1 or batch % g:
      raise ValueError(
          f"model.options.bn_group_size={g} must divide the training batch "
          f"(input.batch_size), got a batch of {batch} clips")
    ra_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, jnp.float32),
                            (features,))
    ra_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, jnp.float32),
                           (features,))
    stats_dtype = jnp.promote_types(self.dtype or x.dtype, jnp.float32)
    groups = x.reshape((batch // g, g) + x.shape[1:])
    reduce_axes = tuple(range(1, groups.ndim - 1))
    as_stats = groups.astype(stats_dtype)
    mean = jnp.mean(as_stats, reduce_axes, keepdims=True)
    var = jnp.maximum(0.0, jnp.mean(lax.square(as_stats), reduce_axes, keepdims=True)
                      - lax.square(mean))
    if not self.is_initializing():
      ra_mean.value = (self.momentum * ra_mean.value
                       + (1 - self.momentum) * jnp.mean(mean, axis=0).reshape(features))
      ra_var.value = (self.momentum * ra_var.value
                      + (1 - self.momentum) * jnp.mean(var, axis=0).reshape(features))
    y = groups - mean
    mul = lax.rsqrt(var + self.epsilon)
    if self.use_scale:
      mul = mul * self.param("scale", self.scale_init, (features,), self.param_dtype)
    y = y * mul + self.param("bias", self.bias_init, (features,), self.param_dtype)
    return jnp.asarray(y.reshape(x.shape), self.dtype or x.dtype)


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

  def _norm_trains(self, train: bool, name: str) -> bool:
    """Training-mode BatchNorm unless the layer is one of `options.frozen_norms`."""
    return train and "/".join(self.path + (name,)) not in self.options.frozen_norms

  @nn.compact
  def __call__(self, x, train: bool):
    kt, kh, kw = self.kernel_size
    st, sh, sw = self.strides
    split = self.separable and kt > 1
    first_kernel, first_strides = ((1, kh, kw), (1, sh, sw)) if split else (
        tuple(self.kernel_size), tuple(self.strides))
    x = self._conv(first_kernel, first_strides, "conv")(x)
    x = nn.relu(batch_norm(self.options, self._norm_trains(train, "bn"), "bn")(x))
    if split:
      if self.temporal_norm not in ("bias", "batch_norm"):
        raise ValueError(
            f"temporal_norm must be 'bias' or 'batch_norm', got {self.temporal_norm!r}")
      use_bias = self.temporal_norm == "bias"
      x = self._conv((kt, 1, 1), (st, 1, 1), "temporal", use_bias=use_bias,
                     kernel_init=identity_temporal_init)(x)
      if not use_bias:
        x = batch_norm(self.options, self._norm_trains(train, "temporal_bn"),
                       "temporal_bn")(x)
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
