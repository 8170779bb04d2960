"""Flat '/'-joined views of Flax variable trees, and rebuilding them with new values.

Trainers hand importers the trees `model.init` returns: nested dicts (or FrozenDicts)
whose leaves may be `nn.LogicallyPartitioned` boxes around arrays that may already be
sharded on a mesh. Importers work on plain ``{'a/b/kernel': array}`` views and put the
new values back in the same structure, keeping the boxes (logical axis names) and each
array's sharding and dtype, so the result drops into the train state unchanged.
"""

from typing import Any, Mapping

import flax.linen as nn
import jax
import numpy as np
from flax import traverse_util
from flax.core import frozen_dict


def _is_boxed(leaf) -> bool:
  return isinstance(leaf, nn.meta.AxisMetadata)


def flatten(tree: Mapping[str, Any]) -> dict[str, Any]:
  """``{'a/b/kernel': leaf}`` with boxes kept as leaves (use `unboxed` for values)."""
  if not tree:
    return {}
  return traverse_util.flatten_dict(frozen_dict.unfreeze(tree), sep="/",
                                    is_leaf=lambda _, x: _is_boxed(x))


def unboxed(leaf):
  """The array (or ShapeDtypeStruct) inside a possibly (even doubly) boxed leaf."""
  while _is_boxed(leaf):
    leaf = leaf.unbox()
  return leaf


def shapes(tree: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
  return {path: tuple(unboxed(leaf).shape) for path, leaf in flatten(tree).items()}


def _placed_like(old, new: np.ndarray):
  """`new` with the dtype of `old`, on the devices / sharding of `old` if it is a jax.Array."""
  new = np.asarray(new, dtype=old.dtype)
  if isinstance(old, jax.Array):
    return jax.device_put(new, old.sharding)
  return new


def _rebox(old, new: np.ndarray):
  """`new` placed like `old`'s array, inside the same (possibly nested) boxes."""
  if _is_boxed(old):
    return old.replace_boxed(_rebox(old.unbox(), new))
  return _placed_like(old, new)


def replace(tree: Mapping[str, Any], values: Mapping[str, np.ndarray]):
  """A copy of `tree` where each path in `values` holds the new value.

  Boxes (`nn.LogicallyPartitioned`), dtypes and shardings of the old leaves are kept;
  paths not in `values` keep their old leaves. A FrozenDict input gives a FrozenDict.
  """
  flat = flatten(tree)
  unknown = set(values) - set(flat)
  if unknown:
    raise KeyError(f"no such variables in the tree: {sorted(unknown)}")
  for path, new in values.items():
    flat[path] = _rebox(flat[path], new)
  rebuilt = traverse_util.unflatten_dict(flat, sep="/")
  return frozen_dict.freeze(rebuilt) if isinstance(tree, frozen_dict.FrozenDict) else rebuilt


def plain(tree: Mapping[str, Any]) -> dict[str, Any]:
  """An unboxed nested dict of host (NumPy) arrays, e.g. for saving."""
  flat = {path: np.asarray(jax.device_get(unboxed(leaf)))
          for path, leaf in flatten(tree).items()}
  return traverse_util.unflatten_dict(flat, sep="/")
