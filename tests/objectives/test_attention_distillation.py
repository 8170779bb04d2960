"""The losses of attention distillation (Liu et al., BMVC 2020, Eq. 3, 6 and 8) match
hand computations, and each objective's config section holds exactly its own keys.

The maps are [B, T, H, W] log-probabilities, every time slice a distribution over
H x W. The running example is one clip, T = 2 slices of H x W = 1 x 2:

  p (student) = [[0.5, 0.5], [0.9, 0.1]]      q (teacher) = [[0.25, 0.75], [0.5, 0.5]]

  KL(p || q), t=0: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3)      = 0.1438410
              t=1: 0.9 ln(0.9/0.5)  + 0.1 ln(0.1/0.5)  = 0.5290085 - 0.1609438 = 0.3680642
              sum over t                                                      = 0.5119052
  KL(q || p), t=0: 0.25 ln(0.25/0.5) + 0.75 ln(0.75/0.5) = -0.1732868 + 0.3040988 = 0.1308120
              t=1: 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1)     = -0.2938933 + 0.8047190 = 0.5108256
              sum over t                                                      = 0.6416377
"""

import numpy as np
import pytest

from d3d_jax.objectives import (ModelOutputs, build_objective, objective_config,
                                slice_kl, slice_kl_to_uniform, total_loss)

P = np.array([[0.5, 0.5], [0.9, 0.1]]).reshape(1, 2, 1, 2)
Q = np.array([[0.25, 0.75], [0.5, 0.5]]).reshape(1, 2, 1, 2)
KL_P_Q = 0.5119052   # sum_t KL(p(t) || q(t)), see the module docstring
KL_Q_P = 0.6416377   # sum_t KL(q(t) || p(t))
# sum_t KL(p(t) || U) = sum_t ln(HW) - H(p(t)): t=0 is uniform (0), t=1 is
# ln 2 - (-0.9 ln 0.9 - 0.1 ln 0.1) = 0.6931472 - 0.3250830 = 0.3680642.
KL_P_U = 0.3680642


def _objective(name, **fields):
  config = objective_config(name)
  for key, value in fields.items():
    setattr(config, key, value)
  return build_objective(config)


# --- slice_kl (Eq. 6) ------------------------------------------------------------------


def test_slice_kl_is_the_sum_over_time_slices_of_kl_student_to_teacher():
  np.testing.assert_allclose(slice_kl(np.log(P), np.log(Q)), KL_P_Q, rtol=1e-6)


def test_slice_kl_direction_is_student_first_not_teacher_first():
  # KL is not symmetric on this example (0.5119 vs 0.6416), so the direction is visible:
  # Eq. 6 is KL[A^M(t) || A~^M(t)], the student's map first.
  assert abs(KL_P_Q - KL_Q_P) > 0.1
  np.testing.assert_allclose(slice_kl(np.log(Q), np.log(P)), KL_Q_P, rtol=1e-6)
  assert abs(float(slice_kl(np.log(P), np.log(Q))) - KL_Q_P) > 0.1


def test_slice_kl_averages_each_clips_sum_over_the_batch():
  # Clip 0 is the running example (0.5119052), clip 1 has p == q (0): mean 0.2559526.
  log_p = np.log(np.concatenate([P, Q]))
  log_q = np.log(np.concatenate([Q, Q]))
  np.testing.assert_allclose(slice_kl(log_p, log_q), KL_P_Q / 2, rtol=1e-6)


def test_slice_kl_of_maps_of_different_grids_is_an_error():
  with pytest.raises(ValueError, match="differ in shape"):
    slice_kl(np.log(P), np.zeros((1, 2, 2, 1)))


# --- slice_kl_to_uniform (Eq. 3) ---------------------------------------------------------


def test_slice_kl_to_uniform_is_log_hw_minus_entropy_summed_over_time():
  np.testing.assert_allclose(slice_kl_to_uniform(np.log(P)), KL_P_U, rtol=1e-6)


def test_slice_kl_to_uniform_on_a_larger_grid_is_log_hw_minus_entropy():
  # One slice of H x W = 2 x 2, p = (0.4, 0.3, 0.2, 0.1): ln 4 - H(p)
  # = 1.3862944 - 1.2798542 = 0.1064401.
  p = np.array([0.4, 0.3, 0.2, 0.1]).reshape(1, 1, 2, 2)
  np.testing.assert_allclose(slice_kl_to_uniform(np.log(p)), 0.1064401, rtol=1e-5)


def test_slice_kl_to_uniform_of_a_uniform_map_is_zero():
  uniform = np.full((2, 3, 4, 5), 1 / 20)
  # float32: each slice is ln 20 - 3.0 with terms of size 3 (ulp 2.4e-7), 3 slices.
  np.testing.assert_allclose(slice_kl_to_uniform(np.log(uniform)), 0.0, atol=1e-5)


# --- normalisation -------------------------------------------------------------------------


def test_log_hw_normalisation_divides_each_clips_sum_by_t_log_hw():
  # T log(HW) = 2 ln 2 = 1.3862944: 0.5119052 / 1.3862944 = 0.3692616 and
  # 0.3680642 / 1.3862944 = 0.2655022.
  np.testing.assert_allclose(slice_kl(np.log(P), np.log(Q), "log_hw"), 0.3692616, rtol=1e-6)
  np.testing.assert_allclose(slice_kl_to_uniform(np.log(P), "log_hw"), 0.2655022, rtol=1e-6)


def test_unknown_kl_normalisation_is_an_error_naming_the_option():
  with pytest.raises(ValueError, match="objective.kl_normalization"):
    slice_kl(np.log(P), np.log(Q), "mean")
  with pytest.raises(ValueError, match="objective.kl_normalization"):
    slice_kl_to_uniform(np.log(P), "mean")


# --- attention_distill (Eq. 8) -------------------------------------------------------------

# A 2-way classifier: softmax(0, ln 3) = (0.25, 0.75), CE for label 1 = -ln 0.75.
LOGITS = np.array([[0.0, np.log(3.0)]])
CE_LABEL_1 = 0.2876821
BATCH = {"label": np.array([1])}


def _student(**maps):
  return ModelOutputs(LOGITS, {f"{name}_log": np.log(m) for name, m in maps.items()})


def test_attention_distill_terms_are_ce_motion_kl_and_appearance_prior():
  student = _student(**{"Attention/motion": P, "Attention/appearance": P})
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/map_log": np.log(Q)})
  terms = _objective("attention_distill").loss_terms(student, teacher, BATCH)
  assert set(terms) == {"ce", "attention_kl", "appearance_prior"}
  np.testing.assert_allclose(terms["ce"].value, CE_LABEL_1, rtol=1e-6)
  assert terms["ce"].weight == 1.0
  np.testing.assert_allclose(terms["attention_kl"].value, KL_P_Q, rtol=1e-6)
  assert terms["attention_kl"].weight == 1.0  # lambda_1 = 1 (Sec. 3.5)
  np.testing.assert_allclose(terms["appearance_prior"].value, KL_P_U, rtol=1e-6)
  # lambda_2 = 1 / (T H W) = 1 / (2 * 1 * 2) = 0.25 on the appearance map's grid.
  assert terms["appearance_prior"].weight == 0.25
  # Eq. 8: 0.2876821 + 0.5119052 + 0.25 * 0.3680642 = 0.8916034.
  np.testing.assert_allclose(total_loss(terms), 0.8916034, rtol=1e-6)


def test_attention_distill_default_prior_weight_is_one_over_t_h_w_of_the_map():
  # A uniform map of T x H x W = 3 x 2 x 4: lambda_2 = 1/24.
  uniform = np.full((1, 3, 2, 4), 1 / 8)
  student = _student(**{"Attention/motion": uniform, "Attention/appearance": uniform})
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/map_log": np.log(uniform)})
  terms = _objective("attention_distill").loss_terms(student, teacher, BATCH)
  assert terms["appearance_prior"].weight == pytest.approx(1 / 24, rel=1e-12)
  np.testing.assert_allclose(terms["appearance_prior"].value, 0.0, atol=1e-6)


def test_attention_distill_uses_the_configured_weights():
  student = _student(**{"Attention/motion": P, "Attention/appearance": P})
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/map_log": np.log(Q)})
  terms = _objective("attention_distill", motion_weight=3.0, appearance_weight=0.5,
                     ce_weight=2.0).loss_terms(student, teacher, BATCH)
  assert (terms["ce"].weight, terms["attention_kl"].weight,
          terms["appearance_prior"].weight) == (2.0, 3.0, 0.5)


def test_attention_distill_reads_the_maps_by_their_configured_names():
  # The student's motion map is P under a custom name; its appearance map is Q; the
  # teacher's map is Q under the name a Prob-Distill teacher would give it. The default
  # names are absent, so only the configured ones can produce these values.
  student = _student(**{"Attention/flowlike": P, "Attention/look": Q})
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/motion_log": np.log(Q)})
  objective = _objective("attention_distill", student_motion_map="Attention/flowlike",
                         student_appearance_map="Attention/look",
                         teacher_map="Attention/motion")
  terms = objective.loss_terms(student, teacher, BATCH)
  np.testing.assert_allclose(terms["attention_kl"].value, KL_P_Q, rtol=1e-6)
  # KL(Q || U): t=0 ln 2 - H(0.25, 0.75) = 0.6931472 - 0.5623351 = 0.1308121; t=1: 0.
  np.testing.assert_allclose(terms["appearance_prior"].value, 0.1308121, rtol=1e-6)


def test_attention_distill_without_the_teachers_map_names_the_missing_map():
  student = _student(**{"Attention/motion": P, "Attention/appearance": P})
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/motion_log": np.log(Q)})
  with pytest.raises(ValueError, match="teacher has no attention map 'Attention/map'"):
    _objective("attention_distill").loss_terms(student, teacher, BATCH)


def test_attention_distill_without_the_students_map_names_the_missing_map():
  student = _student(**{"Attention/map": P})  # a single-map head, not Prob-Distill
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/map_log": np.log(Q)})
  with pytest.raises(ValueError, match="student has no attention map 'Attention/motion'"):
    _objective("attention_distill").loss_terms(student, teacher, BATCH)


def test_attention_distill_kl_normalisation_applies_to_both_kl_terms():
  student = _student(**{"Attention/motion": P, "Attention/appearance": P})
  teacher = ModelOutputs(np.zeros((1, 2)), {"Attention/map_log": np.log(Q)})
  terms = _objective("attention_distill", kl_normalization="log_hw").loss_terms(
      student, teacher, BATCH)
  np.testing.assert_allclose(terms["attention_kl"].value, 0.3692616, rtol=1e-6)
  np.testing.assert_allclose(terms["appearance_prior"].value, 0.2655022, rtol=1e-6)


# --- attention_prior (Eq. 3) ---------------------------------------------------------------


def test_attention_prior_terms_are_ce_and_the_maps_kl_to_uniform():
  terms = _objective("attention_prior").loss_terms(_student(**{"Attention/map": P}), None,
                                                  BATCH)
  assert set(terms) == {"ce", "prior/Attention/map"}
  np.testing.assert_allclose(terms["ce"].value, CE_LABEL_1, rtol=1e-6)
  np.testing.assert_allclose(terms["prior/Attention/map"].value, KL_P_U, rtol=1e-6)
  assert terms["prior/Attention/map"].weight == 0.25  # 1 / (T H W) = 1 / 4


def test_attention_prior_regularises_every_listed_map_with_the_configured_weight():
  student = _student(**{"Attention/motion": P, "Attention/appearance": Q})
  terms = _objective("attention_prior", maps=("Attention/motion", "Attention/appearance"),
                     prior_weight=0.1).loss_terms(student, None, BATCH)
  assert set(terms) == {"ce", "prior/Attention/motion", "prior/Attention/appearance"}
  np.testing.assert_allclose(terms["prior/Attention/motion"].value, KL_P_U, rtol=1e-6)
  np.testing.assert_allclose(terms["prior/Attention/appearance"].value, 0.1308121, rtol=1e-6)
  assert terms["prior/Attention/motion"].weight == 0.1
  assert terms["prior/Attention/appearance"].weight == 0.1


def test_attention_prior_on_a_network_without_the_map_names_the_map():
  with pytest.raises(ValueError, match="'Attention/map'"):
    _objective("attention_prior").loss_terms(ModelOutputs(LOGITS, {}), None, BATCH)


# --- config sections -----------------------------------------------------------------------


def test_ce_section_has_only_the_action_loss_keys():
  assert set(objective_config("ce").keys()) == {"name", "ce_weight", "label_smoothing"}


def test_attention_distill_section_defaults_are_the_papers():
  c = objective_config("attention_distill")
  assert set(c.keys()) == {
      "name", "ce_weight", "label_smoothing", "motion_weight", "appearance_weight",
      "student_motion_map", "student_appearance_map", "teacher_map", "kl_normalization"}
  assert (c.motion_weight, c.appearance_weight, c.kl_normalization) == (1.0, None, "sum")
  assert (c.student_motion_map, c.student_appearance_map, c.teacher_map) == (
      "Attention/motion", "Attention/appearance", "Attention/map")


def test_build_objective_rejects_a_key_of_another_objective_and_names_it():
  config = objective_config("ce")
  config.distill_weight = 1.0
  with pytest.raises(ValueError, match=r"\['distill_weight'\] are not options of 'ce'"):
    build_objective(config)


def test_build_objective_rejects_a_distillation_key_in_the_prior_section():
  config = objective_config("attention_prior")
  config.motion_weight = 1.0
  with pytest.raises(ValueError, match="motion_weight"):
    build_objective(config)


def test_build_objective_rejects_a_section_missing_a_key_and_names_it():
  config = objective_config("attention_distill")
  del config["teacher_map"]
  with pytest.raises(ValueError, match=r"\['teacher_map'\] are missing"):
    build_objective(config)
