"""Objectives: `build_objective(config.objective)` by name."""

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective, total_loss
from d3d_jax.objectives.classification import CrossEntropy, cross_entropy
from d3d_jax.objectives.d3d import (D3DLogits, FeatureDistillation,
                                    feature_distillation_loss, logit_distillation_loss)

OBJECTIVES = {
    "ce": CrossEntropy,
    "d3d_logits": D3DLogits,
    "feature": FeatureDistillation,
}


def build_objective(config) -> Objective:
  if config.name not in OBJECTIVES:
    raise ValueError(f"objective.name must be one of {sorted(OBJECTIVES)}, got {config.name!r}")
  return OBJECTIVES[config.name](config)


__all__ = ["OBJECTIVES", "build_objective", "LossTerm", "ModelOutputs", "Objective",
           "total_loss", "cross_entropy", "logit_distillation_loss",
           "feature_distillation_loss"]
