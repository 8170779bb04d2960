"""Orbax checkpoints of the train state in ``WORKDIR/checkpoints`` and the model export.

* Periodic saves (async by default), keep the newest `checkpoint.keep`; orbax writes
  each step to a temporary directory and renames it when complete, so a crash leaves
  either the previous or the new checkpoint, never half of one.
* Same workdir = resume: `restore_latest` returns the newest complete step, restored
  directly into the target shardings.
* SIGTERM / SIGINT (preemption) set a flag; the train loop saves synchronously and
  exits cleanly at the next step boundary.
* `export_model` writes ``WORKDIR/export``: the student network's params and BN
  statistics alone (no optimiser state, no teacher, and no extra training modules
  unless the objective exports them), in the `d3d_jax` format that `model.init_from`
  and `teacher.checkpoint` read.
"""

import signal
import threading
from typing import Any, Optional

from absl import logging
import jax
import orbax.checkpoint as ocp

from data_pipelines import paths
from d3d_jax.export import save_model_variables
from d3d_jax.train_state import TrainState

EXPORT_DIR = "export"
CHECKPOINT_DIR = "checkpoints"


class Checkpointer:
  """Saves and restores `TrainState`s under ``workdir/checkpoints``."""

  def __init__(self, workdir: str, config):
    self.directory = paths.resolve(workdir) / CHECKPOINT_DIR
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=config.keep, create=True,
            enable_async_checkpointing=config.async_save))

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def save(self, state: TrainState, force: bool = False) -> None:
    step = int(jax.device_get(state.step))
    if self.manager.latest_step() == step:
      return
    self.manager.save(step, args=ocp.args.StandardSave(state.to_checkpoint()), force=force)

  def restore_latest(self, target: TrainState, shardings: TrainState) -> Optional[TrainState]:
    """The newest checkpoint restored into `target`'s structure with `shardings`."""
    step = self.manager.latest_step()
    if step is None:
      return None
    abstract = jax.tree_util.tree_map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), target, shardings)
    restored = self.manager.restore(
        step, args=ocp.args.StandardRestore(abstract.to_checkpoint()))
    logging.info("Resumed from %s step %d", self.directory, step)
    return target.from_checkpoint(restored)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def export_model(workdir: str, state: TrainState, metadata: dict[str, Any],
                 extra_modules: tuple[str, ...] = ()) -> str:
  """Writes the student network's variables to ``workdir/export`` (replacing it), with
  the training-only modules `extra_modules` (`Objective.exported_extra_modules`)."""
  params = jax.device_get(state.params["student"])
  batch_stats = jax.device_get(state.batch_stats["student"])
  extras = {name: jax.device_get(state.params["extra"][name]) for name in extra_modules}
  path = str(paths.resolve(workdir) / EXPORT_DIR)
  save_model_variables(path, params, batch_stats, metadata=metadata, overwrite=True,
                       extra_modules=extras)
  logging.info("Exported the model's variables to %s", path)
  return path


class PreemptionFlag:
  """Set by SIGTERM / SIGINT; the train loop checkpoints and stops when it is set."""

  def __init__(self):
    self._event = threading.Event()
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    logging.warning("Received signal %d: checkpointing and stopping.", signum)
    self._event.set()

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  @property
  def is_set(self) -> bool:
    return self._event.is_set()
