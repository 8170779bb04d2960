"""D3D distillation (Stroud et al., WACV 2020): a flow teacher's logits into an RGB student.

Eq. 1:  L(theta) = L_a(theta) + lambda * L_d(theta)
Eq. 2:  L_d(theta) = 1/(N-1) sum_i (f_s(x_i; theta) - f_t(x_i))^2

L_a is the cross-entropy of the action labels; f_s and f_t are the pre-softmax
(time-averaged) logits of the RGB student and the frozen flow teacher. The paper's
squared error is over the class vector and its normaliser is 1/(N-1) over the N clips
of a batch. We sum the squared error over classes and divide by N (the batch mean):
with the paper's N = 6 clips per replica that is 5/6 of the paper's value, a constant
absorbed by lambda, and it makes the loss independent of how the batch is split over
devices. lambda = 1 (Sec. 5.3) is the default.
"""

import jax
import jax.numpy as jnp

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import cross_entropy


def standardize_logits(logits, eps: float = 1e-6):
  """Z-scores each clip's logit vector over classes (zero mean, unit std).

  Logit standardisation (Sun et al., "Logit Standardization in Knowledge
  Distillation", CVPR 2024, with base temperature 1): the student then matches the
  shape of the teacher's logit vector, not its mean or scale. Softmax ignores the
  mean; the scale is the teacher's per-clip confidence. On the synthetic motion data,
  regressing that scale (the paper's raw Eq. 2) kept an RGB student trained from
  scratch far below its cross-entropy baseline, and centring alone did not help;
  z-scoring did (README, "The demo").
  """
  logits = logits.astype(jnp.float32)
  centred = logits - jnp.mean(logits, axis=-1, keepdims=True)
  return centred / (jnp.std(logits, axis=-1, keepdims=True) + eps)


def logit_distillation_loss(student_logits, teacher_logits, standardize: bool = False):
  """D3D Eq. 2 with batch-mean normalisation: mean_i ||f_s(x_i) - f_t(x_i)||^2.

  With `standardize`, both logit vectors are z-scored per clip first
  (`standardize_logits`); without it this is exactly the paper's Eq. 2.
  """
  student = student_logits.astype(jnp.float32)
  teacher = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
  if standardize:
    student, teacher = standardize_logits(student), standardize_logits(teacher)
  return jnp.mean(jnp.sum(jnp.square(student - teacher), axis=-1))


def feature_distillation_loss(student_features, teacher_features):
  """Squared error between endpoint activations, summed over features, batch mean.

  The D3D ablation (Table 4, "distillation at intermediate layers") applies Eq. 2 to
  the hidden activations of Conv3d_2c, Mixed_4c or Mixed_4f instead of the logits.
  """
  if student_features.shape != teacher_features.shape:
    raise ValueError(f"feature shapes differ: student {student_features.shape}, "
                     f"teacher {teacher_features.shape}")
  diff = student_features.astype(jnp.float32) - jax.lax.stop_gradient(
      teacher_features.astype(jnp.float32))
  return jnp.mean(jnp.sum(jnp.square(diff).reshape(diff.shape[0], -1), axis=-1))


class D3DLogits(Objective):
  """``d3d_logits``: L = ce_weight * L_a + distill_weight * L_d (Eq. 1-2).

  ``ce_weight = 0`` is the paper's "without action loss" ablation.
  """

  needs_teacher = True

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    return {
        "ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                       c.ce_weight),
        "distill": LossTerm(
            logit_distillation_loss(student.logits, teacher.logits, c.standardize_logits),
            c.distill_weight),
    }


class FeatureDistillation(Objective):
  """``feature``: L = ce_weight * L_a + sum_l lambda_l * squared error at endpoint l."""

  needs_teacher = True

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    terms = {"ce": LossTerm(
        cross_entropy(student.logits, batch["label"], c.label_smoothing), c.ce_weight)}
    for layer, weight in c.feature_weights.items():
      if layer not in student.endpoints:
        raise ValueError(f"objective.feature_weights names {layer!r}, which is not an "
                         f"endpoint of the student; endpoints: {sorted(student.endpoints)}")
      terms[f"feature/{layer}"] = LossTerm(
          feature_distillation_loss(student.endpoints[layer], teacher.endpoints[layer]),
          weight)
    return terms
