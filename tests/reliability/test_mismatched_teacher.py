"""A teacher exported from another network than the config describes: one error
listing every differing config key, before any network is built."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from d3d_jax import trainer
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_call, build_from_config
from tests.trainer.conftest import tiny_config


def test_a_mismatched_teacher_is_one_error_naming_each_config_key(tiny_dataset, tmp_path):
  other = tiny_config(tiny_dataset, modality="flow", **{
      "model.options.depth_multiplier": 0.25, "model.options.final_endpoint": "Mixed_3c"})
  model = build_from_config(other.model, 5, "float32")
  variables = nn.unbox(jax.jit(lambda r: model.init(r, jnp.zeros((1, 8, 16, 16, 2))))(
      jax.random.PRNGKey(0)))
  export = str(tmp_path / "teacher" / "export")
  save_model_variables(export, variables["params"], variables["batch_stats"],
                       metadata=build_call(other.model, 5))

  config = tiny_config(tiny_dataset, objective="d3d_logits",
                       **{"teacher.checkpoint": str(tmp_path / "teacher")})
  with pytest.raises(ValueError) as error:
    trainer.train(config, str(tmp_path / "student"))
  assert str(error.value).splitlines()[1:] == [
      "  teacher.model.num_classes: config 4, export 5",
      "  teacher.model.options.depth_multiplier: config 0.125, export 0.25",
      "  teacher.model.options.final_endpoint: config 'Mixed_3b', export 'Mixed_3c'"]
  assert not (tmp_path / "student" / "checkpoints").exists()
