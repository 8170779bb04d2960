"""GKD's stages in the trainer (Wang et al. 2024): stage 0 exports the teacher with its
CVAE; stages 1 / 2 alternate, each moving only its own parameter group; a run resumes
exactly in the middle of either stage."""

import jax
import ml_collections
import numpy as np
import pytest

from d3d_jax import optimizers, trainer
from d3d_jax.checkpointing import EXPORT_DIR
from d3d_jax.export import load_extra_modules
from d3d_jax.objectives import objective_config, phase_at
from data_pipelines import input_pipeline
from tests.trainer.conftest import tiny_config


def gkd_config(data_dir, objective="gkd", teacher_dir="", **overrides):
  """The tiny config with the attention head on Mixed_3b (32 channels) and a small CVAE."""
  c = tiny_config(data_dir, "rgb", "ce")
  c.model.options.head = "feature_attention"
  c.model.options.feature_attention_groups = 8
  c.model.options.feature_attention_length = 8
  c.objective = objective_config(objective)
  c.objective.feature_endpoint = "Mixed_3b"
  c.objective.cvae_hidden = 16
  c.objective.cvae_groups = 8
  c.objective.cvae_stage_steps = 1
  c.objective.network_stage_steps = 2
  c.optimizer.groups.cvae = optimizers.group_config("^extra/cvae/")
  if objective == "gkd":
    c.teacher.checkpoint = teacher_dir
    c.teacher.model = ml_collections.ConfigDict(c.model.to_dict())
    c.teacher.model.options.dropout_rate = c.model.options.dropout_rate
  c.update_from_flattened_dict(overrides)
  return c


@pytest.fixture(scope="module")
def stage0_teacher(tiny_dataset, tmp_path_factory):
  """A finished stage-0 run ('gkd_representation'): its workdir."""
  workdir = str(tmp_path_factory.mktemp("gkd_stage0"))
  trainer.train(gkd_config(tiny_dataset, "gkd_representation", total_steps=3), workdir)
  return workdir


def _host(tree):
  return jax.tree_util.tree_map(np.array, jax.device_get(tree))


def _changed(a, b):
  return any(not np.array_equal(x, y) for x, y in
             zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_stage0_exports_its_cvae_which_the_student_stages_load_as_the_teachers(
    tiny_dataset, stage0_teacher):
  export = f"{stage0_teacher}/{EXPORT_DIR}"
  cvae = load_extra_modules(export, ("cvae",))["cvae"]
  assert set(cvae) == {"encoder", "decoder"}
  exp = trainer.build_experiment(gkd_config(tiny_dataset, teacher_dir=stage0_teacher), "")
  jax.tree_util.tree_map(np.testing.assert_array_equal, exp.teacher_variables["extra"]["cvae"],
                         cvae)
  with pytest.raises(ValueError, match=r"no training-only module \['connector'\]"):
    load_extra_modules(export, ("connector",))


def test_each_stage_moves_only_its_group_and_the_stages_alternate_with_the_period(
    tiny_dataset, stage0_teacher):
  config = gkd_config(tiny_dataset, teacher_dir=stage0_teacher)  # 1 CVAE step, 2 network
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  batches = input_pipeline.make_train_dataset(config.input).as_numpy_iterator()
  steps, states, losses = {}, [_host(state)], []
  for step in range(4):
    phase = phase_at(exp.phases, step)
    steps.setdefault(phase, trainer.make_train_step(exp, shardings, phase))
    state, metrics = steps[phase](state, exp.teacher_variables,
                                  trainer.sharding_lib.global_batch(next(batches), exp.mesh))
    states.append(_host(state))
    losses.append(set(k for k in metrics if k.startswith("loss/")))
  assert [int(s.phase) for s in states] == [0, 1, 1, 0, 1]
  for step in range(4):
    before, after = states[step], states[step + 1]
    network_moved = _changed(before.params["student"], after.params["student"])
    cvae_moved = _changed(before.params["extra"]["cvae"], after.params["extra"]["cvae"])
    if int(before.phase) == 0:  # generative: the CVAE alone, statistics untouched
      assert cvae_moved and not network_moved, step
      jax.tree_util.tree_map(np.testing.assert_array_equal, before.batch_stats,
                             after.batch_stats)
      assert losses[step] == {"loss/cvae_reconstruction", "loss/cvae_kl", "loss/kd_gen"}
    else:  # attention: the network (attention module included) alone
      assert network_moved and not cvae_moved, step
      assert _changed(before.params["student"]["FeatureAttention"],
                      after.params["student"]["FeatureAttention"])
      assert losses[step] == {"loss/ce", "loss/recon", "loss/kd_att"}


def test_a_gkd_run_resumes_exactly_in_the_middle_of_each_stage(
    tiny_dataset, stage0_teacher, tmp_path):
  # 2 CVAE steps then 2 network steps: stops after step 1 (mid generative) and step 3
  # (mid attention) resume to the same state as an uninterrupted run.
  periods = {"objective.cvae_stage_steps": 2, "objective.network_stage_steps": 2}
  config = lambda total: gkd_config(tiny_dataset, teacher_dir=stage0_teacher,
                                    total_steps=total, **periods)
  full = trainer.train(config(5), str(tmp_path / "full"))
  interrupted = str(tmp_path / "resumed")
  for total in (1, 3, 5):
    resumed = trainer.train(config(total), interrupted)
  assert int(resumed.phase) == int(full.phase) == 0
  jax.tree_util.tree_map(np.testing.assert_array_equal, _host(full.params),
                         _host(resumed.params))
  jax.tree_util.tree_map(np.testing.assert_array_equal, _host(full.opt_state),
                         _host(resumed.opt_state))
  jax.tree_util.tree_map(np.testing.assert_array_equal, _host(full.batch_stats),
                         _host(resumed.batch_stats))


@pytest.mark.parametrize("updates_batch_stats", [False, True])
def test_the_cvae_stage_moves_the_frozen_networks_batchnorm_statistics_only_on_request(
    tiny_dataset, stage0_teacher, updates_batch_stats):
  # objective.cvae_stage_updates_batch_stats: the authors' code keeps the frozen student in
  # train mode in its CVAE stage (True); the default (False) leaves it in inference mode.
  config = gkd_config(tiny_dataset, teacher_dir=stage0_teacher,
                      **{"objective.cvae_stage_updates_batch_stats": updates_batch_stats})
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  batch = next(input_pipeline.make_train_dataset(config.input).as_numpy_iterator())
  generative_step = trainer.make_train_step(exp, shardings, phase_index=0)
  before = _host(state)  # the step donates `state`
  after, _ = generative_step(state, exp.teacher_variables,
                             trainer.sharding_lib.global_batch(batch, exp.mesh))
  after = _host(after)
  assert _changed(before.batch_stats["student"], after.batch_stats["student"]) == (
      updates_batch_stats)
  jax.tree_util.tree_map(np.testing.assert_array_equal, before.params["student"],
                         after.params["student"])
  assert _changed(before.params["extra"]["cvae"], after.params["extra"]["cvae"])
