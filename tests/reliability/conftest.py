"""The fault suite's shared pieces: one uninterrupted reference run, a killable
training subprocess, and the comparison of a finished workdir with the reference."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from d3d_jax import trainer
from d3d_jax.export import load_model_variables
from tests.trainer.conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOTAL_STEPS = 12  # Checkpoints at 3, 6, 9, 12 (tiny_config saves every 3 steps).

# Trains tiny_config(DATA, total_steps=TOTAL) in WORKDIR. With AT_SAVE=k, right after
# starting the save of step k the process either SIGKILLs itself (ACTION "kill", while the
# asynchronous save is in flight) or, once the save is on disk, shrinks the tmpfs mounted
# at MOUNTPOINT to what it holds plus ROOM bytes (ACTION "fill:ROOM:MOUNTPOINT").
# Run as `python -c SCRIPT DATA WORKDIR TOTAL [AT_SAVE ACTION]`.
TRAIN_SCRIPT = r"""
import os, signal, subprocess, sys
import tests.conftest  # CPU, fast compiles, the test compilation cache.
from d3d_jax import checkpointing, trainer
from tests.trainer.conftest import tiny_config
data, workdir, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
at_save, action = (int(sys.argv[4]), sys.argv[5]) if len(sys.argv) > 5 else (None, "")
def fill_disk(room, mountpoint):
  stats = os.statvfs(mountpoint)
  used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
  subprocess.run(["mount", "-o", f"remount,size={used + int(room)}", mountpoint], check=True)
save = checkpointing.Checkpointer.save
def save_then_act(self, state, force=False):
  save(self, state, force)
  if int(state.step) != at_save:
    return
  if action == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
  self.wait()
  fill_disk(*action.split(":", 2)[1:])
checkpointing.Checkpointer.save = save_then_act
overrides = {"checkpoint.async_save": action == "kill"}
trainer.train(tiny_config(data, total_steps=total, **overrides), workdir)
"""


def start_training(data_dir, workdir, total_steps, kill_at_save=None,
                   fill_disk_after_save=None) -> subprocess.Popen:
  """The training subprocess; `fill_disk_after_save` is (step, mountpoint, room bytes)."""
  args = [sys.executable, "-c", TRAIN_SCRIPT, data_dir, str(workdir), str(total_steps)]
  if kill_at_save is not None:
    args += [str(kill_at_save), "kill"]
  elif fill_disk_after_save is not None:
    step, mountpoint, room = fill_disk_after_save
    args += [str(step), f"fill:{room}:{mountpoint}"]
  return subprocess.Popen(args, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="session")
def reference_student(tiny_dataset, tmp_path_factory):
  """(params, batch_stats) of the student after an uninterrupted TOTAL_STEPS run."""
  state = trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS),
                        str(tmp_path_factory.mktemp("uninterrupted")))
  return jax.device_get((state.params["student"], state.batch_stats["student"]))


def assert_export_equals(workdir, reference) -> None:
  """The workdir's export holds exactly the reference run's student."""
  exported = load_model_variables(str(workdir / "export"))
  jax.tree_util.tree_map(np.testing.assert_array_equal, exported, tuple(reference))
