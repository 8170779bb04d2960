"""W3's two stages (Sec. 3.4): stage 2 (``w3_mfr``) loads the stage-1 workdir whole as its
teacher (W3 modules and refinement included) and keeps it frozen while it trains."""

import jax
import numpy as np
from flax import traverse_util

from d3d_jax import sharding as sharding_lib
from d3d_jax import trainer
from d3d_jax.export import load_model_variables
from tests.trainer.conftest import tiny_config


def _w3(config):
  config.model.options.block_module = "w3"
  config.model.options.attention_refinement = True
  config.input.modalities = ("rgb",)
  config.teacher.model = config.model
  return config


def _flat(tree):
  return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}


def test_stage_two_loads_stage_one_whole_and_keeps_it_frozen(tiny_dataset, tmp_path):
  stage1_dir = str(tmp_path / "stage1")
  stage1 = _w3(tiny_config(tiny_dataset, "rgb", "ce", total_steps=2, mode="train"))
  trainer.train(stage1, stage1_dir)
  exported, _ = load_model_variables(stage1_dir + "/export")

  stage2 = _w3(tiny_config(tiny_dataset, "rgb", "w3_mfr", total_steps=2, mode="train",
                           seed=1, **{"teacher.checkpoint": stage1_dir}))
  exp = trainer.build_experiment(stage2, str(tmp_path / "stage2"))
  assert exp.teacher.block_module == "w3" and exp.teacher.attention_refinement
  teacher_params = _flat(exp.teacher_variables["params"])
  assert any("/W3/" in k for k in teacher_params)
  assert any(k.startswith("AttentionRefinement/") for k in teacher_params)
  for key, value in _flat(exported).items():
    np.testing.assert_array_equal(teacher_params[key], value)

  state, shardings = trainer.create_state(exp, None)
  train_step = trainer.make_train_step(exp, shardings)
  batch = sharding_lib.global_batch(next(trainer._train_batches(stage2, 0)), exp.mesh)  # pylint: disable=protected-access
  with jax.set_mesh(exp.mesh), sharding_lib.logical_rules():
    for _ in range(2):
      state, metrics = train_step(state, exp.teacher_variables, batch)
  assert float(metrics["loss/feature/AttentionRefinement"]) > 0
  # The student trained; the teacher's variables are the stage-1 export, untouched.
  for key, value in _flat(exp.teacher_variables["params"]).items():
    np.testing.assert_array_equal(value, teacher_params[key])
  student = _flat(jax.device_get(state.params["student"]))
  assert set(student) == set(teacher_params)
  assert any(not np.array_equal(student[k], teacher_params[k]) for k in student)
