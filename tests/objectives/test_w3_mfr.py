"""W3's mature feature-guided regularisation (Eq. 9, objective ``w3_mfr``) by hand: CE plus
the squared error of the refined final features, frame by frame, weight 1."""

import numpy as np

from d3d_jax.objectives import ModelOutputs, build_objective, objective_config


def test_mfr_defaults_are_the_refined_features_with_weight_one_and_a_mean():
  config = objective_config("w3_mfr")
  assert dict(config.feature_weights) == {"AttentionRefinement": 1.0}
  assert config.reduction == "mean" and config.ce_weight == 1.0
  assert build_objective(config).needs_teacher


def test_mfr_loss_by_hand_is_ce_plus_the_frames_squared_error():
  # One clip, two frames of 1x1x2 refined features: frame 0 differs by (1, 0), frame 1
  # by (2, 2): squared errors 1 and 8, 9 over 4 elements -> mean 2.25.
  student = np.zeros((1, 2, 1, 1, 2))
  teacher = np.array([1.0, 0.0, 2.0, 2.0]).reshape(1, 2, 1, 1, 2)
  logits = np.log(np.array([[0.5, 0.25, 0.25]]))
  terms = build_objective(objective_config("w3_mfr")).loss_terms(
      ModelOutputs(logits, {"AttentionRefinement": student}),
      ModelOutputs(np.zeros((1, 3)), {"AttentionRefinement": teacher}),
      {"label": np.array([0])})
  np.testing.assert_allclose(terms["ce"].value, np.log(2.0), rtol=1e-6)
  np.testing.assert_allclose(terms["feature/AttentionRefinement"].value, 2.25, rtol=1e-6)
  assert terms["feature/AttentionRefinement"].weight == 1.0
  config = objective_config("w3_mfr")
  config.reduction = "sum"  # the frames' squared errors summed: 1 + 8
  terms = build_objective(config).loss_terms(
      ModelOutputs(logits, {"AttentionRefinement": student}),
      ModelOutputs(np.zeros((1, 3)), {"AttentionRefinement": teacher}),
      {"label": np.array([0])})
  np.testing.assert_allclose(terms["feature/AttentionRefinement"].value, 9.0, rtol=1e-6)
