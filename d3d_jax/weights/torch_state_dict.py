"""PyTorch state dicts (torchvision S3D, pytorch-i3d): read and write without torch.

A state dict is a flat ``{'features.0.0.0.weight': tensor}`` mapping. Three containers:

* ``.pt`` / ``.pth`` / ``.bin``: `torch.save` pickles, read with torch when it is
  installed (``pip install d3d_jax[torch]``); a ``{'state_dict': ...}`` wrapper is
  unwrapped;
* ``.npz``: ``np.savez(path, **{k: v.numpy() for k, v in state_dict.items()})``;
* ``.safetensors``: ``safetensors.torch.save_file(state_dict, path)``, read and written
  here with the `safetensors` package's NumPy API.

The last two load without torch. Exports write ``.npz`` or ``.safetensors``.
"""

import os
from typing import Mapping, Optional

import numpy as np
import safetensors
import safetensors.numpy

from d3d_jax.weights.checkpoint_format import Container, SourceTensor
from d3d_jax.weights.layouts import TORCH_CONV
from d3d_jax.weights.tensor_files import ArrayTensorFile, TensorFile

# PyTorch BatchNorm state-dict entries for our BN leaves.
BATCH_NORM_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean",
                    "var": "running_var"}

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
NUMPY_SUFFIXES = (".npz", ".safetensors")

EXPORT_ONE_LINER = (
    "python -c \"import sys, torch, numpy as np; sd = torch.load(sys.argv[1], "
    "map_location='cpu'); sd = sd.get('state_dict', sd); np.savez(sys.argv[2], "
    "**{k: v.float().numpy() if v.is_floating_point() else v.numpy() "
    "for k, v in sd.items()})\" IN.pt OUT.npz")


def conv_tensor(module: str, leaf: str) -> Optional[SourceTensor]:
  """Our conv `kernel` / `bias` in the `Conv3d` called `module` (kernel transposed)."""
  if leaf == "kernel":
    return SourceTensor(f"{module}.weight", TORCH_CONV)
  return SourceTensor(f"{module}.bias") if leaf == "bias" else None


def batch_norm_tensor(module: str, leaf: str) -> Optional[SourceTensor]:
  """Our BN `scale` / `bias` / `mean` / `var` in the `BatchNorm3d` called `module`."""
  return SourceTensor(f"{module}.{BATCH_NORM_NAMES[leaf]}") if leaf in BATCH_NORM_NAMES else None


def is_training_state(name: str) -> bool:
  """BatchNorm's `num_batches_tracked` counters are not network weights."""
  return name.endswith("num_batches_tracked")


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


def open_file(path: str) -> TensorFile:
  """Opens a state dict saved as .pt/.pth/.bin (torch), .npz or .safetensors."""
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


def write(path: str, tensors: Mapping[str, np.ndarray]) -> str:
  """Writes a state dict as .npz or .safetensors (chosen by the suffix); returns `path`.

  The file appears complete or not at all (written aside, then renamed).
  """
  path = os.fspath(path)
  suffix = os.path.splitext(path)[1].lower()
  if suffix not in NUMPY_SUFFIXES:
    raise ValueError(f"{path}: state dicts are exported as .npz or .safetensors, not {suffix!r}")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
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


CONTAINER = Container(open=open_file, write=write, is_training_state=is_training_state,
                      scope_separator=".", export_extras=num_batches_tracked)
