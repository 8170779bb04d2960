"""kill -9 at a step and during an asynchronous save: the re-run resumes and ends
with exactly the parameters of an uninterrupted run."""

import os
import signal
import time

from d3d_jax import trainer
from tests.reliability.conftest import (TOTAL_STEPS, assert_export_equals,
                                        reference_student, start_training)
from tests.trainer.conftest import tiny_config

del reference_student  # A fixture: pytest passes it by name.


def _steps(workdir):
  return sorted(int(p) for p in os.listdir(workdir / "checkpoints") if p.isdigit())


def test_kill_9_after_a_checkpoint_then_rerun_resumes_bit_exactly(
    tiny_dataset, reference_student, tmp_path):
  workdir = tmp_path / "run"
  process = start_training(tiny_dataset, workdir, total_steps=1000)
  deadline = time.time() + 120
  while not (workdir / "checkpoints" / "6").exists():
    assert process.poll() is None, process.stderr.read()[-3000:]
    assert time.time() < deadline, "no checkpoint appeared"
    time.sleep(0.01)
  process.send_signal(signal.SIGKILL)
  process.communicate(timeout=60)
  assert process.returncode == -signal.SIGKILL
  assert (workdir / "LEASE.json").exists()  # Left behind by the killed run.
  assert 6 in _steps(workdir)

  # The dead holder's lease is taken over at once; its longer total_steps is not part
  # of the config fingerprint, so the re-run resumes.
  state = trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), str(workdir))
  assert trainer.is_complete(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), state)
  assert_export_equals(workdir, reference_student)


def test_kill_9_during_an_asynchronous_save_leaves_a_resumable_workdir(
    tiny_dataset, reference_student, tmp_path):
  workdir = tmp_path / "run"
  process = start_training(tiny_dataset, workdir, total_steps=TOTAL_STEPS, kill_at_save=6)
  process.communicate(timeout=120)
  assert process.returncode == -signal.SIGKILL
  assert 3 in _steps(workdir) and max(_steps(workdir)) <= 6

  trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), str(workdir))
  assert_export_equals(workdir, reference_student)
