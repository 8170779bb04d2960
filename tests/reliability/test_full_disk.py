"""A disk that fills up mid-run loses nothing: the run fails, the last complete
checkpoint restores, and after space is freed the re-run ends as if never stopped."""

import os
import subprocess

import pytest

from d3d_jax import trainer
from tests.reliability.conftest import TOTAL_STEPS, assert_export_equals, reference_student
from tests.trainer.conftest import tiny_config

del reference_student  # A fixture: pytest passes it by name.

# One tiny checkpoint takes ~330 KB on tmpfs: room for step 3, not for step 6 as well.
_SMALL = "450k"


@pytest.fixture
def small_tmpfs(tmp_path):
  """A tmpfs of `_SMALL` bytes mounted at tmp_path/disk; yields (path, grow)."""
  mountpoint = tmp_path / "disk"
  mountpoint.mkdir()
  mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={_SMALL}", "tmpfs",
                          str(mountpoint)], capture_output=True, text=True)
  if mount.returncode:
    pytest.skip(f"cannot mount a small tmpfs to fill (needs root with CAP_SYS_ADMIN): "
                f"{mount.stderr.strip()}")

  def grow():
    subprocess.run(["mount", "-o", "remount,size=64m", str(mountpoint)], check=True)

  try:
    yield mountpoint, grow
  finally:
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_full_disk_fails_the_run_and_loses_nothing(tiny_dataset, reference_student,
                                                      small_tmpfs):
  workdir, grow = small_tmpfs
  with pytest.raises(Exception, match="No space left on device|RESOURCE_EXHAUSTED|ENOSPC"):
    trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), str(workdir / "run"))
  steps = sorted(p for p in os.listdir(workdir / "run" / "checkpoints") if p.isdigit())
  assert steps == ["3"]
  grow()
  trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), str(workdir / "run"))
  assert_export_equals(workdir / "run", reference_student)
