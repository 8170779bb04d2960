"""Parameter groups and objective phases: what trains when.

A frozen group is bit-identical after training steps and its BatchNorm statistics do
not move; an lr multiplier scales exactly that group's update; a two-phase objective
alternates which groups train and resumes mid-phase to the same result as an
uninterrupted run.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax import objectives, optimizers, trainer
from d3d_jax.objectives import LossTerm, Objective, Phase, cross_entropy, phase_at
from d3d_jax.objectives.classification import classification_config
from data_pipelines import input_pipeline
from tests.trainer.conftest import NUM_CLASSES, tiny_config


class _Probe(nn.Module):
  """A training-only probe on a hidden endpoint (like D3D's flow decoders)."""

  @nn.compact
  def __call__(self, outputs):
    return nn.Dense(NUM_CLASSES, name="dense")(
        jnp.mean(outputs.endpoints["Mixed_3b"], axis=(1, 2, 3)))


class _TwoPhase(Objective):
  """Phase 'probe' trains only the probe on its loss; phase 'network' only the network
  on the cross-entropy; two steps each, alternating (generative KD's shape)."""

  @classmethod
  def default_config(cls):
    return classification_config()

  def extra_modules(self):
    return {"probe": _Probe()}

  def phases(self):
    return (Phase("probe", steps=2, frozen=("network",), terms=("probe",)),
            Phase("network", steps=2, frozen=("probe",), terms=("ce",)))

  def loss_terms(self, student, teacher, batch, extra=None):
    return {"ce": LossTerm(cross_entropy(student.logits, batch["label"])),
            "probe": LossTerm(cross_entropy(extra("probe", student), batch["label"]))}


@pytest.fixture
def two_phase(monkeypatch):
  monkeypatch.setitem(objectives.OBJECTIVES, "two_phase", _TwoPhase)


def _two_phase_config(data_dir, **overrides):
  config = tiny_config(data_dir, "rgb", "ce", **overrides)
  config.objective = objectives.objective_config("two_phase")
  config.optimizer.groups.network = optimizers.group_config("^student/")
  config.optimizer.groups.probe = optimizers.group_config("^extra/probe/")
  return config


def _host(tree):
  return jax.tree_util.tree_map(np.array, jax.device_get(tree))


def _steps(config, num_steps):
  """(states after each step) from a fresh state, one batch per step."""
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  batches = input_pipeline.make_train_dataset(config.input).as_numpy_iterator()
  steps = {}
  states = [_host(state)]
  for step in range(num_steps):
    phase = phase_at(exp.phases, step)
    steps.setdefault(phase, trainer.make_train_step(exp, shardings, phase))
    state, _ = steps[phase](state, None,
                            trainer.sharding_lib.global_batch(next(batches), exp.mesh))
    states.append(_host(state))
  return states


def _assert_equal_trees(a, b):
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def _changed(a, b):
  return any(not np.array_equal(x, y) for x, y in
             zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_phase_at_cycles_through_the_phases_in_order():
  phases = (Phase("a", 2), Phase("b", 3))
  assert [phase_at(phases, s) for s in range(11)] == [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0]
  assert phase_at((Phase("only"),), 12345) == 0


def test_a_frozen_group_is_bit_identical_and_its_batch_norm_stays_in_inference_mode(
    tiny_dataset):
  config = tiny_config(tiny_dataset)
  config.optimizer.weight_decay = 1e-3  # would move frozen kernels if it reached them
  config.optimizer.groups.stem = optimizers.group_config(
      "^student/(Conv3d_1a_7x7|Conv3d_2b_1x1)/", frozen=True)
  states = _steps(config, 3)
  before, after = states[0], states[-1]
  for layer in ("Conv3d_1a_7x7", "Conv3d_2b_1x1"):
    _assert_equal_trees(before.params["student"][layer], after.params["student"][layer])
    _assert_equal_trees(before.batch_stats["student"][layer],
                        after.batch_stats["student"][layer])
  # The rest trains, statistics included.
  assert _changed(before.params["student"]["Mixed_3b"], after.params["student"]["Mixed_3b"])
  assert _changed(before.batch_stats["student"]["Conv3d_2c_3x3"],
                  after.batch_stats["student"]["Conv3d_2c_3x3"])


def test_frozen_norms_are_the_batch_norms_whose_parameters_are_all_frozen():
  labels = {"student": {
      "A": {"conv": {"kernel": "stem"}, "bn": {"bias": "stem"}},
      "B": {"conv": {"kernel": "default"}, "bn": {"bias": "default"}},
      "C": {"conv": {"kernel": "stem"}, "bn": {"bias": "stem", "scale": "default"}}}}
  assert optimizers.frozen_norms(labels, {"stem"}) == ("A/bn",)


def test_lr_multiplier_scales_exactly_that_groups_update(tiny_dataset):
  def first_update(multiplier):
    config = tiny_config(tiny_dataset, **{"optimizer.name": "sgd",
                                          "optimizer.momentum": 0.0,
                                          "optimizer.weight_decay": 0.0})
    if multiplier:
      config.optimizer.groups.head = optimizers.group_config(
          "^student/Logits/", lr_multiplier=multiplier)
    states = _steps(config, 1)
    return jax.tree_util.tree_map(lambda a, b: b - a, states[0].params["student"],
                                  states[1].params["student"])
  plain, scaled = first_update(None), first_update(10.0)
  np.testing.assert_allclose(scaled["Logits"]["Conv3d_0c_1x1"]["kernel"],
                             10.0 * plain["Logits"]["Conv3d_0c_1x1"]["kernel"],
                             rtol=1e-4, atol=1e-6)  # float32 rounding of param - param
  _assert_equal_trees(scaled["Mixed_3b"], plain["Mixed_3b"])


def test_a_group_pattern_that_matches_nothing_is_an_error(tiny_dataset):
  config = tiny_config(tiny_dataset)
  config.optimizer.groups.heads = optimizers.group_config("^student/Atention/")
  exp = trainer.build_experiment(config, workdir="")
  with pytest.raises(ValueError, match=r"groups \['heads'\].*matches no parameter"):
    trainer.create_state(exp, checkpointer=None)


def test_a_two_phase_objective_alternates_which_groups_train(tiny_dataset, two_phase):
  states = _steps(_two_phase_config(tiny_dataset), 6)
  assert [int(s.phase) for s in states] == [0, 0, 1, 1, 0, 0, 1]
  for step in range(6):
    before, after = states[step], states[step + 1]
    student_moved = _changed(before.params["student"], after.params["student"])
    probe_moved = _changed(before.params["extra"], after.params["extra"])
    if phase_at((Phase("probe", 2), Phase("network", 2)), step) == 0:
      assert probe_moved and not student_moved, step
      # The frozen network runs its BatchNorm in inference mode: statistics unchanged.
      _assert_equal_trees(before.batch_stats, after.batch_stats)
    else:
      assert student_moved and not probe_moved, step
  assert set(states[-1].opt_state) == {"probe", "network"}


def test_a_two_phase_run_resumes_mid_phase_exactly(tiny_dataset, two_phase, tmp_path):
  full = trainer.train(_two_phase_config(tiny_dataset, total_steps=7),
                       str(tmp_path / "full"))
  interrupted = str(tmp_path / "resumed")
  trainer.train(_two_phase_config(tiny_dataset, total_steps=3), interrupted)
  resumed = trainer.train(_two_phase_config(tiny_dataset, total_steps=7), interrupted)
  assert int(resumed.phase) == int(full.phase) == phase_at(
      (Phase("probe", 2), Phase("network", 2)), 7)
  _assert_equal_trees(_host(full.params), _host(resumed.params))
  _assert_equal_trees(_host(full.opt_state), _host(resumed.opt_state))


def test_a_checkpoint_written_under_other_phases_is_refused(tiny_dataset, two_phase,
                                                            tmp_path, monkeypatch):
  workdir = str(tmp_path / "run")
  trainer.train(_two_phase_config(tiny_dataset, total_steps=3), workdir)
  monkeypatch.setattr(_TwoPhase, "phases", lambda self: (
      Phase("probe", steps=4, frozen=("network",), terms=("probe",)),
      Phase("network", steps=4, frozen=("probe",), terms=("ce",))))
  with pytest.raises(ValueError, match="the phases changed"):
    trainer.train(_two_phase_config(tiny_dataset, total_steps=7), workdir)
