"""The train state: everything a resumed run needs, and nothing of the teacher."""

from typing import Any

import flax
import jax


@flax.struct.dataclass
class TrainState:
  """step, trainable params, BatchNorm statistics, optimiser state and the RNG key.

  ``params`` and ``batch_stats`` hold ``{'student': <network variables>}`` plus, for
  objectives with extra trainable modules, ``{'extra': {name: ...}}``. ``opt_state``
  maps each phase's name to its optimiser's state. The frozen teacher is passed to
  the train step separately and never stored here.
  """

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array
  # The index of the objective phase the next step runs in (`objectives.Phase`).
  phase: jax.Array

  def to_checkpoint(self) -> dict[str, Any]:
    """A plain nested dict (optax namedtuples become dicts) for orbax."""
    return flax.serialization.to_state_dict(self)

  def from_checkpoint(self, restored: dict[str, Any]) -> "TrainState":
    return flax.serialization.from_state_dict(self, restored)
