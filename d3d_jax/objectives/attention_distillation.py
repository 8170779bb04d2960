"""Attention distillation (Liu et al., BMVC 2020): the losses of Eq. 3, 6 and 8.

The maps are endpoints of the attention heads (`d3d_jax.models.attention`): each
``Attention/<name>`` is [B, T, H, W] with every time slice a distribution over H x W,
and ``Attention/<name>_log`` is its log, from a log-softmax. The KL terms are computed
from those logs (no log of a probability that may underflow), on the deterministic
maps p(A), never on the Gumbel samples, as the first author's public code does.

Eq. 3 (the prior of a probabilistic map):  L^R = sum_t KL[A(t) || U]
Eq. 6 (attention distillation):            L^A = sum_t KL[A^M(t) || A~^M(t)]
Eq. 8 (Prob-Distill):  L = CE(y~, y) + lambda_1 sum_t KL[A^M(t) || A~^M(t)]
                                     + lambda_2 sum_t KL[A^A(t) || U]

with U the uniform map over H x W, A^M / A^A the student's motion / appearance maps,
A~^M the frozen flow teacher's map, lambda_1 = 1 and lambda_2 = 1 / (T H W) on the maps'
grid (Sec. 3.5). The KL direction is the paper's: the student's map first, KL(p || q) =
sum p (log p - log q). Each clip's sum over t is averaged over the batch.
``kl_normalization='log_hw'`` divides each clip's sum by T log(H W) instead, as the
first author's code ("Forecasting-Human-Object-Interaction-in-FPV", ``KLDiv``) does,
which puts each KL in [0, 1].
"""

import jax.numpy as jnp
from ml_collections import config_dict

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy

KL_NORMALIZATIONS = ("sum", "log_hw")


def slice_kl(log_p, log_q, normalization: str = "sum"):
  """Batch mean of sum_t KL[p(t) || q(t)] for [B, T, H, W] log-maps (Eq. 6)."""
  if log_p.shape != log_q.shape:
    raise ValueError(f"attention maps differ in shape: {log_p.shape} vs {log_q.shape}")
  log_p, log_q = log_p.astype(jnp.float32), log_q.astype(jnp.float32)
  kl = jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=(2, 3))
  return _mean_over_clips(kl, log_p.shape, normalization)


def slice_kl_to_uniform(log_p, normalization: str = "sum"):
  """Batch mean of sum_t KL[p(t) || U] for [B, T, H, W] log-maps (Eq. 3)."""
  log_p = log_p.astype(jnp.float32)
  h, w = log_p.shape[2:]
  kl = jnp.sum(jnp.exp(log_p) * log_p, axis=(2, 3)) + jnp.log(float(h * w))
  return _mean_over_clips(kl, log_p.shape, normalization)


def _mean_over_clips(kl, shape, normalization: str):
  """[B, T] slice KLs -> the batch mean of each clip's sum over t (or of that sum over
  T log HW, 'log_hw')."""
  if normalization not in KL_NORMALIZATIONS:
    raise ValueError(f"objective.kl_normalization must be one of {KL_NORMALIZATIONS}, "
                     f"got {normalization!r}")
  per_clip = jnp.sum(kl, axis=1)
  if normalization == "log_hw":
    t, h, w = shape[1:]
    per_clip = per_clip / (t * jnp.log(float(h * w)))
  return jnp.mean(per_clip)


def _log_map(outputs: ModelOutputs, name: str, who: str):
  key = f"{name}_log"
  if key not in outputs.endpoints:
    maps = sorted(k[:-4] for k in outputs.endpoints if k.startswith("Attention/")
                  and k.endswith("_log"))
    raise ValueError(f"the {who} has no attention map {name!r} (its maps: {maps}); "
                     f"build it with an attention head (model.options.head)")
  return outputs.endpoints[key]


def uniform_prior_weight(weight, log_map) -> float:
  """lambda_2: `weight`, or 1 / (T H W) of the map when it is None (Sec. 3.5)."""
  if weight is not None:
    return float(weight)
  t, h, w = log_map.shape[1:]
  return 1.0 / (t * h * w)


class AttentionPrior(Objective):
  """``attention_prior``: L = CE + lambda_2 sum_maps sum_t KL[A(t) || U] (Eq. 3).

  The objective of a Prob-Atten network on its own (Liu Table 1's RGB and flow
  Prob-Atten, and the flow teacher of Prob-Distill): Eq. 3 regularises each
  probabilistic map towards the uniform prior, weighted as Eq. 8 weighs its own prior
  term (lambda_2 = 1 / (T H W)), since the paper gives no separate weight.
  """

  @classmethod
  def default_config(cls):
    c = classification_config()
    # The maps regularised by Eq. 3 (endpoints of the attention head).
    c.maps = ("Attention/map",)
    # lambda_2; None = 1 / (T * H * W) of the map's grid (Sec. 3.5).
    c.prior_weight = config_dict.placeholder(float)
    # 'sum' (the paper's sum over t) or 'log_hw' (/ (T log HW), the authors' code).
    c.kl_normalization = "sum"
    return c

  def loss_terms(self, student: ModelOutputs, teacher, batch, extra=None):
    del teacher, extra
    c = self.config
    terms = {"ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                            c.ce_weight)}
    for name in c.maps:
      log_map = _log_map(student, name, "student")
      terms[f"prior/{name}"] = LossTerm(slice_kl_to_uniform(log_map, c.kl_normalization),
                                        uniform_prior_weight(c.prior_weight, log_map))
    return terms


class AttentionDistillation(Objective):
  """``attention_distill``: Prob-Distill, Eq. 8.

  CE on the mixture prediction y~ (Eq. 7, the model's ``Logits``), lambda_1 times the
  motion map's KL to the teacher's map (Eq. 6), lambda_2 times the appearance map's KL
  to the uniform prior (Eq. 3).
  """

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    # lambda_1 of Eq. 8 (Sec. 3.5: 1).
    c.motion_weight = 1.0
    # lambda_2 of Eq. 8; None = 1 / (T * H * W) of the map's grid (Sec. 3.5).
    c.appearance_weight = config_dict.placeholder(float)
    # Endpoints: the student's motion and appearance maps, the teacher's map.
    c.student_motion_map = "Attention/motion"
    c.student_appearance_map = "Attention/appearance"
    c.teacher_map = "Attention/map"
    # 'sum' (the paper's sum over t) or 'log_hw' (/ (T log HW), the authors' code).
    c.kl_normalization = "sum"
    return c

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    motion = _log_map(student, c.student_motion_map, "student")
    appearance = _log_map(student, c.student_appearance_map, "student")
    target = _log_map(teacher, c.teacher_map, "teacher")
    return {
        "ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                       c.ce_weight),
        "attention_kl": LossTerm(slice_kl(motion, target, c.kl_normalization),
                                 c.motion_weight),
        "appearance_prior": LossTerm(slice_kl_to_uniform(appearance, c.kl_normalization),
                                     uniform_prior_weight(c.appearance_weight, appearance)),
    }
