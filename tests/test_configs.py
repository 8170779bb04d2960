"""Every experiment config builds: its networks (by shape), objective and optimiser."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import pytest

from d3d_jax import optimizers
from d3d_jax.objectives import ModelOutputs, build_objective
from d3d_jax.models import INPUT_CHANNELS, build_from_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(
    os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "configs", "*.py"))
    if "def get_config" in open(p).read())
# (config, variant): every variant of a `file.py:variant` config (its VARIANTS), else None.
RUNS = [(name, variant) for name in EXPERIMENTS for variant in
        sorted(getattr(importlib.import_module(f"configs.{name}"), "VARIANTS", None) or [None])]


def test_the_expected_experiments_exist():
  assert {"synthetic_flow_teacher", "synthetic_rgb_baseline", "synthetic_d3d",
          "kinetics400_s3dg_flow", "kinetics400_s3dg_rgb", "kinetics400_d3d"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name,variant", RUNS)
def test_config_builds_its_networks_objective_and_optimiser(name, variant):
  module = importlib.import_module(f"configs.{name}")
  assert "python -m d3d_jax.main" in module.__doc__ and f"configs/{name}.py" in module.__doc__
  config = module.get_config() if variant is None else module.get_config(variant)
  num_classes = config.input.num_classes or 8
  objective = build_objective(config.objective)
  networks = [config.model] + ([config.teacher.model] if objective.needs_teacher else [])
  for network in networks:
    assert network.modality in config.input.modalities
    model = build_from_config(network, num_classes, config.compute_dtype)
    clip = jnp.zeros((1, config.input.num_frames, config.input.crop_size,
                      config.input.crop_size, INPUT_CHANNELS[network.modality]))
    logits, endpoints = jax.eval_shape(
        lambda: model.apply(model.init(jax.random.PRNGKey(0), clip), clip))
    assert logits.shape == (1, num_classes)
  for module in objective.extra_modules().values():  # training-only modules, e.g. decoders
    jax.eval_shape(lambda outputs, m=module: m.init(jax.random.PRNGKey(0), outputs),
                   ModelOutputs(logits, endpoints))
  schedule = optimizers.learning_rate_schedule(config.schedule, config.total_steps)
  labels = lambda params: optimizers.parameter_labels(params, config.optimizer.groups)
  for phase in objective.phases():
    optimizers.build_phase_optimizer(
        config, labels, optimizers.frozen_groups(config.optimizer.groups, phase.frozen))
  assert float(schedule(config.total_steps // 2)) > 0


def test_d3d_kinetics_config_follows_the_paper():
  config = importlib.import_module("configs.kinetics400_d3d").get_config()
  assert config.objective.name == "d3d_logits" and config.objective.distill_weight == 1.0
  assert (config.input.num_frames, config.input.crop_size) == (64, 224)
  assert config.total_steps == 140_000
  assert config.model.name == config.teacher.model.name == "s3dg"
  assert (config.model.modality, config.teacher.model.modality) == ("rgb", "flow")


def test_a_variant_config_names_its_variants_on_a_typo():
  module = importlib.import_module("configs.liu2020_ucf101")
  with pytest.raises(ValueError, match="the variants are"):
    module.get_config("prob_aten_rgb")
