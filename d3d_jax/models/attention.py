"""Attention heads of attention distillation (Liu et al., BMVC 2020, Sec. 3.2-3.5).

A head replaces the network's average-pool logits head (`s3dg.LogitsHead`) with
attention-guided pooling. Every head reads two endpoints of the backbone:

* phi, the features the attention map is predicted from (``attention_source``, by
  default ``Mixed_4f``: "the outputs of the 4th convolutional block", Sec. 3.6);
* the features the map pools (the final endpoint, ``Mixed_5c``: "the last Inception
  module of the 5th convolutional block").

The heads (``build_model(..., head=...)``):

| head           | attention map (Sec. 3.2)                  | recognition (Sec. 3.3)            |
|----------------|-------------------------------------------|-----------------------------------|
| 'soft_atten'   | A = softmax(w_a * phi), Eq. 1             | attention pooling, Eq. 4          |
| 'soft_res'     | A = softmax(w_a * phi), Eq. 1             | residual attention pooling, Eq. 5 |
| 'prob_atten'   | A ~ p(A) = softmax(w_a * phi), Eq. 2      | attention pooling, Eq. 4          |
| 'prob_distill' | motion and appearance maps, each Eq. 2    | the two heads' outputs summed, Eq. 7 |

w_a is a bias-free 1x1x1 convolution to one channel (Sec. 3.2 restricts F_A to a linear
map without bias) and the softmax runs over H x W separately for each time slice, so
every slice A(t) sums to 1.

**Probabilistic maps.** In training the map that pools is a Gumbel-softmax sample,
``softmax((z + g) / tau)`` with ``z = w_a * phi`` and ``g = -log(-log(u + eps) + eps)``,
u ~ U(0, 1) (Jang et al. ICLR 2017, the paper's [18]); as in the first author's public
code (``JointProbAtten`` in "Forecasting-Human-Object-Interaction-in-FPV") the noise
has the shape of the pooled features, so each feature channel pools with its own
sample (the "spatial dropout" reading of Sec. 3.2), eps = 1e-6 and tau = 2. At test the
expectation p(A) = softmax(z) pools ("we directly plug in p(A)", Sec. 3.2). Losses read
the deterministic map p(A), never a sample (the same code computes its KL on the
non-sampled map).

**Two grids.** phi (Mixed_4f, 16x14x14 at 64x224x224) has a finer grid than the pooled
features (Mixed_5c, 8x7x7). The map lives on phi's grid (its endpoint, the KL of Eq. 3,
6 and 8, the T x H x W of lambda_2) and is brought to the feature grid for pooling by
`resample_map`: each feature cell takes the SUM of the attention of the source cells it
covers in H and W (so no mass is lost) and the MEAN over the source time slices it
covers (padding excluded), which keeps every time slice a distribution.

**Pooling.** Eq. 4: pooled(t, c) = sum_{h,w} A(t, h, w) phi(t, h, w, c), a weighted
spatial average per time slice; the classifier W_r (a 1x1x1 convolution with bias, named
like the plain head's ``Logits/Conv3d_0c_1x1`` so Kinetics weights load into it) maps
each slice to logits, which are averaged over time as the plain head does (the same
code: weighted spatial sum, then temporal mean). Eq. 5 adds the all-ones map I;
literally, sum_{h,w} I phi is H*W times the average pool, which the paper describes as
"adds average pooled features", so I is taken per slice as the uniform map 1/(H W): the
residual term is the average-pooled feature, on the scale of the attention term.

**Eq. 7.** Each F_R of Eq. 7 "follows Eq. 4", softmax included, so the Prob-Distill
prediction is the equal-weight mixture of the motion and appearance heads'
probabilities; its ``Logits`` endpoint is the log of that mixture, so a softmax (the
evaluation) or a cross-entropy of it (the loss) sees exactly the mixture.

Endpoints (maps are [B, T, H, W] on phi's grid, float32): ``Attention/map`` and
``Attention/map_log`` (log p(A), for KL numerics) for the single-map heads;
``Attention/motion``, ``Attention/appearance`` and their ``_log`` twins, and the
per-head logits ``Logits/motion`` and ``Logits/appearance``, for 'prob_distill'.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models.conv3d import Conv3D
from d3d_jax.models.units import ConvOptions

HEADS = ("logits", "soft_atten", "soft_res", "prob_atten", "prob_distill")
_PROBABILISTIC = ("prob_atten", "prob_distill")

# Parameter paths of each head that published backbone checkpoints do not have.
NEW_MODULES = {
    "logits": (),
    "soft_atten": ("^Attention/",),
    "soft_res": ("^Attention/",),
    "prob_atten": ("^Attention/",),
    "prob_distill": ("^Attention/", "^Logits/(motion|appearance)/"),
}


def check_head(head: str) -> None:
  if head not in HEADS:
    raise ValueError(f"head must be one of {HEADS}, got {head!r}")


def slice_log_softmax(logits):
  """log-softmax over (H, W) of [B, T, H, W] logits: each time slice normalised."""
  b, t, h, w = logits.shape
  return jax.nn.log_softmax(logits.reshape(b, t, h * w), axis=-1).reshape(b, t, h, w)


def _block_factor(source: int, target: int, axis: str) -> int:
  factor = -(-source // target)
  if factor * (target - 1) >= source:
    raise ValueError(f"cannot bring an attention map of {source} {axis} cells onto "
                     f"{target}: pick an attention_source whose grid is a whole multiple")
  return factor


def resample_map(maps, grid):
  """Brings [B, T, H, W, ...] per-slice distributions onto the coarser `grid` (T, H, W).

  Each target cell covers a block of source cells (factor = ceil(source / target) per
  axis, zero padding at the end, as a stride-f 'SAME' pool); H and W are summed and T
  averaged over the block's real slices, so every target slice still sums to 1.
  """
  b, t, h, w = maps.shape[:4]
  rest = maps.shape[4:]
  ft, fh, fw = (_block_factor(s, g, a) for s, g, a in zip((t, h, w), grid, "THW"))
  pad = [(0, 0), (0, ft * grid[0] - t), (0, fh * grid[1] - h), (0, fw * grid[2] - w)]
  padded = jnp.pad(maps, pad + [(0, 0)] * len(rest))
  blocks = padded.reshape(b, grid[0], ft, grid[1], fh, grid[2], fw, *rest)
  summed = blocks.sum(axis=(2, 4, 6))
  real_slices = jnp.minimum(ft, t - ft * jnp.arange(grid[0]))
  return summed / real_slices.reshape((1, -1, 1, 1) + (1,) * len(rest)).astype(maps.dtype)


def gumbel_noise(rng, shape, eps: float):
  """g = -log(-log(u + eps) + eps), u ~ U(0, 1): standard Gumbel noise."""
  u = jax.random.uniform(rng, shape, jnp.float32)
  return -jnp.log(-jnp.log(u + eps) + eps)


def attention_pool(features, pool_map, residual: bool):
  """Eq. 4 (and Eq. 5 with `residual`): [B, T, H, W, C] -> per-slice features [B, T, C].

  `pool_map` is [B, T, H, W] (one map for every channel) or [B, T, H, W, C] (a map per
  channel, the Gumbel samples). With `residual`, the uniform map is added (Eq. 5).
  """
  if pool_map.ndim == 4:
    pool_map = pool_map[..., None]
  pooled = jnp.sum(features * pool_map.astype(features.dtype), axis=(2, 3))
  if residual:
    pooled = pooled + jnp.mean(features, axis=(2, 3))
  return pooled


class _Pointwise(nn.Module):
  """A 1x1x1 conv named `conv_name` inside this module's scope (``<name>/<conv_name>``)."""

  features: int
  use_bias: bool
  conv_name: str
  options: ConvOptions

  @nn.compact
  def __call__(self, x):
    o = self.options
    return Conv3D(self.features, (1, 1, 1), use_bias=self.use_bias, lowering=o.lowering,
                  dtype=o.dtype, param_dtype=o.param_dtype, name=self.conv_name)(x)


def _pointwise(kind, features: int, use_bias: bool, conv_name: str, options: ConvOptions):
  """The conv of one map / classifier: directly `conv_name` for the single map,
  ``<kind>/<conv_name>`` for Prob-Distill's named ones."""
  if kind is None:
    return Conv3D(features, (1, 1, 1), use_bias=use_bias, lowering=options.lowering,
                  dtype=options.dtype, param_dtype=options.param_dtype, name=conv_name)
  return _Pointwise(features, use_bias, conv_name, options, name=kind)


class AttentionMaps(nn.Module):
  """w_a (Eq. 1-2): bias-free 1x1x1 convs of phi to one logit per position, [B, T, H, W].

  One map per entry of `kinds`: ``(None,)`` is the single map
  (``Attention/Conv3d_0a_1x1``); named kinds get a scope each
  (``Attention/motion/Conv3d_0a_1x1``).
  """

  kinds: tuple
  options: ConvOptions

  @nn.compact
  def __call__(self, phi):
    return {kind: _pointwise(kind, 1, False, "Conv3d_0a_1x1", self.options)(phi)[..., 0]
            .astype(jnp.float32) for kind in self.kinds}


class AttentionClassifiers(nn.Module):
  """W_r of Eq. 4 per map: a 1x1x1 conv with bias on each slice's pooled features.

  The single-map classifier is ``Logits/Conv3d_0c_1x1``, the plain head's name, so
  Kinetics weights load into it; Prob-Distill's are ``Logits/{motion,appearance}/...``.
  """

  kinds: tuple
  num_classes: int
  options: ConvOptions

  @nn.compact
  def __call__(self, pooled):
    return {kind: _pointwise(kind, self.num_classes, True, "Conv3d_0c_1x1", self.options)(
        pooled[kind][:, :, None, None, :])[:, :, 0, 0, :].astype(jnp.float32)
            for kind in self.kinds}


def attention_head(head: str, phi, features, *, num_classes: int, dropout_rate: float,
                   options: ConvOptions, train: bool, rng=None, temperature: float = 2.0,
                   eps: float = 1e-6, per_channel_noise: bool = True):
  """The head named `head` on phi and the pooled features.

  Returns (per-time logits [B, T', K], logits [B, K], endpoints). For the single-map
  heads the logits are the time mean of the per-time logits, as in the plain head;
  for Prob-Distill they are Eq. 7's mixture of the two heads' time-averaged
  predictions (and the per-time entry is the mixture per slice).

  Called inside the network's compact scope, so its parameters are the network's
  ``Attention/...`` and ``Logits/...``. `rng` (training, probabilistic heads) draws the
  Gumbel noise.
  """
  check_head(head)
  kinds = (None,) if head != "prob_distill" else ("motion", "appearance")
  log_maps = {k: slice_log_softmax(z) for k, z in
              AttentionMaps(kinds, options, name="Attention")(phi).items()}
  sample = head in _PROBABILISTIC and train
  pooled = {}
  for i, kind in enumerate(kinds):
    if sample:
      shape = log_maps[kind].shape + ((features.shape[-1],) if per_channel_noise else ())
      z = log_maps[kind][..., None] if per_channel_noise else log_maps[kind]
      g = gumbel_noise(jax.random.fold_in(rng, i), shape, eps)
      pool_map = _slice_softmax_nd((z + g) / temperature)
    else:
      pool_map = jnp.exp(log_maps[kind])
    pool_map = resample_map(pool_map, features.shape[1:4])
    pooled[kind] = nn.Dropout(dropout_rate, deterministic=not train)(
        attention_pool(features, pool_map, residual=head == "soft_res"))
  logits = AttentionClassifiers(kinds, num_classes, options, name="Logits")(pooled)
  endpoints = {}
  if head != "prob_distill":
    endpoints["Attention/map_log"] = log_maps[None]
    endpoints["Attention/map"] = jnp.exp(log_maps[None])
    return logits[None], jnp.mean(logits[None], axis=1), endpoints
  for kind in kinds:
    endpoints[f"Attention/{kind}_log"] = log_maps[kind]
    endpoints[f"Attention/{kind}"] = jnp.exp(log_maps[kind])
    endpoints[f"Logits/{kind}"] = jnp.mean(logits[kind], axis=1)
  per_time = probability_mixture([logits[k] for k in kinds])
  return per_time, probability_mixture([endpoints[f"Logits/{k}"] for k in kinds]), endpoints


def probability_mixture(logits):
  """Eq. 7: log of the equal-weight mixture of the softmaxes of `logits` (a list)."""
  log_probs = jnp.stack([jax.nn.log_softmax(l, axis=-1) for l in logits])
  return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(float(len(logits)))


def _slice_softmax_nd(logits):
  """Softmax over (H, W) of [B, T, H, W, ...]."""
  b, t, h, w = logits.shape[:4]
  flat = logits.reshape(b, t, h * w, *logits.shape[4:])
  return jax.nn.softmax(flat, axis=2).reshape(logits.shape)


