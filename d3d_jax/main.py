r"""The entry point: train / evaluate one experiment config.

  python -m d3d_jax.main --config=configs/synthetic_d3d.py --workdir=/tmp/d3d \
      [--config.total_steps=2000 --config.input.batch_size=16 ...]

A config file with variants takes one after a colon (``--config=configs/liu2020_ucf101.py:
prob_atten_flow``; its get_config(variant) lists them). Re-running with the same
--workdir resumes from its latest checkpoint. The config is
locked, so an override of a key that does not exist is an error naming the key.
On a multi-host TPU pod or GPU cluster, `jax.distributed.initialize()` runs when the
usual environment says so (TPU VM metadata, SLURM / Open MPI variables, or an explicit
JAX_COORDINATOR_ADDRESS with JAX_NUM_PROCESSES and JAX_PROCESS_ID), and every host runs
the same command (launch/tpu.sh, launch/gpu.sh). Compilations are cached on disk
(`d3d_jax.compilation_cache`: ~/.cache/d3d_jax/jax_compilation_cache by default), so a
resume or a second run skips most of the compile.
"""

import os
from typing import Optional

from absl import app, flags, logging
from ml_collections import config_flags

from d3d_jax import compilation_cache
from d3d_jax import host_memory

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs, export.")
flags.mark_flags_as_required(["config", "workdir"])


def _explicit_process_env() -> dict:
  """`jax.distributed.initialize` arguments from JAX_NUM_PROCESSES / JAX_PROCESS_ID.

  JAX itself reads JAX_COORDINATOR_ADDRESS but not these two (it detects them only on
  TPU VMs, SLURM and Open MPI), so a plain cluster (launch/gpu.sh, several local CPU
  processes) passes them here; set both or neither."""
  names = ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
  given = {name: os.environ[name] for name in names if os.environ.get(name)}
  if not given:
    return {}
  if len(given) != len(names):
    raise ValueError(f"set both {names[0]} and {names[1]} (or neither), got {given}")
  try:
    return {"num_processes": int(given[names[0]]), "process_id": int(given[names[1]])}
  except ValueError:
    raise ValueError(f"{names[0]} and {names[1]} must be integers, got {given}") from None


def _maybe_initialize_distributed() -> None:
  import jax  # pylint: disable=g-import-not-at-top
  multi_host_env = any(os.environ.get(k) for k in (
      "JAX_COORDINATOR_ADDRESS", "TPU_WORKER_HOSTNAMES", "SLURM_NTASKS",
      "OMPI_COMM_WORLD_SIZE"))
  if multi_host_env and "TPU_WORKER_HOSTNAMES" in os.environ:
    multi_host_env = len(os.environ["TPU_WORKER_HOSTNAMES"].split(",")) > 1
  if multi_host_env:
    jax.distributed.initialize(**_explicit_process_env())


def main(argv) -> None:
  del argv
  logging.info(host_memory.keep_freed_memory())  # Before TensorFlow or JAX start threads.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  compilation_cache.enable_persistent_cache()
  _maybe_initialize_distributed()
  from data_pipelines import paths  # pylint: disable=g-import-not-at-top
  config, workdir = _CONFIG.value, paths.resolve(_WORKDIR.value)
  workdir.mkdir(parents=True, exist_ok=True)
  metrics = run_mode(config, str(workdir))
  if metrics is not None:
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})


def run_mode(config, workdir: str) -> Optional[dict]:
  """Trains and / or evaluates as `config.mode` says; the eval metrics, or None when
  there are none (mode 'train', or a termination signal stopped the run: logged as
  INCOMPLETE, and the process exits 0)."""
  from d3d_jax import checkpointing, evaluation, trainer  # pylint: disable=g-import-not-at-top
  if config.mode not in ("train", "eval", "train_and_eval"):
    raise ValueError(f"config.mode must be 'train', 'eval' or 'train_and_eval', "
                     f"got {config.mode!r}")
  if config.mode in ("train", "train_and_eval"):
    state = trainer.train(config, workdir)
    if not trainer.is_complete(config, state):
      return None  # Preempted: checkpointed, nothing evaluated (trainer logged it).
  if config.mode == "train":
    return None
  try:
    with checkpointing.raise_on_termination():
      metrics = evaluation.evaluate_workdir(config, workdir)
  except checkpointing.TerminatedError:
    logging.warning("The evaluation is INCOMPLETE: a termination signal stopped it "
                    "before its results were complete. Re-run with --config.mode=eval "
                    "to evaluate the export.")
    return None
  logging.info("eval: %s", metrics)
  return metrics


def run() -> None:
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  app.run(main)


if __name__ == "__main__":
  run()
