"""The frozen teacher of distillation: built from `config.teacher`, loaded from a workdir.

`config.teacher.checkpoint` is another workdir of this codebase (its ``export/`` is
read) or an export directory itself, so a first-stage run (the flow teacher, or W3's
mature network) becomes the teacher of a second stage by naming its workdir.
"""

import os

from d3d_jax.checkpoint_import.d3d_jax_format import load_model_variables
from d3d_jax.checkpointing import EXPORT_DIR
from d3d_jax.models import build_model

INPUT_CHANNELS = {"rgb": 3, "flow": 2}


def build_network(model_config, num_classes: int, compute_dtype: str):
  """`build_model` for a `configs.base.model_config()` section."""
  if model_config.modality not in INPUT_CHANNELS:
    raise ValueError(f"model.modality must be 'rgb' or 'flow', got {model_config.modality!r}")
  options = dict(model_config.options)
  options.setdefault("dtype", compute_dtype)
  return build_model(model_config.name, num_classes,
                     input_channels=INPUT_CHANNELS[model_config.modality], **options)


def teacher_export_dir(checkpoint: str) -> str:
  """The export directory behind `teacher.checkpoint` (a workdir or an export)."""
  if not checkpoint:
    raise ValueError("teacher.checkpoint is empty, but the objective distills from a "
                     "teacher: set it to the workdir of a trained teacher run")
  path = os.path.abspath(checkpoint)
  if not os.path.exists(path):
    raise FileNotFoundError(f"teacher.checkpoint: {path} does not exist")
  export = os.path.join(path, EXPORT_DIR)
  if os.path.isdir(export):
    return export
  if os.path.exists(os.path.join(path, "_CHECKPOINT_METADATA")):
    return path
  raise FileNotFoundError(
      f"teacher.checkpoint: {path} holds no {EXPORT_DIR}/ (the trainer writes it when a "
      f"run finishes) and is not an export directory itself")


def load_teacher(config, num_classes: int):
  """(teacher module, frozen variables) for `config.teacher`."""
  model = build_network(config.teacher.model, num_classes, config.compute_dtype)
  params, batch_stats = load_model_variables(teacher_export_dir(config.teacher.checkpoint))
  return model, {"params": params, "batch_stats": batch_stats}
