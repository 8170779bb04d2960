"""The D3D loss (Eq. 1-2) and the feature-distillation loss match hand computations."""

import ml_collections
import numpy as np
import pytest

from d3d_jax.objectives import ModelOutputs, build_objective, total_loss


def _objective(name, **fields):
  defaults = dict(name=name, ce_weight=1.0, label_smoothing=0.0, distill_weight=1.0,
                  standardize_logits=False, feature_weights={"Mixed_4f": 100.0})
  return build_objective(ml_collections.ConfigDict({**defaults, **fields}))


def _log_softmax(z):
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_d3d_loss_is_ce_plus_lambda_times_batch_mean_squared_logit_error():
  rng = np.random.default_rng(0)
  student, teacher = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)) * 4
  labels = np.array([0, 3, 4])
  terms = _objective("d3d_logits", distill_weight=0.5).loss_terms(
      ModelOutputs(student, {}), ModelOutputs(teacher, {}), {"label": labels})
  ce = -np.mean(_log_softmax(student)[np.arange(3), labels])
  distill = np.mean(np.sum((student - teacher) ** 2, axis=1))
  np.testing.assert_allclose(terms["ce"].value, ce, rtol=1e-5)
  np.testing.assert_allclose(terms["distill"].value, distill, rtol=1e-5)
  np.testing.assert_allclose(total_loss(terms), ce + 0.5 * distill, rtol=1e-5)


def test_without_action_loss_ablation_is_a_config_change():
  terms = _objective("d3d_logits", ce_weight=0.0).loss_terms(
      ModelOutputs(np.ones((2, 3)), {}), ModelOutputs(np.zeros((2, 3)), {}),
      {"label": np.array([0, 1])})
  np.testing.assert_allclose(total_loss(terms), 3.0, rtol=1e-6)  # distillation alone


def test_standardized_d3d_loss_is_squared_error_between_per_clip_z_scores():
  rng = np.random.default_rng(2)
  student, teacher = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)) * 4 - 2
  terms = _objective("d3d_logits", standardize_logits=True).loss_terms(
      ModelOutputs(student, {}), ModelOutputs(teacher, {}), {"label": np.array([0, 1, 2])})
  z = lambda x: (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
  expected = np.mean(np.sum((z(student) - z(teacher)) ** 2, axis=1))
  np.testing.assert_allclose(terms["distill"].value, expected, rtol=1e-5)


def test_standardized_d3d_loss_ignores_each_clips_teacher_offset_and_confidence():
  rng = np.random.default_rng(3)
  student, teacher = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
  offset, scale = rng.normal(size=(4, 1)) * 5, rng.uniform(0.2, 5, size=(4, 1))
  objective = _objective("d3d_logits", standardize_logits=True)
  batch = {"label": np.zeros(4, np.int32)}
  plain = objective.loss_terms(ModelOutputs(student, {}), ModelOutputs(teacher, {}), batch)
  moved = objective.loss_terms(ModelOutputs(student, {}),
                               ModelOutputs(teacher * scale + offset, {}), batch)
  np.testing.assert_allclose(moved["distill"].value, plain["distill"].value, rtol=1e-4)


def test_feature_distillation_weights_each_named_endpoint():
  rng = np.random.default_rng(1)
  s, t = rng.normal(size=(2, 2, 3, 3, 4)), rng.normal(size=(2, 2, 3, 3, 4))
  logits = np.zeros((2, 3))
  terms = _objective("feature", feature_weights={"Mixed_4f": 100.0}).loss_terms(
      ModelOutputs(logits, {"Mixed_4f": s}), ModelOutputs(logits, {"Mixed_4f": t}),
      {"label": np.array([0, 1])})
  expected = np.mean(np.sum((s - t).reshape(2, -1) ** 2, axis=1))
  np.testing.assert_allclose(terms["feature/Mixed_4f"].value, expected, rtol=1e-5)
  assert terms["feature/Mixed_4f"].weight == 100.0


def test_feature_distillation_names_a_missing_endpoint():
  objective = _objective("feature", feature_weights={"Mixed_9z": 1.0})
  with pytest.raises(ValueError, match="Mixed_9z"):
    objective.loss_terms(ModelOutputs(np.zeros((1, 2)), {}), ModelOutputs(np.zeros((1, 2)), {}),
                         {"label": np.array([0])})
