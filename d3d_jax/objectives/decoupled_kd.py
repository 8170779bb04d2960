"""Decoupled knowledge distillation (Zhao, Cui, Song, Qiu, Liang, CVPR 2022), Eq. 7:

  DKD = alpha TCKD + beta NCKD
  TCKD = tau^2 KL(b_T || b_S),   b = [p_target, 1 - p_target]          (target class)
  NCKD = tau^2 KL(p^_T || p^_S), p^ = softmax over the non-target classes

with p the tempered softmax of the time-averaged logits, each KL averaged over the batch,
plus the cross-entropy. Defaults alpha = 1, beta = 0.5, tau = 4: the MMRazor setting of
the GKD comparison on I3D -> Top-I3D (DKD's paper uses beta = 8 on CIFAR / ImageNet).
"""

import jax
import jax.numpy as jnp

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy


def _kl(p, log_p, log_q):
  return jnp.mean(jnp.sum(p * (log_p - log_q), axis=-1))


def decoupled_kl(student_logits, teacher_logits, labels, tau: float):
  """(TCKD, NCKD), each times tau^2."""
  student = student_logits.astype(jnp.float32) / tau
  teacher = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32)) / tau
  target = jax.nn.one_hot(labels, student.shape[-1], dtype=bool)

  def binary(logits):
    p = jax.nn.softmax(logits, axis=-1)
    p_target = jnp.sum(jnp.where(target, p, 0.0), axis=-1)
    b = jnp.clip(jnp.stack([p_target, 1.0 - p_target], axis=-1), 1e-12, 1.0)
    return b, jnp.log(b)

  (b_t, log_b_t), (_, log_b_s) = binary(teacher), binary(student)
  tckd = _kl(b_t, log_b_t, log_b_s)
  masked = lambda logits: jax.nn.log_softmax(jnp.where(target, -1e9, logits), axis=-1)
  log_n_t, log_n_s = masked(teacher), masked(student)
  nckd = _kl(jnp.exp(log_n_t), log_n_t, jnp.where(target, 0.0, log_n_s))
  return tau ** 2 * tckd, tau ** 2 * nckd


class DecoupledKD(Objective):
  """``dkd``: CE + alpha TCKD + beta NCKD."""

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    c.alpha = 1.0
    c.beta = 0.5
    c.tau = 4.0
    return c

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    tckd, nckd = decoupled_kl(student.logits, teacher.logits, batch["label"], c.tau)
    return {"ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                           c.ce_weight),
            "tckd": LossTerm(tckd, c.alpha), "nckd": LossTerm(nckd, c.beta)}
