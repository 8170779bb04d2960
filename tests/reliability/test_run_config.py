"""Checkpoints written under another config are not resumed unless asked for."""

import json
import shutil

import pytest

from d3d_jax import trainer
from d3d_jax.checkpointing import RUN_CONFIG_FILE, check_run_config
from tests.trainer.conftest import tiny_config


@pytest.fixture(scope="module")
def trained_workdir(tiny_dataset, tmp_path_factory):
  """A workdir as a 3-step run leaves it (checkpoint 3, run_config.json)."""
  workdir = tmp_path_factory.mktemp("trained")
  trainer.train(tiny_config(tiny_dataset, total_steps=3), str(workdir))
  return workdir


def _workdir_with_checkpoints(tmp_path, trained):
  shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
  return str(tmp_path)


def test_a_changed_config_refuses_to_resume_listing_every_changed_key(tiny_dataset, tmp_path,
                                                                       trained_workdir):
  workdir = _workdir_with_checkpoints(tmp_path, trained_workdir)
  changed = tiny_config(tiny_dataset, total_steps=6, seed=5,
                        **{"schedule.base_lr": 0.5})
  with pytest.raises(ValueError) as error:
    check_run_config(workdir, changed)
  lines = str(error.value).splitlines()
  assert lines[1:3] == ["  schedule.base_lr: checkpoints 0.003, this run 0.5",
                        "  seed: checkpoints 0, this run 5"]
  assert lines[3].endswith("--config.checkpoint.allow_config_change=True")


def test_how_long_and_how_often_may_change_on_resume(tiny_dataset, tmp_path, trained_workdir):
  workdir = _workdir_with_checkpoints(tmp_path, trained_workdir)
  check_run_config(workdir, tiny_config(tiny_dataset, total_steps=600, mode="train", **{
      "log_every_steps": 7, "checkpoint.every_steps": 50, "checkpoint.keep": 1}))


def test_allow_config_change_resumes_and_records_the_new_config(tiny_dataset, tmp_path,
                                                                trained_workdir):
  workdir = _workdir_with_checkpoints(tmp_path, trained_workdir)
  changed = tiny_config(tiny_dataset, **{"schedule.base_lr": 0.5,
                                         "checkpoint.allow_config_change": True})
  check_run_config(workdir, changed)
  stored = json.loads((tmp_path / RUN_CONFIG_FILE).read_text())
  assert stored["settings"]["schedule.base_lr"] == 0.5
  check_run_config(workdir, tiny_config(tiny_dataset, **{"schedule.base_lr": 0.5}))
