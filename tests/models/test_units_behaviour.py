"""Behaviour of the building blocks and of train / eval mode, on tiny networks."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.models import build_model
from d3d_jax.models.units import ConvOptions, ConvUnit, SelfGating

TINY = dict(depth_multiplier=0.125, min_depth=4)
SHALLOW = dict(TINY, final_endpoint="Mixed_3c")  # compiles in seconds


def _init(module, x, **kwargs):
  init = jax.jit(functools.partial(module.init, **kwargs))
  return nn.unbox(init(jax.random.PRNGKey(0), x))


def _apply(module, variables, x, **kwargs):
  """Jitted apply: one compile instead of an op-by-op dispatch of the network."""
  return jax.jit(module.apply, static_argnames=("train", "mutable"))(variables, x, **kwargs)


def test_separable_temporal_conv_is_identity_at_initialisation():
  unit = ConvUnit(6, (3, 3, 3), separable=True, temporal_norm="bias")
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 8, 8, 4))
  variables = _init(unit, x, train=False)
  kernel = np.asarray(variables["params"]["temporal"]["kernel"])
  assert kernel.shape == (3, 1, 1, 6, 6)
  np.testing.assert_array_equal(kernel[1, 0, 0], np.eye(6))
  np.testing.assert_array_equal(kernel[[0, 2]], 0.0)
  np.testing.assert_array_equal(variables["params"]["temporal"]["bias"], 0.0)
  # So the whole unit equals its spatial half (conv -> BN -> ReLU) at init.
  spatial_only = ConvUnit(6, (1, 3, 3))
  spatial_vars = {"params": {k: variables["params"][k] for k in ("conv", "bn")},
                  "batch_stats": variables["batch_stats"]}
  np.testing.assert_allclose(unit.apply(variables, x, train=False),
                             spatial_only.apply(spatial_vars, x, train=False), atol=1e-6)


def test_self_gating_multiplies_by_sigmoid_of_pooled_projection():
  gate = SelfGating()
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 3, 4, 4, 5))
  variables = _init(gate, x)
  w = np.asarray(variables["params"]["transformer_W"]["kernel"])
  assert "bias" not in variables["params"]["transformer_W"]  # slim: no bias
  pooled = np.asarray(x).mean(axis=(1, 2, 3))
  expected = np.asarray(x) / (1 + np.exp(-(pooled @ w)))[:, None, None, None, :]
  np.testing.assert_allclose(gate.apply(variables, x), expected, rtol=1e-5, atol=1e-6)


def test_batch_norm_uses_batch_statistics_in_training_and_averages_in_eval():
  unit = ConvUnit(3, (1, 1, 1), options=ConvOptions(bn_momentum=0.9))
  x = 5.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(3), (4, 2, 3, 3, 2))
  variables = _init(unit, x, train=False)
  kernel = variables["params"]["conv"]["kernel"][0, 0, 0]
  pre_bn = np.asarray(x) @ np.asarray(kernel)
  batch_mean, batch_var = pre_bn.mean(axis=(0, 1, 2, 3)), pre_bn.var(axis=(0, 1, 2, 3))

  y_train, updates = unit.apply(variables, x, train=True, mutable=["batch_stats"])
  expected_train = np.maximum((pre_bn - batch_mean) / np.sqrt(batch_var + 1e-3), 0)
  np.testing.assert_allclose(y_train, expected_train, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(updates["batch_stats"]["bn"]["mean"], 0.1 * batch_mean, rtol=1e-5)

  y_eval = unit.apply(variables, x, train=False)  # running mean 0, var 1
  np.testing.assert_allclose(y_eval, np.maximum(pre_bn / np.sqrt(1 + 1e-3), 0), rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_s3dg():
  model = build_model("s3dg", num_classes=5, dropout_rate=0.5, **SHALLOW)
  x = jax.random.normal(jax.random.PRNGKey(4), (2, 8, 32, 32, 3))
  return model, _init(model, x, train=False), x


def test_dropout_acts_only_in_training(tiny_s3dg):
  model, variables, x = tiny_s3dg
  eval_a, _ = _apply(model, variables, x, train=False)
  eval_b, _ = _apply(model, variables, x, train=False)
  np.testing.assert_array_equal(eval_a, eval_b)
  def train_logits(seed):
    (logits, _), _ = _apply(model, variables, x, train=True, mutable=("batch_stats",),
                            rngs={"dropout": jax.random.PRNGKey(seed)})
    return np.asarray(logits)
  assert not np.allclose(train_logits(0), train_logits(1))


def test_logits_are_the_time_mean_of_per_time_step_logits(tiny_s3dg):
  model, variables, x = tiny_s3dg
  logits, endpoints = _apply(model, variables, x, train=False)
  np.testing.assert_allclose(logits, endpoints["Logits_per_time"].mean(axis=1), rtol=1e-6)
  np.testing.assert_allclose(endpoints["Predictions"].sum(-1), 1.0, rtol=1e-5)


def test_bfloat16_compute_gives_finite_float32_logits(tiny_s3dg):
  model, variables, x = tiny_s3dg
  bf16 = build_model("s3dg", num_classes=5, dropout_rate=0.5, dtype="bfloat16", **SHALLOW)
  logits, endpoints = _apply(bf16, variables, x, train=False)
  assert logits.dtype == jnp.float32 and endpoints["Mixed_3c"].dtype == jnp.bfloat16
  reference, _ = _apply(model, variables, x, train=False)
  np.testing.assert_allclose(logits, reference, atol=0.1)


def test_symmetric_padding_shifts_stride_two_layers_against_same():
  kwargs = dict(num_classes=3, **TINY, final_endpoint="Conv3d_1a_7x7")
  x = jax.random.normal(jax.random.PRNGKey(5), (1, 8, 32, 32, 3))
  same, symmetric = build_model("i3d", **kwargs), build_model("i3d", padding="symmetric", **kwargs)
  variables = _init(same, x, train=False)
  conv1_same = _apply(same, variables, x)[1]["Conv3d_1a_7x7"]
  conv1_sym = _apply(symmetric, variables, x)[1]["Conv3d_1a_7x7"]
  assert conv1_same.shape == conv1_sym.shape == (1, 4, 16, 16, 8)
  assert not np.allclose(conv1_same, conv1_sym)


def test_final_endpoint_builds_a_shallow_network_whose_head_pools_it():
  model = build_model("i3d", num_classes=3, **SHALLOW)
  x = jnp.zeros((1, 8, 32, 32, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x))
  assert set(variables["params"]) == {
      "Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "Mixed_3b", "Mixed_3c", "Logits"}
  _, endpoints = jax.eval_shape(lambda v: model.apply(v, x), variables)
  assert "Mixed_4b" not in endpoints and endpoints["Logits_per_time"].shape == (1, 3, 3)
