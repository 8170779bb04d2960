"""Our model export: an orbax directory of a network's plain variables and its build call.

Written by the trainer at the end of a run (``WORKDIR/export``) and by
``python -m d3d_jax.convert``; read by `teacher.checkpoint`, `model.init_from` (format
'd3d_jax') and evaluation. The directory is exactly
``orbax.checkpoint.StandardCheckpointer().save(path, {'params': ..., 'batch_stats': ...})``
with plain (unboxed) nested dicts of host arrays (and, for a run whose objective
exports training-only modules, ``'extra': {name: params}``: GKD's teacher CVAE), plus
orbax custom metadata describing the network (``model``, ``modality``, ``num_classes``, ``model_options``, ``source``),
so an export says which `build_model` call rebuilds it. Orbax writes to a temporary
directory and renames it when complete: a crash never leaves half an export.
"""

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util
from flax.core import frozen_dict

from data_pipelines import paths

from d3d_jax.models import COMPUTE_OPTIONS, INPUT_CHANNELS


def _host_copy(tree: Optional[Mapping[str, Any]]) -> dict[str, Any]:
  """Unboxed nested dicts of NumPy arrays (boxes, shardings and FrozenDicts dropped)."""
  tree = frozen_dict.unfreeze(nn.meta.unbox(tree or {}))
  return jax.tree_util.tree_map(lambda x: np.asarray(jax.device_get(x)), tree)


def _check_directory(path: str) -> str:
  directory = paths.resolve(path)
  path = str(directory)
  if not directory.is_dir():
    raise FileNotFoundError(
        f"no d3d_jax checkpoint directory at {path!r} (one is written by "
        f"`python -m d3d_jax.convert` or by the trainer's export)")
  if not (directory / "_CHECKPOINT_METADATA").exists():
    raise ValueError(f"{path} is not an orbax checkpoint directory (no _CHECKPOINT_METADATA); "
                     f"for a published file, set the source format instead of 'd3d_jax'")
  return path


def save_model_variables(path: str, params: Mapping[str, Any],
                         batch_stats: Optional[Mapping[str, Any]] = None,
                         metadata: Optional[Mapping[str, Any]] = None,
                         overwrite: bool = False,
                         extra_modules: Optional[Mapping[str, Any]] = None) -> str:
  """Saves plain copies of `params` and `batch_stats`; returns the absolute path or URL.

  `metadata` must be JSON-serialisable. `extra_modules` (name -> params) are stored
  beside the network as the collection ``'extra'`` (`load_extra_modules`).
  """
  directory = paths.resolve(path)
  path = str(directory)
  if directory.exists() and not overwrite:
    raise FileExistsError(f"{path} exists; pass overwrite=True (CLI --overwrite) to replace it")
  state = {"params": _host_copy(params), "batch_stats": _host_copy(batch_stats)}
  if extra_modules:
    state["extra"] = _host_copy(extra_modules)
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
  return _host_copy(restored.get("params", {})), _host_copy(restored.get("batch_stats", {}))


def load_extra_modules(path: str, names) -> dict[str, Any]:
  """The parameters of the training-only modules `names` stored in an export."""
  path = _check_directory(path)
  with ocp.StandardCheckpointer() as checkpointer:
    tree = checkpointer.metadata(path).item_metadata.tree
    stored = dict(tree.get("extra", {}) or {})
    missing = sorted(set(names) - set(stored))
    if missing:
      raise ValueError(f"{path} holds no training-only module {missing} (it has "
                       f"{sorted(stored)}): export it from a run whose objective exports "
                       f"it (e.g. 'gkd_representation' exports its 'cvae')")
    target = {collection: _numpy_target(tree.get(collection, {})) for collection in tree}
    restored = checkpointer.restore(path, target)
  return {name: _host_copy(restored["extra"][name]) for name in names}


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


# ---------------------------------------------------------------------------------------
# The network an export was built from.


def _architecture(call: dict) -> dict:
  options = {k: v for k, v in call["model_options"].items() if k not in COMPUTE_OPTIONS}
  return {"name": call["model"], "num_classes": call["num_classes"],
          **{f"options.{k}": v for k, v in options.items()}}


def build_call_differences(stored: dict, expected: dict, config_key: str) -> list[str]:
  """One line per architecture difference between two `build_call`s, named by config
  key (``teacher.model.options.depth_multiplier: config 0.5, export 1.0``); compute-only
  options (dtype, lowering) are not architecture."""
  stored_arch, expected_arch = _architecture(stored), _architecture(expected)
  return [
      f"  {config_key}.{key}: config {expected_arch.get(key, '(unset)')!r}, "
      f"export {stored_arch.get(key, '(unset)')!r}"
      for key in sorted(set(stored_arch) | set(expected_arch))
      if stored_arch.get(key) != expected_arch.get(key)]


def check_build_call(stored: dict, expected: dict, config_key: str, path: str) -> None:
  """Raises one error listing every architecture difference between two `build_call`s."""
  differences = build_call_differences(stored, expected, config_key)
  if differences:
    raise ValueError(f"{path} was exported from another network than {config_key} "
                     f"describes:\n" + "\n".join(differences))


def stored_build_call(export_dir: str) -> Optional[dict]:
  """The export's `build_call` record, or None for an export without metadata."""
  metadata = load_metadata(export_dir)
  if "model" not in metadata or "num_classes" not in metadata:
    return None
  call = {k: metadata[k] for k in ("model", "num_classes")}
  call["model_options"] = dict(metadata.get("model_options", {}))
  if "modality" in metadata:
    call["modality"] = metadata["modality"]
    call["model_options"].setdefault("input_channels", INPUT_CHANNELS[metadata["modality"]])
  return call
