"""Our own checkpoint format: an orbax directory of the model's plain variables.

Written by ``python -m d3d_jax.convert`` and by the trainer's export, read by
`model.init_from` with ``format='d3d_jax'``. The directory is exactly
``orbax.checkpoint.StandardCheckpointer().save(path, {'params': ..., 'batch_stats': ...})``
with plain (unboxed) nested dicts of arrays, plus optional orbax custom metadata
describing the network (``model``, ``num_classes``, ``model_options``, ``source``), so a
converted checkpoint says which `build_model` call it fits.
"""

import os
from typing import Any, Mapping, Optional

import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util

from d3d_jax.checkpoint_import import variable_trees
from d3d_jax.checkpoint_import.checkpoint_format import CheckpointFormat, Container, SourceTensor
from d3d_jax.checkpoint_import.tensor_files import ArrayTensorFile

COLLECTIONS = ("params", "batch_stats")


def _check_directory(path: str) -> str:
  path = os.path.abspath(os.fspath(path))
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f"no d3d_jax checkpoint directory at {path!r} (one is written by "
        f"`python -m d3d_jax.convert` or by the trainer's export)")
  if not os.path.exists(os.path.join(path, "_CHECKPOINT_METADATA")):
    raise ValueError(f"{path} is not an orbax checkpoint directory (no _CHECKPOINT_METADATA); "
                     f"for a published file, set the source format instead of 'd3d_jax'")
  return path


def save_model_variables(path: str, params: Mapping[str, Any],
                         batch_stats: Optional[Mapping[str, Any]] = None,
                         metadata: Optional[Mapping[str, Any]] = None,
                         overwrite: bool = False) -> str:
  """Saves plain copies of `params` and `batch_stats` (boxes and shardings dropped).

  Orbax writes to a temporary directory and renames it when complete, so a crash never
  leaves a half-written checkpoint at `path`. `metadata` must be JSON-serialisable.
  Returns the absolute path.
  """
  path = os.path.abspath(os.fspath(path))
  if os.path.exists(path) and not overwrite:
    raise FileExistsError(f"{path} exists; pass overwrite=True (CLI --overwrite) to replace it")
  state = {"params": variable_trees.plain(params),
           "batch_stats": variable_trees.plain(batch_stats or {})}
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(path, state, force=overwrite,
                      custom_metadata=dict(metadata) if metadata else None)
    checkpointer.wait_until_finished()
  return path


def load_model_variables(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
  """Returns (params, batch_stats) as plain nested dicts of NumPy arrays."""
  path = _check_directory(path)
  with ocp.StandardCheckpointer() as checkpointer:
    tree = checkpointer.metadata(path).item_metadata.tree
    target = {collection: _numpy_target(tree.get(collection, {})) for collection in tree}
    restored = checkpointer.restore(path, target)
  return (variable_trees.plain(restored.get("params", {})),
          variable_trees.plain(restored.get("batch_stats", {})))


def _numpy_target(metadata_tree):
  """Host arrays of the stored shapes: restores on any device topology, without shardings."""
  flat = traverse_util.flatten_dict(dict(metadata_tree), sep="/") if metadata_tree else {}
  return traverse_util.unflatten_dict(
      {k: np.zeros(m.shape, m.dtype) for k, m in flat.items()}, sep="/")


def load_metadata(path: str) -> dict[str, Any]:
  """The custom metadata saved with the checkpoint ({} if none)."""
  path = _check_directory(path)
  with ocp.StandardCheckpointer() as checkpointer:
    return dict(checkpointer.metadata(path).custom_metadata or {})


def open_file(path: str) -> ArrayTensorFile:
  """A `TensorFile` with names 'params/<path>' and 'batch_stats/<path>'."""
  params, batch_stats = load_model_variables(path)
  arrays = {}
  for collection, tree in zip(COLLECTIONS, (params, batch_stats)):
    arrays.update({f"{collection}/{name}": value
                   for name, value in variable_trees.flatten(tree).items()})
  return ArrayTensorFile(os.path.abspath(os.fspath(path)), arrays)


def write(path: str, tensors: Mapping[str, np.ndarray]) -> str:
  """Writes 'params/...' / 'batch_stats/...' tensors as a d3d_jax checkpoint."""
  trees = {collection: {} for collection in COLLECTIONS}
  for name, value in tensors.items():
    collection, _, var_path = name.partition("/")
    if collection not in trees:
      raise ValueError(f"tensor {name!r}: d3d_jax names start with one of {COLLECTIONS}")
    trees[collection][var_path] = value
  return save_model_variables(
      path, traverse_util.unflatten_dict(trees["params"], sep="/"),
      traverse_util.unflatten_dict(trees["batch_stats"], sep="/"))


FORMAT = CheckpointFormat(
    name="d3d_jax",
    description="our orbax export (python -m d3d_jax.convert, the trainer's export)",
    container=Container(open=open_file, write=write, is_training_state=lambda name: False,
                        scope_separator="/"),
    default_model="",  # the checkpoint's metadata names it
    model_defaults={},
    stem_anchor=None,
    source=lambda collection, path: SourceTensor(f"{collection}/{path}"),
    bn_scale_in_file=False,  # a model without BN scale is one with scale 1
)
