"""D3D distillation (Stroud et al., WACV 2020): a flow teacher's logits into an RGB student.

Eq. 1:  L(theta) = L_a(theta) + lambda * L_d(theta)
Eq. 2:  L_d(theta) = 1/(N-1) sum_i (f_s(x_i; theta) - f_t(x_i))^2

L_a is the cross-entropy of the action labels; f_s and f_t are the pre-softmax
(time-averaged) logits of the RGB student and the frozen flow teacher, K classes each.
How the squared error over the class vector is reduced is `objective.reduction`:

* 'mean' (default, the scale the paper's lambda values imply): the mean over the K
  classes of the squared difference, then the mean over the N clips of the batch, i.e.
  1/(N K) sum_i sum_k (f_s - f_t)^2, the per-element mean that TensorFlow's
  `tf.compat.v1.losses.mean_squared_error` computes (TensorFlow API docs). Sec. 5.6
  chooses lambda "such that the scale of the distillation loss roughly matches that of
  the cross entropy loss" (lambda = 1 at the logits and at layers 2C / 4C, 100 at 4F,
  Table 6); only a per-element mean keeps that true for a 400-way head or a
  T x H x W x C feature map.
* 'sum': the squared error summed over the K classes (over every feature element in
  the `feature` objective), then the batch mean: K times 'mean' for the logits, so
  lambda = 1 here weighs L_d like lambda = K with 'mean' (400 on Kinetics-400).

Either way the batch normaliser is 1/N, not the paper's 1/(N-1): with the paper's N = 6
clips per replica that is 5/6 of its value, a constant absorbed by lambda, and it makes
the loss independent of how the batch is split over devices. lambda = 1 (Sec. 5.3) is
the default.
"""

import jax
import jax.numpy as jnp
import ml_collections

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy

REDUCTIONS = ("mean", "sum")


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


def _per_clip_squared_error(diff, reduction: str):
  """Squared error of each clip over its non-batch elements: their mean or their sum."""
  if reduction not in REDUCTIONS:
    raise ValueError(f"objective.reduction must be one of {REDUCTIONS}, got {reduction!r}")
  squared = jnp.square(diff).reshape(diff.shape[0], -1)
  return jnp.mean(squared, axis=-1) if reduction == "mean" else jnp.sum(squared, axis=-1)


def logit_distillation_loss(student_logits, teacher_logits, standardize: bool = False,
                            reduction: str = "mean"):
  """D3D Eq. 2 with batch-mean normalisation.

  reduction 'mean': mean_i mean_k (f_s(x_i)_k - f_t(x_i)_k)^2, the scale of the paper's
  lambda = 1; 'sum': mean_i ||f_s(x_i) - f_t(x_i)||^2 (K times larger). With
  `standardize`, both logit vectors are z-scored per clip first (`standardize_logits`);
  without it this is the paper's Eq. 2 on raw pre-softmax logits.
  """
  student = student_logits.astype(jnp.float32)
  teacher = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
  if standardize:
    student, teacher = standardize_logits(student), standardize_logits(teacher)
  return jnp.mean(_per_clip_squared_error(student - teacher, reduction))


def feature_distillation_loss(student_features, teacher_features, reduction: str = "mean"):
  """Eq. 2 applied to endpoint activations: squared error per clip, then batch mean.

  The D3D ablation (Table 6, "distillation at intermediate layers", Sec. 5.6) applies
  Eq. 2 to the hidden activations of Conv3d_2c_3x3, Mixed_4c or Mixed_4f instead of the
  logits, with lambda = 1 at 2C / 4C and 100 at 4F. reduction 'mean' (the scale those
  lambdas imply): the mean over all T x H x W x C elements of a clip; 'sum': their sum.
  """
  if student_features.shape != teacher_features.shape:
    raise ValueError(f"feature shapes differ: student {student_features.shape}, "
                     f"teacher {teacher_features.shape}")
  diff = student_features.astype(jnp.float32) - jax.lax.stop_gradient(
      teacher_features.astype(jnp.float32))
  return jnp.mean(_per_clip_squared_error(diff, reduction))


class D3DLogits(Objective):
  """``d3d_logits``: L = ce_weight * L_a + distill_weight * L_d (Eq. 1-2).

  ``ce_weight = 0`` is the paper's "without action loss" ablation.
  """

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    # lambda of Eq. 1 for the logit distillation loss L_d (Sec. 5.3: 1).
    c.distill_weight = 1.0
    # z-score both logit vectors per clip before Eq. 2 (logit standardisation, Sun et
    # al. CVPR 2024). False = the paper's Eq. 2 on raw pre-softmax logits.
    c.standardize_logits = False
    # How Eq. 2's squared error is reduced over the class vector before the batch mean:
    # 'mean' = per-element mean, the scale the paper's lambda values assume ("the scale
    # of the distillation loss roughly matches that of the cross entropy loss", Sec.
    # 5.6); 'sum' = summed over classes, K times 'mean' for a K-class head.
    c.reduction = "mean"
    return c

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    return {
        "ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                       c.ce_weight),
        "distill": LossTerm(
            logit_distillation_loss(student.logits, teacher.logits, c.standardize_logits,
                                    c.reduction),
            c.distill_weight),
    }


class FeatureDistillation(Objective):
  """``feature``: L = ce_weight * L_a + sum_l lambda_l * squared error at endpoint l.

  The squared error at each endpoint is reduced as `objective.reduction` says
  (`feature_distillation_loss`); 'mean' makes Table 6's lambdas (2C / 4C: 1, 4F: 100)
  mean what the paper says.
  """

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    # Endpoint name -> lambda (Table 6: Conv3d_2c_3x3 and Mixed_4c at 1, Mixed_4f at 100,
    # with reduction 'mean').
    c.feature_weights = ml_collections.ConfigDict({"Mixed_4f": 100.0})
    # Squared error per clip over all T x H x W x C elements: 'mean' (the scale of
    # Table 6's lambdas) or 'sum'.
    c.reduction = "mean"
    return c

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
          feature_distillation_loss(student.endpoints[layer], teacher.endpoints[layer],
                                    c.reduction),
          weight)
    return terms
