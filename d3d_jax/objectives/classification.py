"""Cross-entropy on the action labels: the action loss L_a of every method here."""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Mean softmax cross-entropy against integer labels, with optional smoothing."""
  num_classes = logits.shape[-1]
  targets = jax.nn.one_hot(labels, num_classes)
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return jnp.mean(optax.softmax_cross_entropy(logits.astype(jnp.float32), targets))


def classification_config() -> ml_collections.ConfigDict:
  """The action-loss knobs every objective here has."""
  c = ml_collections.ConfigDict()
  # Weight of the cross-entropy action loss L_a (0 = D3D's "without action loss" ablation).
  c.ce_weight = 1.0
  c.label_smoothing = 0.0
  return c


class CrossEntropy(Objective):
  """``ce``: L = L_a, the plain supervised objective (flow teacher, RGB baseline)."""

  @classmethod
  def default_config(cls):
    return classification_config()

  def loss_terms(self, student: ModelOutputs, teacher, batch, extra=None):
    del teacher, extra
    ce = cross_entropy(student.logits, batch["label"], self.config.label_smoothing)
    return {"ce": LossTerm(ce, self.config.ce_weight)}
