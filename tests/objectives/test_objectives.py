"""The D3D loss (Eq. 1-2) and the feature-distillation loss match hand computations.

reduction 'mean' (the default) is the per-element mean the paper's lambda values assume
(Sec. 5.6, Table 6); 'sum' sums the squared error over classes / feature elements.
"""

import numpy as np
import pytest

from d3d_jax.objectives import ModelOutputs, build_objective, objective_config, total_loss


def _objective(name, **fields):
  config = objective_config(name)
  for key, value in fields.items():
    setattr(config, key, value)
  return build_objective(config)


def _log_softmax(z):
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_d3d_loss_by_hand_is_the_mean_over_classes_then_over_clips():
  # Eq. 2, reduction 'mean': clip 0 differs by (1, -1, 2, 0) -> (1+1+4+0)/4 = 1.5;
  # clip 1 by (0, 0, 0, 4) -> 16/4 = 4; batch mean (1.5 + 4) / 2 = 2.75.
  student = np.array([[1., 0., 2., 5.], [0., 0., 0., 4.]])
  teacher = np.array([[0., 1., 0., 5.], [0., 0., 0., 0.]])
  batch = {"label": np.array([0, 3])}
  mean = _objective("d3d_logits").loss_terms(
      ModelOutputs(student, {}), ModelOutputs(teacher, {}), batch)
  np.testing.assert_allclose(mean["distill"].value, 2.75, rtol=1e-6)
  # reduction 'sum' (the squared error summed over the 4 classes): (6 + 16) / 2 = 11,
  # i.e. 4 classes x 2.75.
  summed = _objective("d3d_logits", reduction="sum").loss_terms(
      ModelOutputs(student, {}), ModelOutputs(teacher, {}), batch)
  np.testing.assert_allclose(summed["distill"].value, 11.0, rtol=1e-6)


def test_d3d_mean_loss_is_on_the_cross_entropy_scale_for_a_400_way_head():
  # Sec. 5.6: lambda = 1 makes L_d "roughly match" L_a. Logits off by 1 on every one of
  # 400 classes give L_d = 1 with 'mean' (next to CE ~ log 400 = 6.0) but 400 with 'sum'.
  student, teacher = np.ones((2, 400)), np.zeros((2, 400))
  batch = {"label": np.array([0, 1])}
  for reduction, expected in (("mean", 1.0), ("sum", 400.0)):
    terms = _objective("d3d_logits", reduction=reduction).loss_terms(
        ModelOutputs(student, {}), ModelOutputs(teacher, {}), batch)
    np.testing.assert_allclose(terms["distill"].value, expected, rtol=1e-6)
    np.testing.assert_allclose(terms["ce"].value, np.log(400.0), rtol=1e-6)


def test_d3d_loss_rejects_an_unknown_reduction():
  objective = _objective("d3d_logits", reduction="avg")
  with pytest.raises(ValueError, match="objective.reduction"):
    objective.loss_terms(ModelOutputs(np.zeros((1, 2)), {}), ModelOutputs(np.zeros((1, 2)), {}),
                         {"label": np.array([0])})


def test_d3d_loss_is_ce_plus_lambda_times_mean_squared_logit_error():
  rng = np.random.default_rng(0)
  student, teacher = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)) * 4
  labels = np.array([0, 3, 4])
  terms = _objective("d3d_logits", distill_weight=0.5).loss_terms(
      ModelOutputs(student, {}), ModelOutputs(teacher, {}), {"label": labels})
  ce = -np.mean(_log_softmax(student)[np.arange(3), labels])
  distill = np.mean((student - teacher) ** 2)
  np.testing.assert_allclose(terms["ce"].value, ce, rtol=1e-5)
  np.testing.assert_allclose(terms["distill"].value, distill, rtol=1e-5)
  np.testing.assert_allclose(total_loss(terms), ce + 0.5 * distill, rtol=1e-5)


def test_without_action_loss_ablation_is_a_config_change():
  terms = _objective("d3d_logits", ce_weight=0.0).loss_terms(
      ModelOutputs(np.ones((2, 3)), {}), ModelOutputs(np.zeros((2, 3)), {}),
      {"label": np.array([0, 1])})
  # Distillation alone: every logit off by 1 -> mean squared error 1.
  np.testing.assert_allclose(total_loss(terms), 1.0, rtol=1e-6)


def test_standardized_d3d_loss_is_squared_error_between_per_clip_z_scores():
  rng = np.random.default_rng(2)
  student, teacher = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)) * 4 - 2
  terms = _objective("d3d_logits", standardize_logits=True).loss_terms(
      ModelOutputs(student, {}), ModelOutputs(teacher, {}), {"label": np.array([0, 1, 2])})
  z = lambda x: (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
  expected = np.mean((z(student) - z(teacher)) ** 2)
  np.testing.assert_allclose(terms["distill"].value, expected, rtol=1e-5)


def test_standardized_d3d_loss_of_reversed_logits_by_hand():
  # Teacher (0, 1, 2) z-scores to (-a, 0, a) with a = sqrt(3/2); the student (2, 1, 0)
  # to (a, 0, -a). Squared differences (4a^2, 0, 4a^2) = (6, 0, 6): mean 4, sum 12.
  student, teacher = np.array([[2., 1., 0.]]), np.array([[0., 1., 2.]])
  for reduction, expected in (("mean", 4.0), ("sum", 12.0)):
    terms = _objective("d3d_logits", standardize_logits=True, reduction=reduction).loss_terms(
        ModelOutputs(student, {}), ModelOutputs(teacher, {}), {"label": np.array([0])})
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
  expected = np.mean((s - t) ** 2)  # over every T x H x W x C element and the batch
  np.testing.assert_allclose(terms["feature/Mixed_4f"].value, expected, rtol=1e-5)
  assert terms["feature/Mixed_4f"].weight == 100.0


def test_feature_distillation_by_hand_mean_and_sum_over_elements():
  # Two clips of 1x1x2x2 activations (T, H, W, C = 1, 1, 2, 2): clip 0 is off by 2 in
  # one of its 4 elements (mean 4/4 = 1, sum 4), clip 1 by 1 in all four (mean 1, sum 4).
  s = np.zeros((2, 1, 1, 2, 2))
  s[0, 0, 0, 0, 0] = 2.0
  s[1] = 1.0
  t = np.zeros_like(s)
  logits, batch = np.zeros((2, 3)), {"label": np.array([0, 1])}
  for reduction, expected in (("mean", 1.0), ("sum", 4.0)):
    terms = _objective("feature", feature_weights={"Conv3d_2c_3x3": 1.0},
                       reduction=reduction).loss_terms(
        ModelOutputs(logits, {"Conv3d_2c_3x3": s}), ModelOutputs(logits, {"Conv3d_2c_3x3": t}),
        batch)
    np.testing.assert_allclose(terms["feature/Conv3d_2c_3x3"].value, expected, rtol=1e-6)


def test_feature_distillation_names_a_missing_endpoint():
  objective = _objective("feature", feature_weights={"Mixed_9z": 1.0})
  with pytest.raises(ValueError, match="Mixed_9z"):
    objective.loss_terms(ModelOutputs(np.zeros((1, 2)), {}), ModelOutputs(np.zeros((1, 2)), {}),
                         {"label": np.array([0])})
