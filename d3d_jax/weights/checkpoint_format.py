"""What a checkpoint format module provides: file I/O, names and layouts, model defaults.

One `CheckpointFormat` per source (`deepmind_i3d`, `slim_s3dg`, `torchvision_s3d`,
`pytorch_i3d`, and our own `d3d_jax`). Its `source` function names, for each variable of
our model, the file tensor that holds it (relative to the file's *scope*, the prefix
such as ``RGB/inception_i3d/``) and the `Layout` to convert it with. Everything
else — completeness checks both ways, shape checks, BN-scale conventions — is shared
(`completeness`, `importer`), so a format module is a name table plus its quirks.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import numpy as np

from d3d_jax.weights.layouts import SAME, Layout
from d3d_jax.weights.tensor_files import TensorFile


@dataclasses.dataclass(frozen=True)
class SourceTensor:
  """The file tensor holding one of our variables: its name (without scope) and layout."""

  name: str
  layout: Layout = SAME


@dataclasses.dataclass(frozen=True)
class FixedValue:
  """A variable a format has no tensor for by design, and the value it is set to.

  Attributes:
    make: the variable's shape -> its value (float32).
    why: what the value is and why, for import reports (e.g. 'identity: ...').
  """

  make: Callable[[tuple[int, ...]], np.ndarray]
  why: str


@dataclasses.dataclass(frozen=True)
class Container:
  """How a family of files is stored: TF checkpoints, PyTorch state dicts, our orbax dirs.

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


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
  """A checkpoint format: a container plus the name table of one reference network.

  Attributes:
    name: registry key, e.g. 'deepmind_i3d' (the CLI's ``--from``).
    description: one line for help texts.
    container: how the files are read and written.
    default_model: `build_model` name of the network the published files hold.
    model_defaults: `build_model` options the reference network needs (e.g. BN scale and
      symmetric padding for PyTorch ports).
    stem_anchor: the (scope-less) name of the first conv's kernel; finding it locates
      the scope and tells whether a file is of this format at all. None: no scopes.
    source: maps (collection, our variable path) to its `SourceTensor`, or None when
      the format has no tensor for that variable.
    bn_scale_in_file: whether BN scales (gamma) are always stored. False for Sonnet /
      slim, whose BatchNorm has no gamma: a missing gamma is 1 and is filled with ones.
    export_scope: input channels -> the scope exports write (e.g. 'RGB/inception_i3d/').
    fixed_value: maps (collection, our variable path), for a variable `source` has no
      tensor for, to the `FixedValue` the format sets it to, or None (then a gap in
      the file is an error). A 2-D network inflated to 3-D sets the temporal halves of
      separable convs to the identity this way.
  """

  name: str
  description: str
  container: Container
  default_model: str
  model_defaults: Mapping[str, Any]
  stem_anchor: Optional[str]
  source: Callable[[str, str], Optional[SourceTensor]]
  bn_scale_in_file: bool
  export_scope: Callable[[int], str] = lambda input_channels: ""
  fixed_value: Callable[[str, str], Optional[FixedValue]] = lambda collection, path: None

  def open(self, path: str) -> TensorFile:
    return self.container.open(path)

  def write(self, path: str, tensors: Mapping[str, np.ndarray]) -> str:
    return self.container.write(path, tensors)

  def normalize_scope(self, scope: Optional[str]) -> Optional[str]:
    """'RGB/inception_i3d' -> 'RGB/inception_i3d/' (None and '' stay)."""
    separator = self.container.scope_separator
    if scope and not scope.endswith(separator):
      return scope + separator
    return scope

  def find_scopes(self, names) -> list[str]:
    """Every prefix under which the file holds a network of this format."""
    anchor = self.stem_anchor
    scopes = set()
    for name in names:
      if name.endswith(anchor):
        scope = name[: -len(anchor)]
        if not scope or scope.endswith(self.container.scope_separator):
          scopes.add(scope)
    return sorted(scopes)
  def resolve_scope(self, path: str, names, scope: Optional[str]) -> tuple[str, list[str]]:
    """The scope to import from, and every scope in the file (for the other networks).

    With `scope` None the file must hold exactly one network of this format.
    """
    if self.stem_anchor is None:
      if scope:
        raise ValueError(f"{path}: {self.name} checkpoints have no scopes, got {scope!r}")
      return "", []
    found = self.find_scopes(names)
    scope = self.normalize_scope(scope)
    if scope is not None:
      if scope not in found:
        raise ValueError(
            f"{path}: no {self.name} network under scope {scope!r} (no tensor "
            f"{scope + self.stem_anchor!r}); scopes found: {found or 'none'}")
      return scope, found
    if not found:
      sample = sorted(names)[:8]
      raise ValueError(
          f"{path}: not a {self.name} checkpoint: no tensor named '...{self.stem_anchor}' "
          f"(the first conv's kernel). First names in the file: {sample}")
    if len(found) > 1:
      raise ValueError(
          f"{path}: holds {len(found)} {self.name} networks, under scopes {found}; choose "
          f"one with scope= (CLI --scope, config model.init_from.scope)")
    return found[0], found
