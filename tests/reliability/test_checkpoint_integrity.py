"""An unrestorable newest checkpoint: one line naming step and file, moved aside, the
previous one resumed; none restorable: one error listing every step tried."""

import glob
import os

from absl import logging
import pytest

from d3d_jax import trainer
from d3d_jax.checkpointing import UNRESTORABLE_DIR
from tests.reliability.conftest import TOTAL_STEPS, assert_export_equals, reference_student
from tests.trainer.conftest import tiny_config

del reference_student  # A fixture: pytest passes it by name.


def _largest_data_file(step_dir):
  files = glob.glob(str(step_dir / "default" / "ocdbt.process_0" / "d" / "*"))
  return max(files, key=os.path.getsize)


def test_a_truncated_newest_checkpoint_is_moved_aside_and_the_previous_one_resumed(
    tiny_dataset, reference_student, tmp_path, caplog):
  trainer.train(tiny_config(tiny_dataset, total_steps=9), str(tmp_path))
  damaged = _largest_data_file(tmp_path / "checkpoints" / "9")
  os.truncate(damaged, 100)
  with caplog.at_level(logging.ERROR):
    trainer.train(tiny_config(tiny_dataset, total_steps=TOTAL_STEPS), str(tmp_path))
  [line] = [r.getMessage() for r in caplog.records if "cannot be restored" in r.getMessage()]
  assert line.startswith("Checkpoint step 9 cannot be restored (ValueError: OUT_OF_RANGE")
  assert f"{tmp_path}/checkpoints/9/default/" in line  # The file (OCDBT database) read.
  assert line.endswith(f"moved it to {tmp_path / UNRESTORABLE_DIR / '9'}; resuming from "
                       f"step 6 instead.")
  assert os.path.getsize(str(damaged).replace("checkpoints/9", f"{UNRESTORABLE_DIR}/9")) == 100
  assert_export_equals(tmp_path, reference_student)  # Resumed at 6: nothing lost.


def test_a_truncated_metadata_file_is_named(tiny_dataset, tmp_path, caplog):
  trainer.train(tiny_config(tiny_dataset, total_steps=6), str(tmp_path))
  metadata = tmp_path / "checkpoints" / "6" / "default" / "_METADATA"
  metadata.write_text(metadata.read_text()[:50])
  with caplog.at_level(logging.ERROR):
    trainer.train(tiny_config(tiny_dataset, total_steps=9), str(tmp_path))
  assert (f"Checkpoint step 6 cannot be restored (ValueError: {metadata} is not valid JSON"
          in caplog.text)


def test_when_no_checkpoint_restores_one_error_lists_each_step_and_moves_nothing(
    tiny_dataset, tmp_path):
  trainer.train(tiny_config(tiny_dataset, total_steps=6), str(tmp_path))
  for step in ("3", "6"):
    os.truncate(_largest_data_file(tmp_path / "checkpoints" / step), 100)
  with pytest.raises(RuntimeError) as error:
    trainer.train(tiny_config(tiny_dataset, total_steps=9), str(tmp_path))
  lines = str(error.value).splitlines()
  assert lines[0] == (f"no checkpoint in {tmp_path / 'checkpoints'} can be restored (all "
                      f"left in place); tried:")
  assert [line.split(":")[0] for line in lines[1:]] == ["  step 6", "  step 3"]
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["3", "6"]
