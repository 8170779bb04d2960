"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017), in the 3-D form of the video
KD benchmarks that compare it to GKD (MMRazor's I3D -> Top-I3D setting).

At an endpoint F [B, T, H, W, C], the attention map of each frame is
  a(F)_t = q_t / ||q_t||_2,   q_t = mean_c F[:, t]^2 over the H x W positions,
and the loss between student and teacher maps is
  L_AT = mean over (clips, H x W positions) of sum_t (a(F_S)_t - a(F_T)_t)^2,
i.e. AT's squared distance of normalised maps, per frame, summed over time. When the
grids differ, the finer map is average-pooled onto the coarser one (by whole factors)
before normalising.

  L = ce_weight CE + sum_l beta_l L_AT(l)

Defaults: beta = 100 at Conv3d_2c_3x3, Mixed_3c, Mixed_4f and Mixed_5c (MMRazor).
"""

import jax
import jax.numpy as jnp
import ml_collections

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy


def _pool_to(maps, grid):
  """Average-pools [B, T, H, W] maps onto `grid` (T, H, W) by whole factors."""
  b = maps.shape[0]
  factors = []
  for size, target in zip(maps.shape[1:], grid):
    if size % target:
      raise ValueError(f"cannot pool an attention map of {maps.shape[1:]} onto {grid}")
    factors.append(size // target)
  blocks = maps.reshape(b, grid[0], factors[0], grid[1], factors[1], grid[2], factors[2])
  return blocks.mean(axis=(2, 4, 6))


def frame_attention(features, grid=None):
  """[B, T, H, W, C] -> [B, T, H*W]: mean_c F^2, per frame L2-normalised over H x W."""
  q = jnp.mean(jnp.square(features.astype(jnp.float32)), axis=-1)
  if grid is not None and tuple(q.shape[1:]) != tuple(grid):
    q = _pool_to(q, grid)
  q = q.reshape(q.shape[0], q.shape[1], -1)
  return q / jnp.maximum(jnp.linalg.norm(q, axis=-1, keepdims=True), 1e-12)


def attention_transfer_loss(student_features, teacher_features):
  """L_AT: mean over clips and positions of the per-frame squared map distance summed
  over time."""
  grid = tuple(min(s, t) for s, t in zip(student_features.shape[1:4],
                                         teacher_features.shape[1:4]))
  a_s = frame_attention(student_features, grid)
  a_t = frame_attention(jax.lax.stop_gradient(teacher_features), grid)
  return jnp.mean(jnp.sum(jnp.square(a_s - a_t), axis=1))


class AttentionTransfer(Objective):
  """``attention_transfer``: CE plus beta x L_AT at each named endpoint."""

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    # Endpoint -> beta (MMRazor: 100 at each of the four).
    c.feature_weights = ml_collections.ConfigDict(
        {"Conv3d_2c_3x3": 100.0, "Mixed_3c": 100.0, "Mixed_4f": 100.0, "Mixed_5c": 100.0})
    return c

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    terms = {"ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                            c.ce_weight)}
    for name, weight in c.feature_weights.items():
      if name not in student.endpoints or name not in teacher.endpoints:
        raise ValueError(f"objective.feature_weights names {name!r}, which is not an "
                         f"endpoint of both networks; student endpoints: "
                         f"{sorted(student.endpoints)}")
      terms[f"at/{name}"] = LossTerm(
          attention_transfer_loss(student.endpoints[name], teacher.endpoints[name]), weight)
    return terms
