"""TensorFlow checkpoints (DeepMind kinetics-i3d, TF-slim S3D-G / D3D): read and write.

Reading uses TensorFlow's own checkpoint reader (`tf.train.load_checkpoint`), so V1 and
V2 checkpoints, sharded data files and `checkpoint` state files all work; `path` may be
the prefix (``.../model.ckpt``), the ``.index`` file, or a directory with a
``checkpoint`` file. Writing uses the TF1 `Saver` with a name -> variable dict, which
stores each tensor under exactly that name, as the published checkpoints do.
TensorFlow is imported on first use and kept off accelerators (it only reads files).
"""

import os
import re
from typing import Mapping

import numpy as np

from d3d_jax.weights.checkpoint_format import Container

# TF BatchNorm variables (Sonnet and slim alike) for our BN leaves.
BATCH_NORM_NAMES = {"bias": "beta", "scale": "gamma", "mean": "moving_mean",
                    "var": "moving_variance"}

# Variables a training run leaves in a checkpoint that are not part of the network:
# optimizer slots (e.g. the Kinetics-600 checkpoint's `.../w/Momentum`), step counters
# and Adam's power accumulators.
_TRAINING_STATE = re.compile(
    r"(^|/)(global_step|beta1_power|beta2_power)$"
    r"|/(Momentum|RMSProp|RMSProp_1|Adam|Adam_1|Adagrad|ExponentialMovingAverage)$")


def is_training_state(name: str) -> bool:
  """True for optimizer slots and step counters, which importers skip (and report)."""
  return bool(_TRAINING_STATE.search(name))


def _tensorflow():
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


def _checkpoint_prefix(path: str) -> str:
  path = os.fspath(path)
  if path.endswith(".index"):
    return path[: -len(".index")]
  data_suffix = re.search(r"\.data-\d{5}-of-\d{5}$", path)
  return path[: data_suffix.start()] if data_suffix else path


class TFCheckpointFile:
  """A `TensorFile` over a TensorFlow checkpoint."""

  def __init__(self, path: str):
    tf = _tensorflow()
    self.path = _checkpoint_prefix(path)
    try:
      self._reader = tf.train.load_checkpoint(self.path)
    except (ValueError, tf.errors.OpError) as e:
      raise FileNotFoundError(
          f"no TensorFlow checkpoint at {path!r} (give the prefix such as "
          f".../model.ckpt, its .index file, or a directory with a 'checkpoint' file): {e}"
      ) from e
    self._shapes = {name: tuple(shape) for name, shape in
                    self._reader.get_variable_to_shape_map().items()}

  @property
  def shapes(self) -> dict[str, tuple[int, ...]]:
    return dict(self._shapes)

  def read(self, name: str) -> np.ndarray:
    if name not in self._shapes:
      raise KeyError(f"{self.path}: no tensor {name!r}")
    return np.asarray(self._reader.get_tensor(name))


def write(path: str, tensors: Mapping[str, np.ndarray]) -> str:
  """Writes `tensors` under their names as a TF checkpoint; returns its prefix.

  `path` is the prefix (e.g. ``out/model.ckpt``); its directory is created.
  """
  tf = _tensorflow()
  path = _checkpoint_prefix(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  variables = {name: tf.Variable(np.asarray(value)) for name, value in tensors.items()}
  saver = tf.compat.v1.train.Saver(var_list=variables, save_relative_paths=True)
  return saver.save(sess=None, save_path=path, write_meta_graph=False)


CONTAINER = Container(open=TFCheckpointFile, write=write, is_training_state=is_training_state,
                      scope_separator="/")
