"""The whole-video eval protocol (input.eval_num_frames=0) needs no special lengths."""

import jax
import jax.numpy as jnp
import pytest

from d3d_jax.models import build_model


@pytest.mark.parametrize("name", ["i3d", "s3dg"])
def test_a_250_frame_video_runs_in_one_pass_with_31_logit_steps(name):
  # Total temporal stride 8 (conv1, MaxPool3d_4a, MaxPool3d_5a); 'SAME' rounds each
  # stride up, so 250 (not a multiple of 8) -> 125 -> 63 -> 32 frames at Mixed_5c, and
  # the [2, 7, 7] VALID head pool leaves 31 per-time logits, averaged into one.
  model = build_model(name, num_classes=400)
  x = jnp.zeros((1, 250, 224, 224, 3))
  def forward():
    return model.apply(model.init(jax.random.PRNGKey(0), x), x, train=False)
  logits, endpoints = jax.eval_shape(forward)
  assert endpoints["Mixed_5c"].shape == (1, 32, 7, 7, 1024)
  assert endpoints["Logits_per_time"].shape == (1, 31, 400)
  assert logits.shape == (1, 400)
