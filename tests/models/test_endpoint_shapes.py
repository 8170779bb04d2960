"""Endpoint shapes match the slim / DeepMind tests (TF-slim's `s3dg_test.py`, kinetics-i3d's `i3d_test.py`)."""

import jax
import jax.numpy as jnp
import pytest

from d3d_jax.models import ENDPOINTS, build_model

FULL_224 = {
    "Conv3d_1a_7x7": (32, 112, 112, 64), "MaxPool3d_2a_3x3": (32, 56, 56, 64),
    "Conv3d_2b_1x1": (32, 56, 56, 64), "Conv3d_2c_3x3": (32, 56, 56, 192),
    "MaxPool3d_3a_3x3": (32, 28, 28, 192), "Mixed_3b": (32, 28, 28, 256),
    "Mixed_3c": (32, 28, 28, 480), "MaxPool3d_4a_3x3": (16, 14, 14, 480),
    "Mixed_4b": (16, 14, 14, 512), "Mixed_4c": (16, 14, 14, 512),
    "Mixed_4d": (16, 14, 14, 512), "Mixed_4e": (16, 14, 14, 528),
    "Mixed_4f": (16, 14, 14, 832), "MaxPool3d_5a_2x2": (8, 7, 7, 832),
    "Mixed_5b": (8, 7, 7, 832), "Mixed_5c": (8, 7, 7, 1024),
    "Logits_per_time": (7, 400), "Logits": (400,), "Predictions": (400,),
}


def _endpoint_shapes(name, frames, size, batch=5, **options):
  model = build_model(name, num_classes=400, **options)
  x = jnp.zeros((batch, frames, size, size, 3))
  def forward():
    variables = model.init(jax.random.PRNGKey(0), x)
    return model.apply(variables, x, train=False)
  logits, endpoints = jax.eval_shape(forward)
  assert logits.shape == (batch, 400)
  return {k: v.shape[1:] for k, v in endpoints.items()}


@pytest.mark.parametrize("name", ["i3d", "s3dg", "s3d"])
def test_every_endpoint_shape_at_64x224x224(name):
  shapes = _endpoint_shapes(name, 64, 224)
  assert set(shapes) == set(ENDPOINTS)
  assert shapes == FULL_224


def test_mixed_5c_at_112_pixels_and_clipped_head_pool():
  shapes = _endpoint_shapes("s3dg", 64, 112)
  assert shapes["Mixed_5c"] == (8, 4, 4, 1024)
  assert shapes["Logits_per_time"] == (7, 400)


def test_mixed_5c_at_10_frames():
  shapes = _endpoint_shapes("s3dg", 10, 224)
  assert shapes["Mixed_5c"] == (2, 7, 7, 1024)
  assert shapes["Logits_per_time"] == (1, 400)


def test_79_frame_deepmind_sample_gives_9_logit_steps():
  shapes = _endpoint_shapes("i3d", 79, 224, batch=1)
  assert shapes["Mixed_5c"] == (10, 7, 7, 1024)
  assert shapes["Logits_per_time"] == (9, 400)


def test_flow_model_rejects_rgb_input_naming_the_option():
  model = build_model("i3d", num_classes=4, input_channels=2)
  with pytest.raises(ValueError, match="input_channels"):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 32, 32, 3))))
