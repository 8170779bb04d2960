"""D3D Sec. 3: flow decoders, the (mag, sin, cos) target, its loss and the EPE."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.models.flow_decoders import DECODERS, FlowDecoder
from d3d_jax.objectives import flow_prediction as fp


def _features(seed=0, shape=(2, 4, 6, 6, 5)):
  return jax.random.normal(jax.random.PRNGKey(seed), shape)


@pytest.mark.parametrize("kind", DECODERS)
def test_decoder_outputs_three_channels_at_the_input_resolution(kind):
  decoder = FlowDecoder(kind, pwc_channels=(8, 8, 6, 4, 4, 3))
  x = _features()
  out = decoder.apply(decoder.init(jax.random.PRNGKey(1), x), x)
  assert out.shape == (2, 4, 6, 6, 3)


@pytest.mark.parametrize("kind", DECODERS)
def test_decoder_does_not_mix_time_steps(kind):
  decoder = FlowDecoder(kind, pwc_channels=(8, 8, 6, 4, 4, 3))
  x = _features()
  variables = decoder.init(jax.random.PRNGKey(1), x)
  perturbed = x.at[:, 2].add(5.0)
  changed = np.any(np.asarray(decoder.apply(variables, perturbed)
                              != decoder.apply(variables, x)), axis=(0, 2, 3, 4))
  np.testing.assert_array_equal(changed, [False, False, True, False])


def test_pwc_decoder_has_the_paper_widths_and_spatial_keeps_the_input_width():
  x = _features()
  pwc = nn.unbox(FlowDecoder("pwc").init(jax.random.PRNGKey(0), x))["params"]
  assert [pwc[f"conv{i}_3x3"]["kernel"].shape[-1] for i in range(6)] == [128, 128, 96, 64,
                                                                          32, 3]
  assert all(pwc[f"conv{i}_3x3"]["kernel"].shape[:3] == (1, 3, 3) for i in range(6))
  spatial = nn.unbox(FlowDecoder("spatial").init(jax.random.PRNGKey(0), x))["params"]
  assert [spatial[k]["kernel"].shape for k in sorted(spatial)] == [
      (1, 3, 3, 5, 5), (1, 3, 3, 5, 5), (1, 1, 1, 5, 3)]
  simple = nn.unbox(FlowDecoder("simple").init(jax.random.PRNGKey(0), x))["params"]
  assert [v["kernel"].shape for v in simple.values()] == [(1, 1, 1, 5, 3)]


def test_unknown_decoder_is_an_error_naming_the_choices():
  with pytest.raises(ValueError, match="simple"):
    FlowDecoder("unet").init(jax.random.PRNGKey(0), _features())


def _numpy_target(flow, endpoint_thw):
  """The target by loops: mean displacement per cell, / cell size, to polar."""
  b, t, h, w, _ = flow.shape
  ft, fh, fw = t // endpoint_thw[0], h // endpoint_thw[1], w // endpoint_thw[2]
  out = np.zeros(flow.shape[:1] + tuple(endpoint_thw) + (3,))
  for i in range(b):
    for a in range(endpoint_thw[0]):
      for r in range(endpoint_thw[1]):
        for c in range(endpoint_thw[2]):
          cell = flow[i, a * ft:(a + 1) * ft, r * fh:(r + 1) * fh, c * fw:(c + 1) * fw]
          x, y = cell[..., 0].mean() * 20 / fw, cell[..., 1].mean() * 20 / fh
          theta = np.arctan2(y, x)
          out[i, a, r, c] = [np.hypot(x, y), np.sin(theta), np.cos(theta)]
  return out


def test_target_pools_displacement_scales_to_the_endpoint_pixel_and_is_polar():
  flow = np.random.RandomState(0).uniform(-0.3, 0.3, (2, 4, 8, 6, 2)).astype(np.float32)
  target = fp.flow_target(jnp.asarray(flow), (2, 4, 2))
  np.testing.assert_allclose(target, _numpy_target(flow, (2, 4, 2)), rtol=1e-5, atol=1e-6)


def test_inverse_of_the_target_gives_back_the_pooled_displacement():
  flow = np.random.RandomState(1).uniform(-0.3, 0.3, (2, 4, 8, 8, 2)).astype(np.float32)
  target = fp.flow_target(jnp.asarray(flow), (2, 2, 4))
  back = fp.predicted_displacement(target, (4, 8, 8))
  pooled = flow.reshape(2, 2, 2, 2, 4, 4, 2, 2).mean(axis=(2, 4, 6)) * 20
  np.testing.assert_allclose(back, pooled, rtol=1e-5, atol=1e-5)


def test_polar_of_zero_flow_is_zero_magnitude_angle_zero():
  np.testing.assert_array_equal(fp.to_polar(jnp.zeros((1, 2))), [[0.0, 0.0, 1.0]])


def test_target_shape_not_dividing_the_input_is_an_error_naming_the_axis():
  with pytest.raises(ValueError, match="H: 8 is not a multiple of 3"):
    fp.flow_target(jnp.zeros((1, 4, 8, 8, 2)), (2, 3, 4))


def test_loss_weights_sin_and_cos_errors_by_the_target_magnitude():
  target = jnp.asarray([[2.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
  prediction = jnp.asarray([[1.0, 1.0, 0.0], [0.5, 1.0, 0.0]])
  # cell 1: (1-2)^2 + 2 * (1 + 1) = 5; cell 2: 0.5^2 + 0 * 2 = 0.25; mean 2.625
  assert float(fp.flow_loss(prediction, target)) == pytest.approx(2.625)


def test_epe_of_a_constant_flow_is_zero_when_exact_and_its_length_for_zeros():
  v = np.array([3.0, -4.0])  # input pixels per frame, |v| = 5
  flow = jnp.broadcast_to(jnp.asarray(v / 20, jnp.float32), (2, 4, 8, 8, 2))
  for endpoint_thw in ((4, 8, 8), (2, 4, 4), (1, 2, 1)):
    target = fp.pool_displacement(flow, endpoint_thw)
    exact = fp.predicted_displacement(fp.flow_target(flow, endpoint_thw), (4, 8, 8))
    np.testing.assert_allclose(fp.endpoint_error(exact, target), [0.0, 0.0], atol=1e-5)
    zeros = fp.predicted_displacement(jnp.zeros(target.shape[:-1] + (3,)), (4, 8, 8))
    np.testing.assert_allclose(fp.endpoint_error(zeros, target), [5.0, 5.0], rtol=1e-6)


def test_epe_is_the_mean_euclidean_distance_in_input_pixels():
  prediction = jnp.asarray([[[[[1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]]]])  # (1,0) and (0,2)
  # the endpoint's pixel is 2 input pixels wide (x) and 1 high (y): input 1 x 1 x 4
  displacement = fp.predicted_displacement(prediction, (1, 1, 4))
  np.testing.assert_allclose(displacement[0, 0, 0], [[2.0, 0.0], [0.0, 2.0]], atol=1e-6)
  target = jnp.asarray([[[[[2.0, 3.0], [0.0, 2.0]]]]])
  np.testing.assert_allclose(fp.endpoint_error(displacement, target), [1.5], atol=1e-6)


def test_flow_loss_objective_is_cross_entropy_plus_a_simple_decoder_at_3a():
  from d3d_jax.objectives import ModelOutputs, build_objective, objective_config
  objective = build_objective(objective_config("flow_loss"))
  (name, module), = objective.extra_modules().items()
  assert (name, module.endpoint, module.kind) == (
      "flow_decoder_MaxPool3d_3a_3x3", "MaxPool3d_3a_3x3", "simple")
  outputs = ModelOutputs(jnp.zeros((2, 4)), {"MaxPool3d_3a_3x3": _features()})
  params = module.init(jax.random.PRNGKey(0), outputs)
  flow = jnp.zeros((2, 8, 12, 12, 2))
  terms = objective.loss_terms(outputs, None, {"label": jnp.array([0, 1]), "flow": flow},
                               lambda n, o: module.apply(params, o))
  assert sorted(terms) == ["ce", "flow/MaxPool3d_3a_3x3"]
  assert float(terms["ce"].value) == pytest.approx(np.log(4))
  prediction = module.apply(params, outputs)
  assert float(terms["flow/MaxPool3d_3a_3x3"].value) == pytest.approx(
      float(jnp.mean(jnp.square(prediction[..., 0]))), rel=1e-5)


def test_probe_objective_has_no_action_loss_and_names_bad_endpoints():
  from d3d_jax.objectives import build_objective, objective_config
  config = objective_config("flow_probe")
  assert config.ce_weight == 0.0 and config.decoder == "pwc"
  config.endpoints = ("Mixed_3z",)
  with pytest.raises(ValueError, match="Mixed_3z"):
    build_objective(config)
