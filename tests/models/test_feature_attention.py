"""GKD's attention module (Wang et al. 2024, Eq. 8-10): shapes, sigma, the layer stack."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.models import build_model
from d3d_jax.models.feature_attention import (ATTENTION_ENDPOINT, FEATURES_ENDPOINT,
                                              FeatureAttention, l1_scale, nearest_upsample)


def _full_size_shapes(name, **options):
  model = build_model(name, 101, head="feature_attention", **options)
  clip = jnp.zeros((1, 64, 224, 224, 3))
  variables = jax.eval_shape(lambda: nn.unbox(model.init(jax.random.PRNGKey(0), clip)))
  logits, endpoints = jax.eval_shape(model.apply, variables, clip)
  return variables["params"], logits, endpoints


def test_full_size_attention_is_a_channel_by_time_gate_on_mixed_5c():
  params, logits, endpoints = _full_size_shapes("i3d")
  assert logits.shape == (1, 101)
  assert endpoints[ATTENTION_ENDPOINT].shape == (1, 8, 1024)
  assert endpoints[FEATURES_ENDPOINT].shape == endpoints["Mixed_5c"].shape == (1, 8, 7, 7, 1024)
  shapes = jax.tree_util.tree_map(lambda p: p.shape, params["FeatureAttention"])
  assert shapes == {
      "Conv3d_0a": {"kernel": (1, 7, 7, 1024, 512), "bias": (512,)},
      "GroupNorm_0a": {"scale": (512,), "bias": (512,)},
      "Conv1d_0b": {"kernel": (3, 512, 1024), "bias": (1024,)},
      "GroupNorm_0b": {"scale": (1024,), "bias": (1024,)},
      "Dense_0c": {"kernel": (1024, 8), "bias": (8,)},       # upsampled time -> T
      "theta": {"kernel": (1, 1, 1, 1024, 1024), "bias": (1024,)},
  }
  # The classifier reads F' through the plain head, named as published checkpoints.
  assert params["Logits"]["Conv3d_0c_1x1"]["kernel"].shape == (1, 1, 1, 1024, 101)


def test_the_top_heavy_student_gets_the_same_module_and_new_modules_name_it():
  _, _, endpoints = _full_size_shapes("top_heavy_i3d", switch_block="Mixed_4d")
  assert endpoints[ATTENTION_ENDPOINT].shape == (1, 8, 1024)
  model = build_model("top_heavy_i3d", 101, head="feature_attention")
  assert model.new_modules() == ("^FeatureAttention/",)


def test_nearest_upsampling_is_pytorchs_floor_index():
  x = jnp.arange(3.0).reshape(1, 3, 1)
  np.testing.assert_array_equal(nearest_upsample(x, 8)[0, :, 0], [0, 0, 0, 1, 1, 1, 2, 2])


def test_sigma_per_clip_and_per_batch_against_numpy():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(3, 2, 2, 2, 4)).astype(np.float32)
  gated = rng.normal(size=(3, 2, 2, 2, 4)).astype(np.float32)
  per_clip = np.abs(features).reshape(3, -1).sum(1) / np.abs(gated).reshape(3, -1).sum(1)
  np.testing.assert_allclose(np.asarray(l1_scale(features, gated, "clip")).ravel(), per_clip,
                             rtol=1e-6)
  np.testing.assert_allclose(l1_scale(features, gated, "batch"),
                             np.abs(features).sum() / np.abs(gated).sum(), rtol=1e-6)


@pytest.mark.parametrize("sigma", ["clip", "batch"])
@pytest.mark.parametrize("theta", ["identity", "transposed_conv"])
def test_reweighted_features_are_sigma_times_gated_theta_of_f(sigma, theta):
  rng = np.random.default_rng(1)
  features = np.maximum(rng.normal(size=(2, 4, 3, 3, 16)), 0).astype(np.float32)
  module = FeatureAttention(sigma=sigma, theta=theta, upsampled_length=8, groups=4)
  variables = module.init(jax.random.PRNGKey(0), features)
  attention, reweighted = module.apply(variables, features)
  attention, reweighted = np.asarray(attention), np.asarray(reweighted)
  assert attention.shape == (2, 4, 16) and ((attention > 0) & (attention < 1)).all()
  transformed = features
  if theta == "transposed_conv":
    p = variables["params"]["theta"]
    transformed = features @ np.asarray(p["kernel"])[0, 0, 0] + np.asarray(p["bias"])
  gated = attention[:, :, None, None, :] * transformed
  axes = (1, 2, 3, 4) if sigma == "clip" else None
  scale = (np.abs(features).sum(axis=axes, keepdims=sigma == "clip")
           / np.abs(gated).sum(axis=axes, keepdims=sigma == "clip"))
  np.testing.assert_allclose(reweighted, scale * gated, rtol=2e-5, atol=1e-6)
  if theta == "identity":  # sigma keeps the L1 norm: of each clip, or of the batch
    norms = np.abs(reweighted).sum(axis=axes)
    np.testing.assert_allclose(norms, np.abs(features).sum(axis=axes), rtol=1e-5)


def test_batch_sigma_couples_the_clips_of_a_batch_and_clip_sigma_does_not():
  rng = np.random.default_rng(2)
  features = np.maximum(rng.normal(size=(2, 2, 2, 2, 8)), 0).astype(np.float32)
  for sigma, coupled in (("clip", False), ("batch", True)):
    module = FeatureAttention(sigma=sigma, theta="identity", upsampled_length=4, groups=2)
    variables = module.init(jax.random.PRNGKey(0), features)
    alone = module.apply(variables, features[:1])[1]
    together = module.apply(variables, features)[1][:1]
    assert (not np.allclose(alone, together, rtol=1e-5)) == coupled, sigma


def test_groups_that_do_not_divide_the_width_are_an_error_naming_the_option():
  module = FeatureAttention(groups=32)
  with pytest.raises(ValueError, match="feature_attention_groups=32"):
    module.init(jax.random.PRNGKey(0), jnp.ones((1, 2, 2, 2, 48)))
