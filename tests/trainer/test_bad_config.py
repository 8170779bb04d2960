"""Configuration mistakes fail fast, naming the key or the path."""

import os
import subprocess
import sys

import pytest

from d3d_jax import trainer
from tests.trainer.conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_typo_in_a_config_override_is_an_error_naming_the_key(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "d3d_jax.main", "--config=configs/synthetic_d3d.py",
       f"--workdir={tmp_path}", "--config.objective.distil_weight=2"],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=REPO))
  assert result.returncode != 0
  assert "distil_weight" in result.stderr


def test_missing_teacher_checkpoint_names_the_path(tiny_dataset, tmp_path):
  missing = str(tmp_path / "no_such_teacher")
  config = tiny_config(tiny_dataset, "rgb", "d3d_logits", **{"teacher.checkpoint": missing})
  with pytest.raises(FileNotFoundError, match="teacher.checkpoint.*no_such_teacher"):
    trainer.build_experiment(config, workdir=str(tmp_path))


def test_empty_teacher_checkpoint_names_the_key(tiny_dataset, tmp_path):
  config = tiny_config(tiny_dataset, "rgb", "d3d_logits", **{"teacher.checkpoint": ""})
  with pytest.raises(ValueError, match="teacher.checkpoint"):
    trainer.build_experiment(config, workdir=str(tmp_path))


def test_model_modality_missing_from_the_input_is_an_error(tiny_dataset, tmp_path):
  config = tiny_config(tiny_dataset, "flow", "ce", **{"input.modalities": ("rgb",)})
  with pytest.raises(ValueError, match="model.modality.*flow.*input.modalities"):
    trainer.build_experiment(config, workdir=str(tmp_path))


def test_flow_config_on_rgb_only_records_names_the_data(tmp_path):
  from data_pipelines import synthetic
  synthetic.generate_dataset(str(tmp_path), num_classes=2, videos_per_class=1, num_frames=5,
                             height=16, width=16, num_shards=1, workers=1, flow="none",
                             show_progress=False)
  config = tiny_config(str(tmp_path), "flow", "ce", **{"input.modalities": ("flow",)})
  with pytest.raises(ValueError, match="flow"):
    trainer.build_experiment(config, workdir=str(tmp_path))


def test_exact_resume_without_a_deterministic_input_is_an_error(tiny_dataset, tmp_path):
  config = tiny_config(tiny_dataset, "rgb", "ce", exact_resume=True,
                       **{"input.deterministic": False})
  with pytest.raises(ValueError, match="exact_resume.*input.deterministic"):
    trainer.build_experiment(config, workdir=str(tmp_path))
