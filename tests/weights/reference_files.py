"""Writes test checkpoints the way the reference tools do, independently of the exporter.

* TF: the TF1 `Saver` with a {name: variable} dict, so `tf.train.list_variables` shows
  exactly the reference names (as in the DeepMind and slim checkpoints);
* PyTorch state-dict exports: `np.savez`, and `.safetensors` with the `safetensors`
  package, as its `safetensors.torch.save_file` writes them.
"""

import numpy as np
import safetensors.numpy


def write_tf_checkpoint(prefix, tensors):
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  variables = {name: tf.Variable(value) for name, value in tensors.items()}
  tf.compat.v1.train.Saver(var_list=variables).save(
      sess=None, save_path=str(prefix), write_meta_graph=False)
  return str(prefix)


def list_tf_variables(prefix):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return dict(tf.train.list_variables(str(prefix)))


def write_npz(path, tensors):
  np.savez(path, **tensors)
  return str(path)


def write_safetensors(path, tensors):
  """As ``safetensors.torch.save_file(state_dict, path)`` writes it, without torch."""
  safetensors.numpy.save_file(dict(tensors), str(path), metadata={"format": "pt"})
  return str(path)
