"""The attention module of generative feature distillation (Wang et al., AAAI 2024, Eq. 8-10).

A channel x time gate on the final endpoint F (``Mixed_5c``, [B, T, H, W, C]) and the
re-weighted features F' that the classifier reads. It is a test-time module ("during
the inference procedure, we only exploit student model with attention module", Sec.
Training and Inference): the logits are computed from F', so the module lives in the
network (``build_model(..., head='feature_attention')``) and is part of every export.
Only the CVAE (`d3d_jax.objectives.feature_cvae`) is training-only.

Eq. 8:   A  = Sigmoid(GN(Conv1D(F)))                     [B, T, C] (channel x time)
Eq. 9:   F' = sigma * (A x theta(F))
Eq. 10:  sigma = ||F|| / ||A x theta(F)||

The layer stack is the authors' code (``Att_Head``; shapes for C = 1024, T = 8, 7 x 7):

  F [B,8,7,7,1024] -> Conv3d [1,7,7] VALID to C/2 -> GroupNorm(32) -> ReLU   [B,8,512]
  -> nearest upsampling of time 8 -> `upsampled_length` (1024)                [B,1024,512]
  -> Conv1D k=3 'same' to C -> GroupNorm(32) -> ReLU                          [B,1024,1024]
  -> Dense over the upsampled time axis back to T -> Sigmoid                  A [B,8,1024]

so A gates each channel at each time step (it is not a spatial map). The norms of Eq.
10 are L1 norms (sums of absolute values): the code divides by ``f_fg.sum()`` and
multiplies by ``f5c.sum()``, which are L1 norms of the non-negative post-ReLU features.

Options (each `S3DG` attributes, ``feature_attention_*``):

* sigma 'clip' (default): one sigma per clip, the paper's notation (each F of Eq. 10
  is one clip's feature map); 'batch': ONE sigma over the whole (global) batch, the
  authors' code (``f_fg / f_fg.sum() * f5c.sum()`` over the batch tensor). With 'batch'
  a clip's prediction depends on the other clips of its batch, evaluation included.
* theta 'transposed_conv' (default): theta of Eq. 9 is a learned 1x1x1 3-D transposed
  convolution C -> C (the paper: "theta indicates the 3D transposed convolution"; its
  kernel size is not given); 'identity': no theta, F' = sigma (A x F), the code.
* upsampled_length: the time length of the code's upsampling (1024).
* groups: GroupNorm groups (32 everywhere in the code); must divide C / 2 and C.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models.units import ConvOptions

SIGMAS = ("clip", "batch")
THETAS = ("transposed_conv", "identity")

# Parameter paths of the module that published backbone checkpoints lack.
NEW_MODULES = ("^FeatureAttention/",)

# Endpoint names: the gate A [B, T, C] and the re-weighted features F' [B, T, H, W, C].
ATTENTION_ENDPOINT = "Attention/channel_time"
FEATURES_ENDPOINT = "Attention/reweighted_features"


def nearest_upsample(x, length: int):
  """[B, T, C] -> [B, length, C], PyTorch's 'nearest': output i takes input floor(i T / L)."""
  t = x.shape[1]
  return x[:, (jnp.arange(length) * t) // length]


def l1_scale(features, gated, sigma: str):
  """sigma of Eq. 10: ||F||_1 / ||A x theta(F)||_1 per clip ('clip', shape [B, 1, 1, 1, 1])
  or over the whole batch ('batch', a scalar)."""
  if sigma not in SIGMAS:
    raise ValueError(f"feature_attention_sigma must be one of {SIGMAS}, got {sigma!r}")
  axes = tuple(range(1, features.ndim)) if sigma == "clip" else None
  numerator = jnp.sum(jnp.abs(features), axis=axes, keepdims=sigma == "clip")
  denominator = jnp.sum(jnp.abs(gated), axis=axes, keepdims=sigma == "clip")
  # All-zero features (a zero clip at init) would give 0 / 0.
  return numerator / jnp.maximum(denominator, jnp.finfo(jnp.float32).tiny)


def _check_groups(channels: int, groups: int) -> None:
  if channels % groups:
    raise ValueError(f"feature_attention_groups={groups} must divide the attention's "
                     f"channels ({channels}); pick a depth_multiplier / final_endpoint whose "
                     f"width it divides, or another group count")


class FeatureAttention(nn.Module):
  """Eq. 8-10 on [B, T, H, W, C] features: returns (A [B, T, C], F' like the input)."""

  sigma: str = "clip"
  theta: str = "transposed_conv"
  upsampled_length: int = 1024
  groups: int = 32
  options: ConvOptions = ConvOptions()

  @nn.compact
  def __call__(self, features):
    if self.theta not in THETAS:
      raise ValueError(f"feature_attention_theta must be one of {THETAS}, got {self.theta!r}")
    o = self.options
    b, t, h, w, c = features.shape
    for width in (c // 2, c):
      _check_groups(width, self.groups)
    x = nn.Conv(c // 2, (1, h, w), padding="VALID", dtype=o.dtype, param_dtype=o.param_dtype,
                name="Conv3d_0a")(features)
    x = x.reshape(b, t, c // 2).astype(jnp.float32)
    x = nn.relu(nn.GroupNorm(self.groups, name="GroupNorm_0a")(x))
    x = nearest_upsample(x, self.upsampled_length)
    x = nn.Conv(c, (3,), padding="SAME", name="Conv1d_0b")(x)
    x = nn.relu(nn.GroupNorm(self.groups, name="GroupNorm_0b")(x))
    # The Dense maps the upsampled time axis back to T, for each channel.
    logits = nn.Dense(t, name="Dense_0c")(jnp.swapaxes(x, 1, 2))        # [B, C, T]
    attention = jax.nn.sigmoid(jnp.swapaxes(logits, 1, 2))               # [B, T, C]
    transformed = features
    if self.theta == "transposed_conv":
      transformed = nn.ConvTranspose(c, (1, 1, 1), dtype=o.dtype, param_dtype=o.param_dtype,
                                     name="theta")(features)
    gated = attention[:, :, None, None, :].astype(transformed.dtype) * transformed
    scale = l1_scale(features.astype(jnp.float32), gated.astype(jnp.float32), self.sigma)
    return attention, (scale * gated).astype(features.dtype)
