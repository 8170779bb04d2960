"""Cross-entropy on the action labels: the action loss L_a of every method here."""

import jax
import jax.numpy as jnp
import optax

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Mean softmax cross-entropy against integer labels, with optional smoothing."""
  num_classes = logits.shape[-1]
  targets = jax.nn.one_hot(labels, num_classes)
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return jnp.mean(optax.softmax_cross_entropy(logits.astype(jnp.float32), targets))


class CrossEntropy(Objective):
  """``ce``: L = L_a, the plain supervised objective (flow teacher, RGB baseline)."""

  def loss_terms(self, student: ModelOutputs, teacher, batch, extra=None):
    del teacher, extra
    ce = cross_entropy(student.logits, batch["label"], self.config.label_smoothing)
    return {"ce": LossTerm(ce, self.config.ce_weight)}
