"""The KD baselines of Wang et al. 2024's Table 1 against hand computations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.objectives import ModelOutputs, build_objective, objective_config
from d3d_jax.objectives.attention_transfer import attention_transfer_loss, frame_attention
from d3d_jax.objectives.decoupled_kd import decoupled_kl
from d3d_jax.objectives.fitnets import Connector
from d3d_jax.objectives.hinton_kd import soft_label_kl


def test_hinton_kd_is_tau_squared_times_the_kl_of_tempered_softmaxes():
  student = jnp.zeros((1, 2))
  teacher = jnp.array([[2 * math.log(3.0), 0.0]])  # / tau=2 -> softmax (0.75, 0.25)
  kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
  np.testing.assert_allclose(soft_label_kl(student, teacher, tau=2.0), 4 * kl, rtol=1e-6)
  c = objective_config("hinton_kd")
  assert (c.tau, c.kd_weight, c.ce_weight) == (4.0, 1.0, 1.0)


def test_dkd_splits_the_kl_into_target_and_non_target_parts():
  teacher = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
  student = jnp.log(jnp.array([[0.2, 0.4, 0.4]]))
  tckd, nckd = decoupled_kl(student, teacher, jnp.array([0]), tau=1.0)
  np.testing.assert_allclose(tckd, 0.5 * math.log(0.5 / 0.2) + 0.5 * math.log(0.5 / 0.8),
                             rtol=1e-5)
  np.testing.assert_allclose(nckd, 0.6 * math.log(0.6 / 0.5) + 0.4 * math.log(0.4 / 0.5),
                             rtol=1e-5)


def test_fitnets_regresses_the_connected_student_features_onto_the_teachers():
  rng = np.random.default_rng(0)
  s_features = jnp.asarray(rng.normal(size=(2, 2, 2, 2, 3)), jnp.float32)
  t_features = jnp.asarray(rng.normal(size=(2, 2, 2, 2, 3)), jnp.float32)
  student = ModelOutputs(jnp.zeros((2, 4)), {"Mixed_5c": s_features})
  teacher = ModelOutputs(jnp.zeros((2, 4)), {"Mixed_5c": t_features})
  objective = build_objective(objective_config("fitnets"))
  connector = objective.extra_modules()["connector"]
  identity = {"params": {"Mixed_5c": {"kernel": jnp.eye(3).reshape(1, 1, 1, 3, 3),
                                       "bias": jnp.zeros(3)}}}
  extra = lambda name, outputs: connector.apply(identity, outputs)
  terms = objective.loss_terms(student, teacher, {"label": jnp.array([0, 1])}, extra)
  np.testing.assert_allclose(terms["hint/Mixed_5c"].value,
                             np.mean((s_features - t_features) ** 2), rtol=1e-6)
  np.testing.assert_allclose(terms["ce"].value, math.log(4.0), rtol=1e-6)
  wider = Connector(("Mixed_5c",), (("Mixed_5c", 5),))
  variables = wider.init(jax.random.PRNGKey(0), student)
  assert wider.apply(variables, student)["Mixed_5c"].shape == (2, 2, 2, 2, 5)


def test_attention_transfer_compares_per_frame_normalised_maps_summed_over_time():
  student = jnp.array([[3.0], [4.0]]).reshape(1, 1, 1, 2, 1)   # q = (9, 16)
  teacher = jnp.array([[1.0], [0.0]]).reshape(1, 1, 1, 2, 1)   # q = (1, 0)
  a_s = np.array([9.0, 16.0]) / math.sqrt(337.0)
  np.testing.assert_allclose(attention_transfer_loss(student, teacher),
                             ((a_s[0] - 1) ** 2 + a_s[1] ** 2) / 2, rtol=1e-6)
  # Two frames: each normalised on its own, the distances summed over t.
  two = jnp.concatenate([student, teacher], axis=1)
  np.testing.assert_allclose(attention_transfer_loss(two, jnp.flip(two, axis=1)),
                             2 * ((a_s[0] - 1) ** 2 + a_s[1] ** 2) / 2, rtol=1e-6)
  maps = frame_attention(jnp.ones((1, 2, 2, 2, 3)))
  np.testing.assert_allclose(jnp.linalg.norm(maps, axis=-1), 1.0, rtol=1e-6)


def test_attention_transfer_pools_the_finer_grid_onto_the_coarser():
  fine = jnp.ones((1, 2, 4, 4, 3))
  coarse = jnp.ones((1, 1, 2, 2, 5))
  np.testing.assert_allclose(attention_transfer_loss(fine, coarse), 0.0, atol=1e-7)
  with pytest.raises(ValueError, match="cannot pool"):
    attention_transfer_loss(jnp.ones((1, 3, 3, 3, 1)), jnp.ones((1, 2, 2, 2, 1)))
  assert dict(objective_config("attention_transfer").feature_weights) == {
      "Conv3d_2c_3x3": 100.0, "Mixed_3c": 100.0, "Mixed_4f": 100.0, "Mixed_5c": 100.0}
