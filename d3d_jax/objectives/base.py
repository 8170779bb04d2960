"""The objective interface: what a training method contributes to the train step.

An objective receives the student's outputs (logits and named endpoints), the frozen
teacher's outputs (or None), the batch and its config section, and returns named loss
terms; the trainer minimises their weighted sum and logs each term. Methods that need
more than a loss plug in through the other hooks:

* `default_config`: the objective's own config section (``config.objective``) with the
  paper's defaults; a config holds exactly the keys of its objective's section, so a
  ``ce`` run carries no distillation knobs and a misspelt key is an error.
* `extra_modules`: training-only modules with their own parameters (a CVAE, flow
  decoders, connectors). The trainer initialises them, keeps their parameters in
  ``params['extra'][name]`` beside ``params['student']`` and passes a function that
  applies them to `loss_terms`, so their outputs can enter losses. Modules used at
  test time (attention heads, in-block modules) belong to the model instead.
* `phases`: what trains when. Each `Phase` names the optimizer parameter groups it
  freezes (``config.optimizer.groups``) and the loss terms it minimises, for a number of
  steps; phases repeat in order (generative KD alternates two). The trainer compiles
  one step per phase and checkpoints the phase it is in.
* `exported_extra_modules` / `teacher_extra_modules`: extra modules the trainer writes
  into the export beside the network, and those it loads from the teacher's export
  (``teacher_variables['extra']``; `loss_terms` applies them with
  ``extra(name, ..., teacher=True)``): GKD's stage 0 exports its CVAE, which the
  student stages read as the teacher's CVAE.
* `needs_step`: `loss_terms` also receives ``step=`` (the traced train step), for
  loss weights that change over training (GKD's recon warm-up).
* `needs_teacher`: the trainer loads `config.teacher` (any workdir of this codebase,
  so a second stage can take a first-stage checkpoint as its teacher: W3).
"""

from typing import Any, Callable, Mapping, Optional

import dataclasses

import flax
import flax.linen as nn
import jax
import ml_collections


@flax.struct.dataclass
class ModelOutputs:
  """A network's pre-softmax (time-averaged) logits and its named endpoints (a pytree)."""

  logits: jax.Array
  endpoints: Mapping[str, jax.Array]


@flax.struct.dataclass
class LossTerm:
  """One named term of the objective: minimised as ``weight * value``."""

  value: jax.Array
  weight: float = flax.struct.field(pytree_node=False, default=1.0)


@dataclasses.dataclass(frozen=True)
class Phase:
  """A stretch of training: `steps` steps (0: all of them; only for a lone phase) in
  which the optimizer groups `frozen` do not train and only the loss terms `terms`
  (None: all) are minimised. Frozen groups get no update, no weight decay, and their
  BatchNorm layers run in inference mode, unless `frozen_norms_update`: then they
  still normalise with batch statistics and update their averages (GKD's code keeps
  the frozen student in train mode during its CVAE stage)."""

  name: str
  steps: int = 0
  frozen: tuple[str, ...] = ()
  terms: Optional[tuple[str, ...]] = None
  frozen_norms_update: bool = False


def phase_at(phases: tuple[Phase, ...], step):
  """The index of the phase that step `step` (0-based) is in; phases repeat in order.

  An int for an int step; for a traced step (inside the jitted train step) an int32
  array, from the same comparisons.
  """
  if len(phases) == 1:
    return 0
  ends = [sum(p.steps for p in phases[:i + 1]) for i in range(len(phases))]
  position = step % ends[-1]
  return sum(position >= end for end in ends[:-1])


class Objective:
  """Base class: cross-entropy-free, teacher-free, no extra modules, one phase."""

  needs_teacher: bool = False
  needs_step: bool = False
  exported_extra_modules: tuple[str, ...] = ()
  teacher_extra_modules: tuple[str, ...] = ()

  def __init__(self, config):
    self.config = config

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    """The objective's config section with the paper's defaults (``name`` set by the
    registry)."""
    return ml_collections.ConfigDict()

  def extra_modules(self) -> dict[str, nn.Module]:
    return {}

  def phases(self) -> tuple[Phase, ...]:
    return (Phase("train"),)

  def loss_terms(self, student: ModelOutputs, teacher: Optional[ModelOutputs],
                 batch: Mapping[str, jax.Array], extra: Callable[..., Any] | None = None,
                 ) -> dict[str, LossTerm]:
    raise NotImplementedError


def total_loss(terms: Mapping[str, LossTerm]) -> jax.Array:
  return sum(term.weight * term.value for term in terms.values())
