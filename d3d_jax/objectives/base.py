"""The objective interface: what a training method contributes to the train step.

An objective receives the student's outputs (logits and named endpoints), the frozen
teacher's outputs (or None), the batch and its config section, and returns named loss
terms; the trainer minimises their weighted sum and logs each term. Methods that need
more than a loss plug in through the other hooks:

* `extra_modules`: student-side modules with their own parameters (attention heads,
  W3 blocks, a CVAE, flow decoders). The trainer initialises them, keeps their
  parameters in ``params['extra'][name]`` beside ``params['student']`` and passes the
  bound modules to `loss_terms` (``extra.apply``), so their outputs can enter losses.
* Alternating optimisers (generative KD's CVAE stage vs its attention stage) are the
  next hook to add: per-group optax transforms chosen on the host by step.
* `needs_teacher`: the trainer loads `config.teacher` (any workdir of this codebase,
  so a second stage can take a first-stage checkpoint as its teacher: W3).
"""

from typing import Any, Callable, Mapping, Optional

import flax
import flax.linen as nn
import jax


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


class Objective:
  """Base class: cross-entropy-free, teacher-free, no extra modules."""

  needs_teacher: bool = False

  def __init__(self, config):
    self.config = config

  def extra_modules(self) -> dict[str, nn.Module]:
    return {}

  def loss_terms(self, student: ModelOutputs, teacher: Optional[ModelOutputs],
                 batch: Mapping[str, jax.Array], extra: Callable[..., Any] | None = None,
                 ) -> dict[str, LossTerm]:
    raise NotImplementedError


def total_loss(terms: Mapping[str, LossTerm]) -> jax.Array:
  return sum(term.weight * term.value for term in terms.values())
