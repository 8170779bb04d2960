"""The jitted train step: it learns, it leaves the teacher alone, its export is the student."""

import jax
import numpy as np

from d3d_jax import checkpointing, trainer
from d3d_jax.export import load_model_variables
from data_pipelines import input_pipeline
from tests.trainer.conftest import tiny_config


def _first_batch(config):
  return next(input_pipeline.make_train_dataset(config.input).as_numpy_iterator())


def test_a_few_steps_on_one_batch_lower_the_loss(tiny_dataset):
  config = tiny_config(tiny_dataset, "rgb", "ce", **{"schedule.base_lr": 3e-3})
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  step = trainer.make_train_step(exp, shardings)
  batch = trainer.sharding_lib.global_batch(_first_batch(config), exp.mesh)
  losses = []
  for _ in range(8):
    state, metrics = step(state, None, batch)
    losses.append(float(metrics["loss"]))
  assert losses[-1] < 0.7 * losses[0], losses
  assert int(state.step) == 8


def test_teacher_is_frozen_and_never_part_of_the_student_state(tiny_dataset,
                                                                flow_teacher_export):
  config = tiny_config(tiny_dataset, "rgb", "d3d_logits",
                       **{"teacher.checkpoint": flow_teacher_export})
  exp = trainer.build_experiment(config, workdir="")
  teacher_before = jax.tree_util.tree_map(np.array, exp.teacher_variables)
  state, shardings = trainer.create_state(exp, checkpointer=None)
  step = trainer.make_train_step(exp, shardings)
  batch = trainer.sharding_lib.global_batch(_first_batch(config), exp.mesh)
  teacher = jax.device_put(exp.teacher_variables)
  for _ in range(3):
    state, metrics = step(state, teacher, batch)
  assert float(metrics["loss/distill"]) > 0
  jax.tree_util.tree_map(np.testing.assert_array_equal, teacher_before,
                         jax.device_get(teacher))
  assert set(state.params) == {"student"} and set(state.batch_stats) == {"student"}


def test_export_holds_exactly_the_student_network(tiny_dataset, flow_teacher_export, tmp_path):
  config = tiny_config(tiny_dataset, "rgb", "d3d_logits", total_steps=2,
                       **{"teacher.checkpoint": flow_teacher_export})
  state = trainer.train(config, str(tmp_path))
  params, batch_stats = load_model_variables(str(tmp_path / checkpointing.EXPORT_DIR))
  student = jax.device_get(state.params["student"])
  assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(student)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, student)
  assert params["Conv3d_1a_7x7"]["conv"]["kernel"].shape[3] == 3  # RGB, not the flow teacher
  assert set(batch_stats) == set(jax.device_get(state.batch_stats["student"]))
