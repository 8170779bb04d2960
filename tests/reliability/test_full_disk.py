"""A disk that fills up mid-run loses nothing: the run fails, the last complete
checkpoint restores, and after space is freed the re-run ends as if never stopped."""

import os
import subprocess

import pytest

from d3d_jax import trainer
from tests.reliability.conftest import (TOTAL_STEPS, assert_export_equals,
                                        reference_student, start_training)
from tests.trainer.conftest import tiny_config

del reference_student  # A fixture: pytest passes it by name.

# Room left once step 3 is on disk: less than one tiny checkpoint (~330 KB on tmpfs), so
# the save of step 6 cannot complete, whatever the exact size of a checkpoint.
_ROOM_AFTER_FIRST_SAVE = 128 * 1024
_DISK_SIZE = "64m"  # Before the shrink and after the space is freed.


@pytest.fixture
def tmpfs(tmp_path):
  """A `_DISK_SIZE` tmpfs mounted at tmp_path/disk, unmounted afterwards."""
  mountpoint = tmp_path / "disk"
  mountpoint.mkdir()
  mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={_DISK_SIZE}", "tmpfs",
                          str(mountpoint)], capture_output=True, text=True)
  if mount.returncode:
    pytest.skip(f"cannot mount a tmpfs to fill (needs root with CAP_SYS_ADMIN): "
                f"{mount.stderr.strip()}")
  try:
    yield mountpoint
  finally:
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_full_disk_fails_the_run_and_loses_nothing(tiny_dataset, reference_student, tmpfs):
  # A subprocess: orbax leaves the failed writes' futures behind, and they belong to a
  # process that ends, as a user's failed run does.
  process = start_training(tiny_dataset, tmpfs / "run", TOTAL_STEPS,
                           fill_disk_after_save=(3, tmpfs, _ROOM_AFTER_FIRST_SAVE))
  _, stderr = process.communicate(timeout=600)
  assert process.returncode != 0
  assert "No space left on device" in stderr
  steps = sorted(p for p in os.listdir(tmpfs / "run" / "checkpoints") if p.isdigit())
  assert steps == ["3"]

  subprocess.run(["mount", "-o", f"remount,size={_DISK_SIZE}", str(tmpfs)], check=True)
  trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), str(tmpfs / "run"))
  assert_export_equals(tmpfs / "run", reference_student)
