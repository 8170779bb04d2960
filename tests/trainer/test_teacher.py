"""The teacher is rebuilt from its export's stored build_model call and checked against config."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax import teacher as teacher_lib
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_from_config
from tests.trainer.conftest import NUM_CLASSES, tiny_config


def _d3d_config(tiny_dataset, export, **overrides):
  return tiny_config(tiny_dataset, "rgb", "d3d_logits",
                     **{"teacher.checkpoint": export, **overrides})


def test_teacher_is_built_from_the_exports_call_with_its_variables(tiny_dataset,
                                                                   flow_teacher_export):
  config = _d3d_config(tiny_dataset, flow_teacher_export)
  model, variables = teacher_lib.load_teacher(config, NUM_CLASSES)
  assert model.final_endpoint == "Mixed_3b"
  assert model.options.padding == "SAME"
  logits, _ = model.apply(variables, jnp.zeros((1, 8, 16, 16, 2)), train=False)
  assert logits.shape == (1, NUM_CLASSES)


def test_compute_only_options_come_from_the_config(tiny_dataset, flow_teacher_export):
  config = _d3d_config(tiny_dataset, flow_teacher_export,
                       **{"teacher.model.options.lowering": "native"})
  model, _ = teacher_lib.load_teacher(config, NUM_CLASSES)
  assert model.options.lowering == "native"


def test_every_architecture_difference_is_one_error_naming_the_config_keys(
    tiny_dataset, flow_teacher_export):
  config = _d3d_config(tiny_dataset, flow_teacher_export)
  config.teacher.model.options.padding = "symmetric"
  config.teacher.model.options.depth_multiplier = 0.25
  with pytest.raises(ValueError) as error:
    teacher_lib.load_teacher(config, NUM_CLASSES)
  message = str(error.value)
  assert flow_teacher_export in message
  assert "teacher.model.options.padding: config 'symmetric', export '(unset)'" in message
  assert "teacher.model.options.depth_multiplier: config 0.25, export 0.125" in message


def test_a_teacher_for_other_classes_is_an_error(tiny_dataset, flow_teacher_export):
  config = _d3d_config(tiny_dataset, flow_teacher_export)
  with pytest.raises(ValueError, match="teacher.model.num_classes: config 5, export 4"):
    teacher_lib.load_teacher(config, NUM_CLASSES + 1)


def test_an_export_without_a_stored_call_falls_back_to_the_config(tiny_dataset, tmp_path):
  config = _d3d_config(tiny_dataset, str(tmp_path / "old_export"))
  model = build_from_config(config.teacher.model, NUM_CLASSES, "float32")
  variables = nn.unbox(jax.jit(lambda r: model.init(r, jnp.zeros((1, 8, 16, 16, 2))))(
      jax.random.PRNGKey(0)))
  save_model_variables(config.teacher.checkpoint, variables["params"],
                       variables["batch_stats"])
  loaded, loaded_variables = teacher_lib.load_teacher(config, NUM_CLASSES)
  assert loaded.final_endpoint == config.teacher.model.options.final_endpoint
  assert jax.tree_util.tree_structure(loaded_variables["params"]) == (
      jax.tree_util.tree_structure(variables["params"]))


def test_an_attention_teacher_loads_whole_with_its_head(tiny_dataset, tmp_path):
  # The flow Prob-Atten teacher of Prob-Distill: its export's build_model call carries
  # the head, so the rebuilt teacher has the map conv and outputs the map endpoints.
  flow = tiny_config(tiny_dataset, "flow", **{
      "model.options.head": "prob_atten", "model.options.attention_source": "Mixed_3b"})
  model = build_from_config(flow.model, NUM_CLASSES, "float32")
  clip = jnp.zeros((1, 8, 16, 16, 2))
  variables = nn.unbox(model.init(jax.random.PRNGKey(3), clip))
  export = str(tmp_path / "export")
  from d3d_jax.models import build_call  # pylint: disable=g-import-not-at-top
  save_model_variables(export, variables["params"], variables["batch_stats"],
                       metadata=build_call(flow.model, NUM_CLASSES))
  config = _d3d_config(tiny_dataset, export)
  config.teacher.model = flow.model
  teacher, loaded = teacher_lib.load_teacher(config, NUM_CLASSES)
  assert teacher.head == "prob_atten"
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a, b),
                         loaded["params"], jax.device_get(variables["params"]))
  _, endpoints = teacher.apply(loaded, clip, train=False)
  assert endpoints["Attention/map"].shape[:2] == (1, 4)
  # A config that forgets the head is told so, by key.
  config.teacher.model.options.head = "logits"
  with pytest.raises(ValueError, match="teacher.model.options.head"):
    teacher_lib.load_teacher(config, NUM_CLASSES)
