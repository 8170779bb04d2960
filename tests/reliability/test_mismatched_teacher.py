"""A teacher (or `model.init_from` export) from another network than the config
describes: one error listing every differing config key."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax import trainer
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_call, build_from_config
from tests.trainer.conftest import tiny_config


def _export_other_network(tiny_dataset, export: str, modality: str) -> None:
  """An export of a wider flow/RGB network ending at Mixed_3c, with 5 classes."""
  other = tiny_config(tiny_dataset, modality=modality, **{
      "model.options.depth_multiplier": 0.25, "model.options.final_endpoint": "Mixed_3c"})
  model = build_from_config(other.model, 5, "float32")
  channels = 2 if modality == "flow" else 3
  variables = nn.unbox(jax.jit(lambda r: model.init(r, jnp.zeros((1, 8, 16, 16, channels))))(
      jax.random.PRNGKey(0)))
  save_model_variables(export, variables["params"], variables["batch_stats"],
                       metadata=build_call(other.model, 5))


def test_a_mismatched_teacher_is_one_error_naming_each_config_key(tiny_dataset, tmp_path):
  _export_other_network(tiny_dataset, str(tmp_path / "teacher" / "export"), "flow")

  config = tiny_config(tiny_dataset, objective="d3d_logits",
                       **{"teacher.checkpoint": str(tmp_path / "teacher")})
  with pytest.raises(ValueError) as error:
    trainer.train(config, str(tmp_path / "student"))
  assert str(error.value).splitlines()[1:] == [
      "  teacher.model.num_classes: config 4, export 5",
      "  teacher.model.options.depth_multiplier: config 0.125, export 0.25",
      "  teacher.model.options.final_endpoint: config 'Mixed_3b', export 'Mixed_3c'"]
  assert not (tmp_path / "student" / "checkpoints").exists()


def test_a_mismatched_init_from_export_names_each_config_key_before_the_variables(
    tiny_dataset, tmp_path):
  export = str(tmp_path / "pretrained" / "export")
  _export_other_network(tiny_dataset, export, "rgb")
  config = tiny_config(tiny_dataset, **{"model.init_from.path": export})
  with pytest.raises(ValueError) as error:
    trainer.train(config, str(tmp_path / "finetune"))
  lines = str(error.value).splitlines()
  assert lines[0] == (f"model.init_from.path {export} was exported from another network "
                      f"than `model` describes:")
  assert lines[1:4] == [
      "  model.num_classes: config 4, export 5",
      "  model.options.depth_multiplier: config 0.125, export 0.25",
      "  model.options.final_endpoint: config 'Mixed_3b', export 'Mixed_3c'"]
  assert "does not fit the model" in lines[4]
  assert not list((tmp_path / "finetune").glob("checkpoints/[0-9]*"))


def test_an_init_from_export_that_differs_only_in_excluded_logits_loads(tiny_dataset,
                                                                        tmp_path):
  source = tiny_config(tiny_dataset)
  model = build_from_config(source.model, 5, "float32")
  variables = nn.unbox(jax.jit(lambda r: model.init(r, jnp.zeros((1, 8, 16, 16, 3))))(
      jax.random.PRNGKey(0)))
  export = str(tmp_path / "pretrained" / "export")
  save_model_variables(export, variables["params"], variables["batch_stats"],
                       metadata=build_call(source.model, 5))
  config = tiny_config(tiny_dataset, total_steps=0, **{
      "model.init_from.path": export, "model.init_from.exclude": ("^Logits/",)})
  state = trainer.train(config, str(tmp_path / "finetune"))
  stem = ("Conv3d_1a_7x7", "conv", "kernel")
  got = state.params["student"]
  for key in stem:
    got = got[key]
  want = variables["params"]
  for key in stem:
    want = want[key]
  np.testing.assert_array_equal(jax.device_get(nn.unbox(got)), want)
