"""Checkpoint files as named tensors: TF checkpoints, PyTorch state dicts, our orbax export.

Every reader returns a `TensorFile`: `shapes` lists every name without reading tensor
data, so the import plan checks names and shapes before anything is loaded, and `read`
returns one tensor as NumPy when it is assigned. A `Container` bundles one family of
files: its reader, its writer (exports and test fixtures), which names are training
state rather than network weights, and the separator of its scopes. The families:

* `TF_CHECKPOINT`: TensorFlow checkpoints (DeepMind kinetics-i3d, TF-slim);
* `STATE_DICT`: PyTorch state dicts as ``.pt`` / ``.pth`` / ``.bin`` (read with torch,
  when installed), ``.npz`` or ``.safetensors`` (read and written without torch);
* `D3D_JAX_EXPORT`: our own orbax export (`d3d_jax.export`), names 'params/<path>' and
  'batch_stats/<path>'.
"""

import dataclasses
import os
import re
from typing import Callable, Mapping, Protocol

import numpy as np
import safetensors
import safetensors.numpy
from flax import traverse_util

from data_pipelines import paths
from d3d_jax.export import load_model_variables, save_model_variables


class TensorFile(Protocol):
  """A named set of tensors: `shapes` lists every name; `read` returns one as NumPy."""

  path: str

  @property
  def shapes(self) -> Mapping[str, tuple[int, ...]]:
    ...

  def read(self, name: str) -> np.ndarray:
    ...


class ArrayTensorFile:
  """A `TensorFile` over arrays already in memory (npz, safetensors, torch, orbax)."""

  def __init__(self, path: str, arrays: Mapping[str, np.ndarray]):
    self.path = path
    self._arrays = dict(arrays)

  @property
  def shapes(self) -> dict[str, tuple[int, ...]]:
    return {name: tuple(np.shape(a)) for name, a in self._arrays.items()}

  def read(self, name: str) -> np.ndarray:
    if name not in self._arrays:
      raise KeyError(f"{self.path}: no tensor {name!r}")
    return np.asarray(self._arrays[name])


@dataclasses.dataclass(frozen=True)
class Container:
  """How a family of files is stored.

  Attributes:
    open: path -> `TensorFile`.
    write: (path, {name: array}) -> written path (exports and test fixtures).
    is_training_state: names of optimizer slots / counters, skipped on import.
    scope_separator: '/' (TF variable scopes) or '.' (PyTorch module prefixes).
    export_extras: names written -> the extra tensors such files carry that are not
      network weights (PyTorch `num_batches_tracked`).
  """

  open: Callable[[str], TensorFile]
  write: Callable[[str, Mapping[str, np.ndarray]], str]
  is_training_state: Callable[[str], bool]
  scope_separator: str
  export_extras: Callable[[list[str]], dict[str, np.ndarray]] = lambda names: {}


def _make_parent(path: str) -> None:
  paths.resolve(path).parent.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------------------
# TensorFlow checkpoints. Reading uses TensorFlow's own reader (`tf.train.load_checkpoint`),
# so V1 and V2 checkpoints, sharded data files and `checkpoint` state files all work;
# `path` may be the prefix (``.../model.ckpt``), the ``.index`` file, or a directory with a
# ``checkpoint`` file. Writing uses the TF1 `Saver` with a name -> variable dict, which
# stores each tensor under exactly that name, as the published checkpoints do. TensorFlow
# is imported on first use and kept off accelerators (it only reads files).

# What a training run leaves in a checkpoint besides the network: optimizer slots (e.g.
# the Kinetics-600 checkpoint's `.../w/Momentum`), step counters, Adam's power accumulators.
_TF_TRAINING_STATE = re.compile(
    r"(^|/)(global_step|beta1_power|beta2_power)$"
    r"|/(Momentum|RMSProp|RMSProp_1|Adam|Adam_1|Adagrad|ExponentialMovingAverage)$")


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
  """A `TensorFile` over a TensorFlow checkpoint; tensors are read on demand."""

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
    try:
      return np.asarray(self._reader.get_tensor(name))
    except Exception as e:  # TF raises IndexError, OpError, ... for damaged data files
      raise ValueError(
          f"{self.path}: cannot read tensor {name!r} from the checkpoint's data file(s) "
          f"{self.path}.data-*: they are truncated or damaged ({type(e).__name__}: {e})"
      ) from e


def write_tf_checkpoint(path: str, tensors: Mapping[str, np.ndarray]) -> str:
  """Writes `tensors` under their names as a TF checkpoint at prefix `path`; returns it."""
  tf = _tensorflow()
  path = _checkpoint_prefix(path)
  _make_parent(path)
  variables = {name: tf.Variable(np.asarray(value)) for name, value in tensors.items()}
  saver = tf.compat.v1.train.Saver(var_list=variables, save_relative_paths=True)
  return saver.save(sess=None, save_path=path, write_meta_graph=False)


TF_CHECKPOINT = Container(
    open=TFCheckpointFile, write=write_tf_checkpoint, scope_separator="/",
    is_training_state=lambda name: bool(_TF_TRAINING_STATE.search(name)))


# ---------------------------------------------------------------------------------------
# PyTorch state dicts: flat ``{'features.0.0.0.weight': tensor}`` mappings, as
# * `torch.save` pickles (.pt/.pth/.bin/.ckpt), read with torch when it is installed
#   (``pip install d3d_jax[torch]``); a ``{'state_dict': ...}`` wrapper is unwrapped;
# * ``.npz``: ``np.savez(path, **{k: v.numpy() for k, v in state_dict.items()})``;
# * ``.safetensors``: ``safetensors.torch.save_file(state_dict, path)``, read and
#   written here with the `safetensors` package's NumPy API (no torch).
# Exports write ``.npz`` or ``.safetensors``.

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
NUMPY_SUFFIXES = (".npz", ".safetensors")

EXPORT_ONE_LINER = (
    "python -c \"import sys, torch, numpy as np; sd = torch.load(sys.argv[1], "
    "map_location='cpu'); sd = sd.get('state_dict', sd); np.savez(sys.argv[2], "
    "**{k: v.float().numpy() if v.is_floating_point() else v.numpy() "
    "for k, v in sd.items()})\" IN.pt OUT.npz")


def _load_torch(path: str) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f"reading {path} needs PyTorch (pip install 'd3d_jax[torch]'); or export the "
        f"state dict to .npz on a machine with torch:\n  {EXPORT_ONE_LINER}") from e
  state = torch.load(path, map_location="cpu", weights_only=True)
  if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
    state = state["state_dict"]
  if not isinstance(state, Mapping):
    raise ValueError(f"{path}: expected a state dict (a mapping of names to tensors), "
                     f"got {type(state).__name__}")
  arrays = {}
  for name, value in state.items():
    if not isinstance(value, torch.Tensor):
      raise ValueError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
    if value.dtype == torch.bfloat16:  # NumPy has no bfloat16; values are cast later anyway
      value = value.float()
    arrays[name] = value.detach().cpu().numpy()
  return arrays


def _load_safetensors(path: str) -> dict[str, np.ndarray]:
  try:
    return safetensors.numpy.load_file(path)
  except safetensors.SafetensorError as e:
    raise ValueError(f"{path}: not a readable safetensors file: {e}") from e


def open_state_dict(path: str) -> TensorFile:
  """Opens a state dict saved as .pt/.pth/.bin/.ckpt (torch), .npz or .safetensors."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no state dict file at {path!r}")
  suffix = os.path.splitext(path)[1].lower()
  if suffix == ".safetensors":
    return ArrayTensorFile(path, _load_safetensors(path))
  if suffix == ".npz":
    with np.load(path, allow_pickle=False) as archive:
      return ArrayTensorFile(path, {name: archive[name] for name in archive.files})
  if suffix in TORCH_SUFFIXES:
    return ArrayTensorFile(path, _load_torch(path))
  raise ValueError(f"{path}: unknown state dict container {suffix!r}; expected one of "
                   f"{TORCH_SUFFIXES + NUMPY_SUFFIXES}")


def write_state_dict(path: str, tensors: Mapping[str, np.ndarray]) -> str:
  """Writes a state dict as .npz or .safetensors (chosen by the suffix); returns `path`.

  The file appears complete or not at all (written aside, then renamed).
  """
  path = os.fspath(path)
  suffix = os.path.splitext(path)[1].lower()
  if suffix not in NUMPY_SUFFIXES:
    raise ValueError(f"{path}: state dicts are exported as .npz or .safetensors, not {suffix!r}")
  _make_parent(path)
  arrays = {name: np.asarray(value, order="C") for name, value in tensors.items()}
  partial = f"{path}.partial{suffix}"  # np.savez appends .npz to other names
  if suffix == ".npz":
    np.savez(partial, **arrays)
  else:  # the metadata `safetensors.torch.save_file` writes
    safetensors.numpy.save_file(arrays, partial, metadata={"format": "pt"})
  os.replace(partial, path)
  return path


def num_batches_tracked(names) -> dict[str, np.ndarray]:
  """The `num_batches_tracked` counter (int64 0) of each BatchNorm among `names`.

  PyTorch state dicts carry one per BatchNorm; exports add them so the file loads with
  ``model.load_state_dict(..., strict=True)``.
  """
  suffix = "running_mean"
  return {name[: -len(suffix)] + "num_batches_tracked": np.zeros((), np.int64)
          for name in names if name.endswith("." + suffix)}


STATE_DICT = Container(
    open=open_state_dict, write=write_state_dict, scope_separator=".",
    is_training_state=lambda name: name.endswith("num_batches_tracked"),
    export_extras=num_batches_tracked)


# ---------------------------------------------------------------------------------------
# Our orbax export (`d3d_jax.export`), as tensors named 'params/<path>' and
# 'batch_stats/<path>'.

COLLECTIONS = ("params", "batch_stats")


def open_export(path: str) -> ArrayTensorFile:
  """Our export at `path` (a directory or URL) as a `TensorFile`."""
  trees = load_model_variables(path)
  arrays = {}
  for collection, tree in zip(COLLECTIONS, trees):
    arrays.update({f"{collection}/{name}": value for name, value in
                   traverse_util.flatten_dict(dict(tree or {}), sep="/").items()})
  return ArrayTensorFile(str(paths.resolve(path)), arrays)


def write_export(path: str, tensors: Mapping[str, np.ndarray]) -> str:
  """Writes 'params/...' / 'batch_stats/...' tensors as our export; returns its path."""
  trees = {collection: {} for collection in COLLECTIONS}
  for name, value in tensors.items():
    collection, _, var_path = name.partition("/")
    if collection not in trees:
      raise ValueError(f"tensor {name!r}: d3d_jax names start with one of {COLLECTIONS}")
    trees[collection][var_path] = value
  return save_model_variables(path, *(traverse_util.unflatten_dict(trees[c], sep="/")
                                      for c in COLLECTIONS))


D3D_JAX_EXPORT = Container(open=open_export, write=write_export, scope_separator="/",
                           is_training_state=lambda name: False)
