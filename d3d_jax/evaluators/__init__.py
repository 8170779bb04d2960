"""Named evaluators: ``config.evals`` maps a name to a section whose ``type`` is one of
`EVALUATORS`, with that evaluator's own fields (`evaluator_config`).

The evaluation pass (`d3d_jax.evaluation`) runs the eval split once, hands every
evaluator each batch's outputs, ``{'student': {'logits', <endpoints>}, 'teacher':
{...}}`` (host-local rows, the endpoints each evaluator asked for), and collects their
metrics. An evaluator is a class with

* ``default_config()``: its section's fields and defaults;
* ``__init__(config, context)``: `EvalContext` says what is evaluated and where results go;
* ``endpoints()`` / ``teacher_endpoints()``: the endpoints it reads;
* ``needs_teacher``: whether it needs the teacher's outputs;
* ``input_streams()`` (optional): input streams it reads besides the networks' own;
* ``update(outputs, batch)`` per batch, ``result()`` -> metrics at the end.
"""

import dataclasses
from typing import Any, Optional

import ml_collections

from d3d_jax.evaluators.attention_maps import AttentionMaps
from d3d_jax.evaluators.flow_epe import FlowEndpointError
from d3d_jax.evaluators.multiview import MultiView, VideoScores, views_suffix
from d3d_jax.evaluators.teacher_student import TeacherStudentDistance

EVALUATORS = {cls.name: cls for cls in (MultiView, TeacherStudentDistance, AttentionMaps,
                                        FlowEndpointError)}


@dataclasses.dataclass
class EvalContext:
  """What an evaluation pass evaluates and where its results go."""

  input_config: Any
  num_videos: int
  num_classes: int
  class_names: tuple
  student_endpoints: tuple
  student_modality: str
  step: int = 0
  workdir: str = ""
  writer: Optional[Any] = None
  # The objective's training-only modules, name -> (module, params), when evaluating a
  # train state (flow decoders for `flow_epe`); None for an export.
  extra_modules: Optional[Any] = None


def evaluator_config(kind: str, **fields) -> ml_collections.ConfigDict:
  """A ``config.evals`` entry of type `kind` with its defaults and `fields` set."""
  if kind not in EVALUATORS:
    raise ValueError(f"unknown evaluator type {kind!r}; known: {sorted(EVALUATORS)}")
  c = EVALUATORS[kind].default_config()
  c.type = kind
  for key, value in fields.items():
    setattr(c, key, value)
  return c


def build_evaluators(evals, context: EvalContext) -> dict:
  """name -> evaluator for every section of ``config.evals`` (keys checked exactly)."""
  evaluators = {}
  for name, section in evals.items():
    kind = section.get("type", None)
    if kind not in EVALUATORS:
      raise ValueError(f"config.evals.{name}.type is {kind!r}; known: {sorted(EVALUATORS)}")
    expected = set(evaluator_config(kind).keys())
    if set(section.keys()) != expected:
      raise ValueError(f"config.evals.{name}: keys {sorted(set(section.keys()) ^ expected)} "
                       f"do not fit type {kind!r}, whose fields are {sorted(expected)}")
    evaluators[name] = EVALUATORS[kind](section, context)
  return evaluators


__all__ = ["EVALUATORS", "EvalContext", "MultiView", "VideoScores", "build_evaluators",
           "evaluator_config", "views_suffix"]
