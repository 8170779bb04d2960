"""Objectives by name: `objective_config(name)` is a config's ``objective`` section with
the method's defaults, `build_objective(config.objective)` the objective it describes."""

import ml_collections

from d3d_jax.objectives.attention_distillation import (AttentionDistillation,
                                                       AttentionPrior, slice_kl,
                                                       slice_kl_to_uniform)
from d3d_jax.objectives.base import (LossTerm, ModelOutputs, Objective, Phase, phase_at,
                                     total_loss)
from d3d_jax.objectives.classification import CrossEntropy, cross_entropy
from d3d_jax.objectives.d3d import (D3DLogits, FeatureDistillation,
                                    feature_distillation_loss, logit_distillation_loss)
from d3d_jax.objectives.flow_prediction import FlowLoss, FlowProbe
from d3d_jax.objectives.cnn_flow import CNNFlow
from d3d_jax.objectives.w3 import MatureFeatureRegularization
from d3d_jax.objectives.attention_transfer import AttentionTransfer, attention_transfer_loss
from d3d_jax.objectives.decoupled_kd import DecoupledKD, decoupled_kl
from d3d_jax.objectives.fitnets import FitNets
from d3d_jax.objectives.hinton_kd import HintonKD, soft_label_kl
from d3d_jax.objectives.generative_kd import GenerativeDistillation, GenerativeRepresentation

OBJECTIVES = {
    "ce": CrossEntropy,
    "d3d_logits": D3DLogits,
    "feature": FeatureDistillation,
    "attention_prior": AttentionPrior,
    "attention_distill": AttentionDistillation,
    "flow_probe": FlowProbe,
    "flow_loss": FlowLoss,
    "cnn_flow": CNNFlow,
    "w3_mfr": MatureFeatureRegularization,
    "gkd_representation": GenerativeRepresentation,
    "gkd": GenerativeDistillation,
    "hinton_kd": HintonKD,
    "fitnets": FitNets,
    "attention_transfer": AttentionTransfer,
    "dkd": DecoupledKD,
}


def _objective_class(name: str):
  if name not in OBJECTIVES:
    raise ValueError(f"objective.name must be one of {sorted(OBJECTIVES)}, got {name!r}")
  return OBJECTIVES[name]


def objective_config(name: str) -> ml_collections.ConfigDict:
  """The ``config.objective`` section of objective `name`, with its paper defaults."""
  config = _objective_class(name).default_config()
  config.name = name
  return config


def build_objective(config) -> Objective:
  """The objective of a ``config.objective`` section, whose keys must be exactly those
  of `objective_config(config.name)`: a key of another objective is an error."""
  cls = _objective_class(config.name)
  expected = set(objective_config(config.name).keys())
  given = set(config.keys())
  if given != expected:
    problems = []
    if given - expected:
      problems.append(f"keys {sorted(given - expected)} are not options of {config.name!r}")
    if expected - given:
      problems.append(f"keys {sorted(expected - given)} are missing")
    raise ValueError(
        f"config.objective: {'; '.join(problems)}. Build the section with "
        f"d3d_jax.objectives.objective_config({config.name!r}); its options are "
        f"{sorted(expected - {'name'})}")
  return cls(config)


__all__ = ["OBJECTIVES", "build_objective", "objective_config", "LossTerm", "ModelOutputs",
           "Objective", "Phase", "phase_at", "total_loss", "cross_entropy",
           "logit_distillation_loss", "feature_distillation_loss", "slice_kl",
           "slice_kl_to_uniform", "attention_transfer_loss", "decoupled_kl", "soft_label_kl"]
