"""Knowledge distillation of soft labels (Hinton, Vinyals, Dean 2015): Wang Table 1's "KD".

  L = ce_weight CE(z_S, y) + kd_weight tau^2 KL(softmax(z_T / tau) || softmax(z_S / tau))

with z the time-averaged logits, the KL summed over classes and averaged over the batch
(PyTorch's ``kl_div(..., reduction='batchmean')``), and tau^2 keeping the soft-label
gradients on the scale of the hard-label ones (Hinton et al., Sec. 2). Defaults: tau = 4,
weight 1, the MMRazor setting of the GKD comparison on I3D -> Top-I3D (its
``KLDivergence(tau=4, loss_weight=1)``).
"""

import jax
import jax.numpy as jnp

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy


def soft_label_kl(student_logits, teacher_logits, tau: float):
  """tau^2 * batch mean of KL(softmax(z_T / tau) || softmax(z_S / tau))."""
  log_p_student = jax.nn.log_softmax(student_logits.astype(jnp.float32) / tau, axis=-1)
  log_p_teacher = jax.nn.log_softmax(
      jax.lax.stop_gradient(teacher_logits.astype(jnp.float32)) / tau, axis=-1)
  kl = jnp.sum(jnp.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
  return tau ** 2 * jnp.mean(kl)


class HintonKD(Objective):
  """``hinton_kd``: cross-entropy plus the tempered soft-label KL."""

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    # Temperature tau and weight of the soft-label term (MMRazor: 4 and 1).
    c.tau = 4.0
    c.kd_weight = 1.0
    return c

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    del extra
    c = self.config
    return {"ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                           c.ce_weight),
            "kd": LossTerm(soft_label_kl(student.logits, teacher.logits, c.tau), c.kd_weight)}
