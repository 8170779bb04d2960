"""Test-wide setup: CPU only, TensorFlow kept off accelerators, fast compiles.

Compilation dominates CPU tests of these networks (a full-depth train step takes tens
of seconds to compile, the tiny tensors microseconds to run), so tests compile with
XLA's cheap backend passes and share a persistent compilation cache.
The `gcs` fixture serves a fresh bucket on a local GCS emulator, for the gs:// tests.
"""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ["XLA_FLAGS"] = " ".join([
    os.environ.get("XLA_FLAGS", ""),
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
]).strip()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/d3d_jax_test_jit"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")


@pytest.fixture
def gcs(tmp_path, monkeypatch):
  """`(gs://BUCKET, list_objects)`: a fresh bucket on a local GCS emulator.

  Every client (TensorFlow's GCS filesystem, hence epath, tf.data and tf.summary;
  tensorstore; gcsfs) is pointed at it through its environment variables, for this
  test and the subprocesses it starts; the emulator stops at the end. See
  tests/gcs_emulator.py.
  """
  from tests import gcs_emulator  # pylint: disable=g-import-not-at-top
  with gcs_emulator.emulated_bucket(str(tmp_path), monkeypatch.setenv) as bucket:
    yield bucket


NUM_CLASSES = 4


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
  """A tiny real dataset (synthetic motion videos -> TV-L1 -> TFRecords): 4 motion
  classes, 4 train / 2 test videos each, 9 frames of 16x16, RGB + flow."""
  from data_pipelines import synthetic  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp("synthetic"))
  synthetic.generate_dataset(
      path, num_classes=NUM_CLASSES, videos_per_class={"train": 4, "test": 2},
      num_frames=9, height=16, width=16, seed=0, num_shards={"train": 2, "test": 1},
      workers=1, show_progress=False)
  return path
