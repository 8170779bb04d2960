"""Tiny configs on the tiny real dataset of tests/conftest.py (`tiny_dataset`)."""

import pytest

from configs.synthetic_common import get_synthetic_config
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_call, build_from_config

from tests.conftest import NUM_CLASSES  # the classes of the tiny_dataset fixture


def tiny_config(data_dir, modality="rgb", objective="ce", **overrides):
  """The synthetic demo config shrunk to compile and run in seconds."""
  c = get_synthetic_config(modality=modality, objective=objective)
  c.input.data_dir = data_dir
  c.input.num_frames = 8
  c.input.crop_size = 16
  c.input.batch_size = 4
  c.input.eval_batch_size = 4
  c.input.shuffle_buffer = 16
  c.input.deterministic = True
  c.model.options.depth_multiplier = 0.125
  c.model.options.min_depth = 4
  c.model.options.final_endpoint = "Mixed_3b"
  c.teacher.model.options = c.model.options.to_dict()
  c.total_steps = 6
  c.checkpoint.every_steps = 3
  c.checkpoint.async_save = False
  c.log_every_steps = 1
  c.schedule.name = "constant"
  c.schedule.warmup_steps = 0
  c.exact_resume = True
  c.update_from_flattened_dict(overrides)
  return c


@pytest.fixture(scope="session")
def flow_teacher_export(tiny_dataset, tmp_path_factory):
  """A flow network's export directory (random weights): a teacher for D3D tests."""
  import jax
  import flax.linen as nn
  import jax.numpy as jnp
  config = tiny_config(tiny_dataset, modality="flow")
  model = build_from_config(config.model, NUM_CLASSES, "float32")
  variables = nn.unbox(jax.jit(lambda r: model.init(r, jnp.zeros((1, 8, 16, 16, 2))))(
      jax.random.PRNGKey(7)))
  path = str(tmp_path_factory.mktemp("teacher") / "export")
  save_model_variables(path, variables["params"], variables["batch_stats"],
                       metadata=build_call(config.model, NUM_CLASSES))
  return path
