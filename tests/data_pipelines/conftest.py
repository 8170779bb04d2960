"""Shared fixtures: small datasets made by the real tools, once per session."""

import os

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture(scope='session')
def synthetic_dir(tmp_path_factory):
  """4 motion classes, 3 train + 2 test videos per class, 8 frames of 32x32,
  TFRecords with TV-L1 flow (written in-process: no worker start-up cost)."""
  from data_pipelines import synthetic
  out = str(tmp_path_factory.mktemp('synthetic'))
  synthetic.generate_dataset(
      out, num_classes=4, videos_per_class={'train': 3, 'test': 2},
      num_frames=8, height=32, width=32, seed=0, num_shards={'train': 3,
                                                             'test': 2},
      workers=1, show_progress=False)
  return out
