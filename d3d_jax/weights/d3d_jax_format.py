"""Our own export (`d3d_jax.export`) seen as an import format: ``format='d3d_jax'``.

Tensor names are 'params/<path>' and 'batch_stats/<path>'; the export's metadata names
the `build_model` call it fits.
"""

from typing import Mapping

import numpy as np
from flax import traverse_util

from data_pipelines import paths
from d3d_jax.export import load_model_variables, save_model_variables
from d3d_jax.weights import variable_trees
from d3d_jax.weights.checkpoint_format import CheckpointFormat, Container, SourceTensor
from d3d_jax.weights.tensor_files import ArrayTensorFile

COLLECTIONS = ("params", "batch_stats")


def open_file(path: str) -> ArrayTensorFile:
  """A `TensorFile` with names 'params/<path>' and 'batch_stats/<path>'."""
  params, batch_stats = load_model_variables(path)
  arrays = {}
  for collection, tree in zip(COLLECTIONS, (params, batch_stats)):
    arrays.update({f"{collection}/{name}": value
                   for name, value in variable_trees.flatten(tree).items()})
  return ArrayTensorFile(str(paths.resolve(path)), arrays)


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
