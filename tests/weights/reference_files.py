"""Writes test checkpoints the way the reference tools do, independently of the exporter.

* TF: the TF1 `Saver` with a {name: variable} dict, so `tf.train.list_variables` shows
  exactly the reference names (as in the DeepMind and slim checkpoints);
* PyTorch state-dict exports: `np.savez`, and a .safetensors file built here from the
  format's specification (8-byte header length, JSON header, raw little-endian data).
"""

import json
import os
import struct

import numpy as np


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
  dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
  header, offset, blobs = {}, 0, []
  for name, value in tensors.items():
    blob = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": dtypes[value.dtype], "shape": list(value.shape),
                    "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
  header["__metadata__"] = {"format": "pt"}
  encoded = json.dumps(header).encode()
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
  assert os.path.getsize(path) == 8 + len(encoded) + offset
  return str(path)
