"""Planning an import: which file tensor fills each variable of a model, checked both ways.

The plan is made from names and shapes only (no tensor data is read), in four steps that
this module follows top to bottom:

1. *Our variables*: a model's `params` / `batch_stats` trees (boxed or plain, concrete or
   `jax.eval_shape` abstract) as '/'-joined paths with shapes; `decompose` splits an
   S3DG-family path into the unit, part and leaf that format modules name tensors by.
2. *Layouts*: how a file tensor's layout relates to our variable's (`SAME`,
   `TORCH_CONV`, `LeadingOnes`, and the format's own through `Layout.bind`).
3. *Formats*: what a format module declares (`CheckpointFormat`): its file container,
   the `SourceTensor` holding each of our variables, the values it sets by design
   (`FixedValue`), and where its network sits in a file (scopes).
4. *The plan*: `plan_import` matches every variable to a file tensor and refuses a file
   that does not fit, listing every gap, surplus tensor and shape mismatch in one
   `CheckpointMismatchError`.
"""

import dataclasses
import re
from typing import Any, Callable, Mapping, Optional, Sequence

import flax.linen as nn
import numpy as np
from flax import traverse_util
from flax.core import frozen_dict

from d3d_jax.weights.tensor_files import COLLECTIONS, Container, TensorFile

Shape = tuple[int, ...]
VariableKey = tuple[str, str]  # (collection, path)

# ---------------------------------------------------------------------------------------
# 1. Our variables. Trainers hand importers the trees `model.init` returns: nested dicts
# (or FrozenDicts) whose leaves may be `nn.LogicallyPartitioned` boxes around arrays.


def is_boxed(leaf) -> bool:
  return isinstance(leaf, nn.meta.AxisMetadata)


def flatten(tree: Optional[Mapping[str, Any]]) -> dict[str, Any]:
  """``{'a/b/kernel': leaf}`` with boxes kept as leaves (use `unboxed` for values)."""
  if not tree:
    return {}
  return traverse_util.flatten_dict(frozen_dict.unfreeze(tree), sep="/",
                                    is_leaf=lambda _, x: is_boxed(x))


def unboxed(leaf):
  """The array (or ShapeDtypeStruct) inside a possibly (even doubly) boxed leaf."""
  while is_boxed(leaf):
    leaf = leaf.unbox()
  return leaf


def variable_shapes(params, batch_stats) -> dict[VariableKey, Shape]:
  """{(collection, path): shape} of a model's variables."""
  return {(collection, path): tuple(unboxed(leaf).shape)
          for collection, tree in zip(COLLECTIONS, (params, batch_stats))
          for path, leaf in flatten(tree).items()}


# Each variable of the S3DG family (see `d3d_jax.models.units.ConvUnit`), decomposed:
#
# | our path suffix                      | part          | leaves                      |
# |--------------------------------------|---------------|-----------------------------|
# | ``<unit>/conv/kernel``               | ``conv``      | kernel (T,H,W,Cin,Cout)     |
# | ``<unit>/bn/<leaf>``                 | ``bn``        | scale, bias; mean, var      |
# | ``<unit>/temporal/<leaf>``           | ``temporal``  | kernel (kt,1,1,C,C), bias   |
# | ``<unit>/temporal_bn/<leaf>``        | ``temporal_bn`` | scale, bias; mean, var    |
# | ``<unit>/self_gating/transformer_W/<leaf>`` | ``gate`` | kernel (C,C), bias        |
# | ``Logits/Conv3d_0c_1x1/<leaf>``      | ``logits``    | kernel (1,1,1,Cin,classes), bias |

LOGITS_UNIT = "Logits/Conv3d_0c_1x1"
STEM_KERNEL = "Conv3d_1a_7x7/conv/kernel"
STEM_TEMPORAL_KERNEL = "Conv3d_1a_7x7/temporal/kernel"
LOGITS_BIAS = LOGITS_UNIT + "/bias"

# (path suffix before the leaf, part); checked in order, longest first.
_PARTS = (
    ("self_gating/transformer_W", "gate"),
    ("temporal_bn", "temporal_bn"),
    ("temporal", "temporal"),
    ("conv", "conv"),
    ("bn", "bn"),
)


@dataclasses.dataclass(frozen=True)
class ModelTensor:
  """One variable of our model, decomposed.

  Attributes:
    unit: the conv unit, e.g. 'Mixed_3b/Branch_1/Conv3d_0b_3x3' or 'Logits/Conv3d_0c_1x1'.
    part: 'conv', 'bn', 'temporal', 'temporal_bn', 'gate' or 'logits'.
    leaf: 'kernel', 'bias', 'scale', 'mean' or 'var'.
  """

  unit: str
  part: str
  leaf: str

  @property
  def block(self) -> str:
    """The top-level module: 'Conv3d_1a_7x7', 'Mixed_3b', 'Logits', ..."""
    return self.unit.split("/")[0]

  @property
  def branch(self) -> Optional[tuple[str, str]]:
    """(branch, conv) inside an Inception block, e.g. ('Branch_1', 'Conv3d_0b_3x3')."""
    pieces = self.unit.split("/")
    return (pieces[1], pieces[2]) if len(pieces) == 3 else None


def decompose(path: str) -> Optional[ModelTensor]:
  """Our variable `path` as unit, part and leaf; None outside the S3DG family layout."""
  unit_and_part, _, leaf = path.rpartition("/")
  if unit_and_part == LOGITS_UNIT:
    return ModelTensor(LOGITS_UNIT, "logits", leaf)
  for suffix, part in _PARTS:
    if unit_and_part.endswith("/" + suffix):
      unit = unit_and_part[: -len(suffix) - 1]
      if unit.count("/") not in (0, 2):
        return None
      return ModelTensor(unit, part, leaf)
  return None


# ---------------------------------------------------------------------------------------
# 2. Layouts: how a file tensor's layout relates to our variable's.
#
# * `SAME`: identical layout. DeepMind Sonnet `w` and slim `weights` are (T,H,W,Cin,Cout),
#   exactly a Flax conv kernel.
# * `TORCH_CONV`: PyTorch `Conv3d.weight` is (Cout,Cin,T,H,W); ours is (T,H,W,Cin,Cout),
#   i.e. ``w.transpose(2, 3, 4, 1, 0)``, and back with ``transpose(4, 3, 0, 1, 2)``.
# * `LeadingOnes(rank, written)`: the file holds our rank-`rank` tensor behind leading
#   size-1 axes. slim's gate is a 1x1x1 conv, `transformer_W/weights` [1,1,1,C,C], where
#   ours is a Dense (C,C); the DeepMind Kinetics-600 checkpoint stores BN statistics as
#   [1,1,1,1,C]. Any number of leading ones is accepted on import; `written` are written
#   on export.


class Layout:
  """Base: identity layout."""

  def model_shape(self, file_shape: Sequence[int]) -> Optional[Shape]:
    """The shape our variable must have to hold this file tensor; None if impossible."""
    return tuple(file_shape)

  def file_shape(self, model_shape: Sequence[int]) -> Shape:
    """The file shape written for our variable of `model_shape`."""
    return tuple(model_shape)

  def to_model(self, array: np.ndarray) -> np.ndarray:
    return array

  def to_file(self, array: np.ndarray) -> np.ndarray:
    return array

  def describe(self) -> str:
    return "same layout"

  def bind(self, model_shape: Sequence[int]) -> "Layout":
    """The layout that fills a variable of exactly `model_shape` (itself, here).

    Layouts whose conversion depends on the variable's shape override it: inflating a
    2-D kernel repeats it over the variable's temporal size (`slim_inception_v1`).
    """
    del model_shape
    return self


class _TorchConv(Layout):
  _TO_MODEL = (2, 3, 4, 1, 0)
  _TO_FILE = (4, 3, 0, 1, 2)

  def model_shape(self, file_shape):
    if len(file_shape) != 5:
      return None
    return tuple(file_shape[i] for i in self._TO_MODEL)

  def file_shape(self, model_shape):
    return tuple(model_shape[i] for i in self._TO_FILE)

  def to_model(self, array):
    return np.ascontiguousarray(np.transpose(array, self._TO_MODEL))

  def to_file(self, array):
    return np.ascontiguousarray(np.transpose(array, self._TO_FILE))

  def describe(self):
    return "PyTorch (Cout,Cin,T,H,W) -> (T,H,W,Cin,Cout)"


@dataclasses.dataclass(frozen=True)
class LeadingOnes(Layout):
  rank: int
  written: int = 0

  def model_shape(self, file_shape):
    file_shape = tuple(file_shape)
    if len(file_shape) < self.rank or any(d != 1 for d in file_shape[:-self.rank]):
      return None
    return file_shape[len(file_shape) - self.rank:]

  def file_shape(self, model_shape):
    return (1,) * self.written + tuple(model_shape)

  def to_model(self, array):
    return array.reshape(self.model_shape(array.shape))

  def to_file(self, array):
    return array.reshape(self.file_shape(array.shape))

  def describe(self):
    return f"rank {self.rank} behind leading size-1 axes"


SAME = Layout()
TORCH_CONV = _TorchConv()


# ---------------------------------------------------------------------------------------
# 3. Formats. One `CheckpointFormat` per source; its `source` function names, for each of
# our variables, the file tensor that holds it (relative to the file's *scope*, the prefix
# such as ``RGB/inception_i3d/``) and the `Layout` to convert it with. Everything else is
# shared, so a format module is a name table plus its quirks.


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


# BatchNorm leaves as TF (Sonnet and slim alike) and PyTorch name them.
TF_BATCH_NORM_NAMES = {"bias": "beta", "scale": "gamma", "mean": "moving_mean",
                       "var": "moving_variance"}
TORCH_BATCH_NORM_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean",
                          "var": "running_var"}


def torch_conv_tensor(module: str, leaf: str) -> Optional[SourceTensor]:
  """Our conv `kernel` / `bias` in the PyTorch `Conv3d` called `module`."""
  if leaf == "kernel":
    return SourceTensor(f"{module}.weight", TORCH_CONV)
  return SourceTensor(f"{module}.bias") if leaf == "bias" else None


def torch_batch_norm_tensor(module: str, leaf: str) -> Optional[SourceTensor]:
  """Our BN `scale` / `bias` / `mean` / `var` in the PyTorch `BatchNorm3d` called `module`."""
  if leaf not in TORCH_BATCH_NORM_NAMES:
    return None
  return SourceTensor(f"{module}.{TORCH_BATCH_NORM_NAMES[leaf]}")


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
  """A checkpoint format: a container plus the name table of one reference network.

  Attributes:
    name: registry key, e.g. 'deepmind_i3d' (the CLI's ``--from``).
    description: one line for help texts.
    container: how the files are read and written (`tensor_files`).
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

  def resolve_scope(self, path: str, names, scope: Optional[str]) -> tuple[str, list[str]]:
    """The scope to import from, and every scope in the file (for the other networks).

    A scope is a prefix under which the file holds the stem anchor. With `scope` None
    the file must hold exactly one network of this format.
    """
    if self.stem_anchor is None:
      if scope:
        raise ValueError(f"{path}: {self.name} checkpoints have no scopes, got {scope!r}")
      return "", []
    anchor, separator = self.stem_anchor, self.container.scope_separator
    found = sorted({name[: -len(anchor)] for name in names if name.endswith(anchor)
                    and (name == anchor or name[: -len(anchor)].endswith(separator))})
    scope = self.normalize_scope(scope)
    if scope is not None:
      if scope not in found:
        raise ValueError(
            f"{path}: no {self.name} network under scope {scope!r} (no tensor "
            f"{scope + anchor!r}); scopes found: {found or 'none'}")
      return scope, found
    if not found:
      sample = sorted(names)[:8]
      raise ValueError(
          f"{path}: not a {self.name} checkpoint: no tensor named '...{anchor}' "
          f"(the first conv's kernel). First names in the file: {sample}")
    if len(found) > 1:
      raise ValueError(
          f"{path}: holds {len(found)} {self.name} networks, under scopes {found}; choose "
          f"one with scope= (CLI --scope, config model.init_from.scope)")
    return found[0], found


# ---------------------------------------------------------------------------------------
# 4. The plan. Five conventions are applied, each reported:
#
# * `exclude`: regexes (`re.search`) on our variable paths (``Logits/Conv3d_0c_1x1/kernel``,
#   ``Conv3d_1a_7x7/bn/mean``; the collection is not part of the path). A matched
#   variable keeps its initial value and the file tensor that would fill it is dropped.
#   Patterns matching a file tensor's name, with or without the network's scope, drop
#   that tensor too (e.g. another network in the same file; or ``^Logits/`` dropping a
#   Kinetics classifier that a model with other heads has no variable for).
# * `new_modules`: regexes, on the same paths, of the modules a model has that published
#   backbones lack (attention heads, say). A matched variable is loaded when the file
#   holds it (our own export of the whole model) and keeps its initial value when the
#   file does not; any other gap is still an error.
# * BN scales (gamma): Sonnet and slim BatchNorm have none, i.e. gamma = 1. If the model
#   has a scale and the format may lack gammas, the scale is set to ones. If the file has a
#   gamma the model lacks (``bn_scale=False``), it is accepted only if all ones
#   (`ImportPlan.unit_scales`, verified when the data is read).
# * Fixed values: variables a format has no tensor for by design (`CheckpointFormat.
#   fixed_value`, e.g. the temporal halves when inflating a 2-D network) are set to the
#   value the format declares.
# * Training state (optimizer slots, step counters, `num_batches_tracked`) and other
#   networks in the same file (other scopes) are skipped.


class CheckpointMismatchError(ValueError):
  """A checkpoint file does not fit the model; the message lists every offending name."""

  def __init__(self, path: str, format_name: str, missing: Sequence[str],
               extra: Sequence[str], mismatched: Sequence[str]):
    self.missing, self.extra, self.mismatched = list(missing), list(extra), list(mismatched)
    lines = [f"{path} ({format_name}) does not fit the model:"]
    if self.missing:
      lines.append(f"  {len(self.missing)} model variable(s) that nothing in the file fills "
                   f"(exclude them, or declare the model's new modules, to keep their "
                   f"initial values):")
      lines += [f"    {m}" for m in self.missing]
    if self.extra:
      lines.append(f"  {len(self.extra)} file tensor(s) that map to no model variable "
                   f"(wrong model options or format?):")
      lines += [f"    {e}" for e in self.extra]
    if self.mismatched:
      lines.append(f"  {len(self.mismatched)} shape mismatch(es):")
      lines += [f"    {m}" for m in self.mismatched]
    super().__init__("\n".join(lines))


@dataclasses.dataclass(frozen=True)
class Assignment:
  """File tensor `file_name`, converted with `layout`, fills variable (collection, path)."""

  collection: str
  path: str
  file_name: str
  layout: Layout


@dataclasses.dataclass
class ImportPlan:
  """What an import will do; every file tensor and model variable is accounted for."""

  scope: str  # the network's prefix in the file
  model_shapes: dict[VariableKey, Shape]
  assignments: list[Assignment] = dataclasses.field(default_factory=list)
  filled_with_ones: list[VariableKey] = dataclasses.field(default_factory=list)  # no gamma
  unit_scales: list[Assignment] = dataclasses.field(default_factory=list)  # must be all ones
  excluded: list[VariableKey] = dataclasses.field(default_factory=list)  # kept at init
  new_at_init: list[VariableKey] = dataclasses.field(default_factory=list)  # new, not in file
  skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # file tensor -> why
  # Variables the format sets itself, having no tensor for them by design.
  fixed: dict[VariableKey, FixedValue] = dataclasses.field(default_factory=dict)

  @property
  def kept_at_init(self) -> list[VariableKey]:
    """The variables that keep the values they had before the import."""
    return self.excluded + self.new_at_init


def compile_patterns(patterns, what: str = "exclude") -> list[re.Pattern]:
  """`patterns` as compiled regexes; a single string is one pattern."""
  if isinstance(patterns, str):
    patterns = (patterns,)
  compiled = []
  for pattern in patterns or ():
    try:
      compiled.append(re.compile(pattern))
    except re.error as e:
      raise ValueError(f"{what} pattern {pattern!r} is not a valid regex: {e}") from e
  return compiled


def plan_import(fmt: CheckpointFormat, path: str, file_shapes: Mapping[str, Sequence[int]],
                params, batch_stats, *, scope: Optional[str] = None, exclude=(),
                new_modules=()) -> ImportPlan:
  """Matches every variable of `params` / `batch_stats` to a tensor of `file_shapes`.

  Args:
    fmt: the file's format.
    path: the file, for messages.
    file_shapes: {file tensor name: shape}, every tensor of the file.
    params, batch_stats: the model's variable trees (shapes suffice).
    scope: the network's prefix in the file; None: the file holds exactly one.
    exclude, new_modules: regexes of variable paths (module comment above).

  Raises:
    CheckpointMismatchError: a variable nothing fills, a file tensor that fills nothing,
      or a shape mismatch (all listed by name).
  """
  scope, other_scopes = fmt.resolve_scope(path, file_shapes, scope)
  excluded_patterns = compile_patterns(exclude, "exclude")
  new_patterns = compile_patterns(new_modules, "new_modules")
  excluded = lambda name: any(p.search(name) for p in excluded_patterns)
  is_new = lambda var_path: any(p.search(var_path) for p in new_patterns)
  model_shapes = variable_shapes(params, batch_stats)
  bn_modules = {p.rpartition("/")[0] for c, p in model_shapes
                if c == "batch_stats" and p.endswith("/mean")}
  plan = ImportPlan(scope, model_shapes)
  claimed: dict[str, str] = {}
  missing, mismatched = [], []

  def check_shape(key, name, layout, shape) -> Optional[Layout]:
    """The layout bound to `shape` if the file tensor fits it, else None (recorded)."""
    file_shape = tuple(file_shapes[name])
    bound = layout.bind(tuple(shape))
    if bound.model_shape(file_shape) == tuple(shape):
      return bound
    mismatched.append(
        f"{key[0]}/{key[1]}: file tensor {name!r} has shape {list(file_shape)}, the model "
        f"needs {list(shape)} (stored as {list(layout.file_shape(shape))}; {layout.describe()})")
    return None

  for key in sorted(model_shapes):
    collection, var_path = key
    source = fmt.source(collection, var_path)
    name = scope + source.name if source else None
    if name is not None:
      claimed[name] = var_path
    if excluded(var_path):
      plan.excluded.append(key)
    elif name in file_shapes:
      layout = check_shape(key, name, source.layout, model_shapes[key])
      if layout is not None:
        plan.assignments.append(Assignment(collection, var_path, name, layout))
    elif is_new(var_path):
      plan.new_at_init.append(key)
    elif source is None:
      fixed = fmt.fixed_value(collection, var_path)
      if fixed is not None:
        plan.fixed[key] = fixed
      else:
        missing.append(f"{collection}/{var_path}  (no {fmt.name} tensor holds it)")
    elif (var_path.endswith("/scale") and var_path.rpartition("/")[0] in bn_modules
          and not fmt.bn_scale_in_file):
      plan.filled_with_ones.append(key)
    else:
      missing.append(f"{collection}/{var_path}  <- {name!r} (not in the file)")

  # A file gamma for a model BN without scale (module has a bias but no scale).
  for module in sorted(bn_modules):
    scale_path, bias_key = f"{module}/scale", ("params", f"{module}/bias")
    if ("params", scale_path) in model_shapes or bias_key not in model_shapes:
      continue
    source = fmt.source("params", scale_path)
    name = scope + source.name if source else None
    if name not in file_shapes:
      continue
    claimed[name] = scale_path
    if not excluded(scale_path):
      layout = check_shape(("params", scale_path), name, source.layout, model_shapes[bias_key])
      if layout is not None:
        plan.unit_scales.append(Assignment("params", scale_path, name, layout))

  extra = []
  for name in sorted(file_shapes):
    if name in claimed:
      if excluded(claimed[name]):
        plan.skipped[name] = "excluded"
      continue
    other = [s for s in other_scopes if s != scope and name.startswith(s)]
    if fmt.container.is_training_state(name):
      plan.skipped[name] = "training state"
    elif other:
      plan.skipped[name] = f"another network (scope {other[0]!r})"
    elif excluded(name) or excluded(name[len(scope):] if name.startswith(scope) else name):
      plan.skipped[name] = "excluded"
    else:
      extra.append(f"{name} {list(file_shapes[name])}")

  if missing or extra or mismatched:
    raise CheckpointMismatchError(path, fmt.name, missing, extra, mismatched)
  return plan

