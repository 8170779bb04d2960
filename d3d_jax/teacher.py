"""The frozen teacher of distillation, loaded whole from another run's export.

`config.teacher.checkpoint` is another workdir of this codebase (its ``export/`` is
read) or an export directory itself, so a first-stage run (the flow teacher, or W3's
mature network) becomes the teacher of a second stage by naming its workdir. The
network is rebuilt from the `build_model` call stored in the export, so its options
(padding, widths, heads) are exactly those it was trained with; `config.teacher.model`
must agree with that call, and every difference is reported by config key.
"""

from absl import logging

from data_pipelines import paths

from d3d_jax.checkpointing import EXPORT_DIR, fresh_export_dir
from d3d_jax.export import (check_build_call, load_extra_modules, load_model_variables,
                             stored_build_call)
from d3d_jax.models import COMPUTE_OPTIONS, build_call, build_from_call


def teacher_export_dir(checkpoint: str) -> str:
  """The export directory behind `teacher.checkpoint` (a workdir or an export)."""
  if not checkpoint:
    raise ValueError("teacher.checkpoint is empty, but the objective distills from a "
                     "teacher: set it to the workdir of a trained teacher run")
  path = paths.resolve(checkpoint)
  if not path.exists():
    raise FileNotFoundError(f"teacher.checkpoint: {path} does not exist")
  if (path / EXPORT_DIR).is_dir():
    return fresh_export_dir(str(path))
  if (path / "_CHECKPOINT_METADATA").exists():
    return str(path)
  raise FileNotFoundError(
      f"teacher.checkpoint: {path} holds no {EXPORT_DIR}/ (the trainer writes it when a "
      f"run finishes) and is not an export directory itself")


def load_teacher(config, num_classes: int, extra_modules: tuple[str, ...] = ()):
  """(teacher module, frozen variables) for `config.teacher`; the variables hold
  ``'extra': {name: params}`` of the export's training-only modules `extra_modules`
  (`Objective.teacher_extra_modules`: GKD's teacher CVAE)."""
  export_dir = teacher_export_dir(config.teacher.checkpoint)
  expected = build_call(config.teacher.model, num_classes)
  stored = stored_build_call(export_dir)
  if stored is None:
    logging.warning("%s stores no build_model call (an export of an older version): "
                    "building the teacher from config.teacher.model", export_dir)
    stored = expected
  check_build_call(stored, expected, "teacher.model", export_dir)
  # Compute-only options (dtype, lowering) come from this run's config.
  compute = {k: v for k, v in expected["model_options"].items() if k in COMPUTE_OPTIONS}
  stored = dict(stored, model_options={**stored["model_options"], **compute})
  model = build_from_call(stored, config.compute_dtype)
  params, batch_stats = load_model_variables(export_dir)
  variables = {"params": params, "batch_stats": batch_stats}
  if extra_modules:
    variables["extra"] = load_extra_modules(export_dir, extra_modules)
  return model, variables
