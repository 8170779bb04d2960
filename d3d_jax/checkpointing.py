"""Orbax checkpoints of the train state in ``WORKDIR/checkpoints`` and the model export.

* Periodic saves (async by default), keep the newest `checkpoint.keep`; orbax writes
  each step to a temporary directory and renames it when complete, so a crash leaves
  either the previous or the new checkpoint, never half of one.
* Same workdir = resume: `restore_latest` returns the newest step that restores,
  directly into the target shardings. A step that does not restore (a truncated
  file, unreadable metadata) is logged in one line naming the step and the file,
  moved aside to ``WORKDIR/checkpoints_unrestorable/STEP`` (never deleted) and the
  previous step is tried; when none restores, one error lists every step tried.
* Same workdir = same experiment: `check_run_config` stores the config's fingerprint
  in ``WORKDIR/run_config.json`` and refuses to resume checkpoints written under
  another config (every changed key listed) unless `checkpoint.allow_config_change`.
* SIGTERM / SIGINT (preemption) set a flag; the train loop saves synchronously and
  exits cleanly at the next step boundary, without evaluation or export. On a
  multi-host job a signal to any one process stops every process at the same step.
  During a final evaluation, which writes nothing until its pass ends, SIGTERM stops
  it at once (`raise_on_termination`).
* `export_model` writes ``WORKDIR/export``: the student network's params and BN
  statistics alone (no optimiser state, no teacher, and no extra training modules
  unless the objective exports them), in the `d3d_jax` format that `model.init_from`
  and `teacher.checkpoint` read, with the step it was exported at; `fresh_export_dir`
  refuses an export older than the workdir's newest checkpoint.
"""

import contextlib
import hashlib
import json
import signal
import threading
from typing import Any, Optional

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util

from data_pipelines import atomic_file, paths
from d3d_jax.export import load_metadata, save_model_variables
from d3d_jax.sharding import host_copy
from d3d_jax.train_state import TrainState

EXPORT_DIR = "export"
CHECKPOINT_DIR = "checkpoints"
UNRESTORABLE_DIR = "checkpoints_unrestorable"
RUN_CONFIG_FILE = "run_config.json"
# Config keys that may change when a run resumes: how long it runs, how often it logs,
# checkpoints and evaluates, and where its data lives, not what it trains.
RESUMABLE_CHANGES = ("mode", "total_steps", "log_every_steps", "eval_every_steps",
                     "checkpoint.", "evals.", "input.data_dir")


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
    """The newest checkpoint that restores, into `target`'s structure with `shardings`.

    Newer steps that do not restore, when an older one does, are moved aside
    (`UNRESTORABLE_DIR`); a failure of every step (a config that no longer matches,
    say) moves nothing and is one error listing every step tried. None when the
    workdir holds no checkpoint.
    """
    abstract = jax.tree_util.tree_map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), target, shardings)
    failed = []  # (step, reason): moved aside only once an older step restores.
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        _check_json_files(self.directory / str(step))
        restored = self.manager.restore(
            step, args=ocp.args.StandardRestore(abstract.to_checkpoint()))
      except Exception as e:  # pylint: disable=broad-except
        failed.append((step, _innermost_message(e)))
        continue
      for bad_step, reason in failed:
        moved = self._move_aside(bad_step)
        logging.error("Checkpoint step %d cannot be restored (%s): moved it to %s; resuming "
                      "from step %d instead.", bad_step, reason, moved, step)
      logging.info("Resumed from %s step %d", self.directory, step)
      return target.from_checkpoint(restored)
    if failed:
      raise RuntimeError(f"no checkpoint in {self.directory} can be restored (all left in "
                         f"place); tried:\n" + "\n".join(f"  step {step}: {reason}"
                                                          for step, reason in failed))
    return None

  def _move_aside(self, step: int) -> str:
    """Moves step `step` out of the manager's sight into `UNRESTORABLE_DIR`."""
    source = self.directory / str(step)
    target = self.directory.parent / UNRESTORABLE_DIR / str(step)
    if jax.process_index() == 0:
      target.parent.mkdir(parents=True, exist_ok=True)
      suffix = 1
      while target.exists():
        target, suffix = target.parent / f"{step}.{suffix}", suffix + 1
      _move_tree(source, target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"moved aside checkpoint {step}")
    self.manager.reload()
    return str(target)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def _innermost_message(error: BaseException) -> str:
  """The root cause of `error` (orbax wraps tensorstore's error, which names the array
  and file), in one line."""
  while True:
    inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if inner is None:
      break
    error = inner
  message = str(error).split(" [tensorstore_spec")[0].replace("\n", " ")
  return f"{type(error).__name__}: {message}"[:800]


def _check_json_files(step_dir) -> None:
  """Raises naming the file when one of a step's JSON metadata files is unreadable
  (orbax's own error, a JSONDecodeError, names none)."""
  directories = [step_dir] + [d for d in step_dir.iterdir() if d.is_dir()]
  for path in sorted(p for d in directories for p in d.glob("_*")):
    if path.is_file():
      try:
        json.loads(path.read_text())
      except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None


def _move_tree(source, target) -> None:
  try:
    source.rename(target)
  except Exception:  # pylint: disable=broad-except
    # Object stores have no directory rename: copy, then delete.
    for path in source.iterdir():
      if path.is_dir():
        _move_tree(path, target / path.name)
      else:
        target.mkdir(parents=True, exist_ok=True)
        path.copy(target / path.name)
    source.rmtree()


def latest_checkpoint_step(workdir: str) -> Optional[int]:
  """The newest complete checkpoint step in `workdir` (None without checkpoints)."""
  directory = paths.resolve(workdir) / CHECKPOINT_DIR
  if not directory.exists():
    return None
  manager = ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(create=False))
  try:
    return manager.latest_step()
  finally:
    manager.close()


# ---------------------------------------------------------------------------------------
# The config a workdir's checkpoints were written under.


def _experiment_settings(config) -> dict[str, Any]:
  """The config's flattened settings, less `RESUMABLE_CHANGES` (and the teacher
  section of an objective without a teacher), as JSON values."""
  from d3d_jax.objectives import build_objective  # pylint: disable=g-import-not-at-top
  ignored = RESUMABLE_CHANGES
  if not build_objective(config.objective).needs_teacher:
    ignored += ("teacher.",)
  flat = traverse_util.flatten_dict(config.to_dict(), sep=".")
  kept = {k: v for k, v in flat.items()
          if not any(k == r or (r.endswith(".") and k.startswith(r)) for r in ignored)}
  return json.loads(json.dumps(kept, sort_keys=True, default=repr))


def config_fingerprint(settings: dict[str, Any]) -> str:
  return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def check_run_config(workdir: str, config) -> None:
  """Refuses to resume checkpoints written under another config; records this one.

  ``WORKDIR/run_config.json`` holds the fingerprint and settings of the config that
  wrote the checkpoints (keys in `RESUMABLE_CHANGES` excluded). A different config is
  an error listing every changed key, unless `checkpoint.allow_config_change`, which
  logs the changes and records the new config.
  """
  path = paths.resolve(workdir) / RUN_CONFIG_FILE
  settings = _experiment_settings(config)
  record = {"fingerprint": config_fingerprint(settings), "settings": settings}
  has_checkpoints = latest_checkpoint_step(workdir) is not None
  if path.exists() and has_checkpoints:
    stored = json.loads(path.read_text())
    if stored.get("fingerprint") != record["fingerprint"]:
      old = stored.get("settings", {})
      changes = [f"  {k}: checkpoints {old.get(k, '(unset)')!r}, this run "
                 f"{settings.get(k, '(unset)')!r}"
                 for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
      message = (f"the checkpoints in {paths.resolve(workdir) / CHECKPOINT_DIR} were "
                 f"written under another config (fingerprint {stored.get('fingerprint')}, "
                 f"this run {record['fingerprint']}):\n" + "\n".join(changes))
      if not config.checkpoint.allow_config_change:
        raise ValueError(message + "\nUse another --workdir, or resume anyway with "
                         "--config.checkpoint.allow_config_change=True")
      logging.warning("Resuming with a changed config (checkpoint.allow_config_change): %s",
                      message)
    else:
      return
  elif has_checkpoints:
    logging.warning("%s has checkpoints but no %s (written by an older version): "
                    "recording this run's config", workdir, RUN_CONFIG_FILE)
  if jax.process_index() == 0:
    atomic_file.write_json(path, record)


# ---------------------------------------------------------------------------------------
# The export.


def export_model(workdir: str, state: TrainState, metadata: dict[str, Any],
                 extra_modules: tuple[str, ...] = ()) -> str:
  """Writes the student network's variables and `metadata` (the `build_model` call),
  with the step, to ``workdir/export`` (replacing it), with the training-only modules
  `extra_modules` (`Objective.exported_extra_modules`)."""
  params = host_copy(state.params["student"])
  batch_stats = host_copy(state.batch_stats["student"])
  extras = {name: host_copy(state.params["extra"][name]) for name in extra_modules}
  path = str(paths.resolve(workdir) / EXPORT_DIR)
  metadata = dict(metadata, step=int(jax.device_get(state.step)))
  save_model_variables(path, params, batch_stats, metadata=metadata, overwrite=True,
                       extra_modules=extras)
  logging.info("Exported the model's variables at step %d to %s", metadata["step"], path)
  return path


def fresh_export_dir(workdir: str) -> str:
  """``workdir/export``, checked to be the export of the workdir's newest checkpoint.

  An export from an earlier, shorter run (or one preempted since) is an error, never
  evaluated as if it were this run's result.
  """
  path = paths.resolve(workdir) / EXPORT_DIR
  latest = latest_checkpoint_step(workdir)
  if not path.is_dir():
    state = (f"its newest checkpoint is step {latest}: the run is incomplete; re-run the "
             f"training command to finish it" if latest is not None else "it has no "
             "checkpoints either")
    raise FileNotFoundError(f"no export in workdir {workdir} ({path}); {state}")
  step = load_metadata(str(path)).get("step")
  if step is None:
    logging.warning("%s records no step (an export of an older version): not checked "
                    "against the checkpoints", path)
  elif latest is not None and step < latest:
    raise ValueError(f"the export {path} is of step {step}, older than the workdir's "
                     f"newest checkpoint (step {latest}): the run resumed after it was "
                     f"exported and has not finished; re-run the training command")
  return str(path)


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

  def is_set_on_any_host(self) -> bool:
    """Whether any process of the job received the signal.

    Every process must stop at the same step: the checkpoint save and the next train
    step are collective, so a process that stopped alone (the signal reaches each
    host at its own moment) would leave the others waiting in them. On a multi-host
    job this costs one scalar all-gather per call, which waits for the step in flight.
    """
    if jax.process_count() == 1:
      return self.is_set
    flags = multihost_utils.process_allgather(np.int32(self.is_set))
    return bool(np.max(flags))


class TerminatedError(BaseException):
  """A termination signal arrived during work with no checkpoint to stop at.

  A BaseException, like KeyboardInterrupt: library code's ``except Exception``
  (a compilation-cache lookup, say) must not swallow it.
  """


@contextlib.contextmanager
def raise_on_termination():
  """SIGTERM raises `TerminatedError` in the main thread while the body runs.

  For evaluation passes: they write their results only at the end, so stopping
  one loses nothing but the pass.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def handle(signum, frame):
    del frame
    raise TerminatedError(f"received signal {signum}")

  previous = signal.signal(signal.SIGTERM, handle)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)
