"""Matching a model's variables to a file's tensors, with completeness checked both ways.

`plan_import` decides, from names and shapes only (no tensor data is read), which file
tensor fills each variable, and refuses a file that does not fit: every variable nothing
fills, every file tensor that maps to no variable, and every shape mismatch are listed
together in one `CheckpointMismatchError`. Four conventions are applied, each reported:

* `exclude`: regexes (`re.search`) on our variable paths (``Logits/Conv3d_0c_1x1/kernel``,
  ``Conv3d_1a_7x7/bn/mean``; the collection is not part of the path). A matched
  variable keeps its initial value and the file tensor that would fill it is dropped.
  Patterns matching a file tensor's name drop that tensor too (e.g. another network in
  the same file).
* BN scales (gamma): Sonnet and slim BatchNorm have none, i.e. gamma = 1. If the model
  has a scale and the format may lack gammas, the scale is set to ones. If the file has a
  gamma the model lacks (``bn_scale=False``), it is accepted only if all ones
  (`ImportPlan.unit_scales`, verified when the data is read).
* Fixed values: variables a format has no tensor for by design (`CheckpointFormat.
  fixed_value`, e.g. the temporal halves when inflating a 2-D network) are set to the
  value the format declares; any other gap is still an error.
* Training state (optimizer slots, step counters, `num_batches_tracked`) and other
  networks in the same file (other scopes) are skipped.
"""

import dataclasses
import re
from typing import Mapping, Optional, Sequence

from d3d_jax.weights.checkpoint_format import CheckpointFormat, FixedValue
from d3d_jax.weights.layouts import Layout

VariableKey = tuple[str, str]  # (collection, path)


class CheckpointMismatchError(ValueError):
  """A checkpoint file does not fit the model; the message lists every offending name."""

  def __init__(self, path: str, format_name: str, missing: Sequence[str],
               extra: Sequence[str], mismatched: Sequence[str]):
    self.missing, self.extra, self.mismatched = list(missing), list(extra), list(mismatched)
    lines = [f"{path} ({format_name}) does not fit the model:"]
    if self.missing:
      lines.append(f"  {len(self.missing)} model variable(s) that nothing in the file fills "
                   f"(exclude them to keep their initial values):")
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

  assignments: list[Assignment]
  filled_with_ones: list[VariableKey]  # BN scales the format does not store (gamma = 1)
  unit_scales: list[Assignment]  # file gammas the model lacks: must be all ones
  excluded: list[VariableKey]  # variables kept at their initial values
  skipped: dict[str, str]  # file tensor -> why it is not loaded
  # Variables the format sets itself, having no tensor for them by design
  # (`CheckpointFormat.fixed_value`), e.g. the temporal halves of an inflated 2-D net.
  fixed: dict[VariableKey, FixedValue] = dataclasses.field(default_factory=dict)


def compile_patterns(exclude) -> list[re.Pattern]:
  """`exclude` as compiled regexes; a single string is one pattern."""
  if isinstance(exclude, str):
    exclude = (exclude,)
  compiled = []
  for pattern in exclude or ():
    try:
      compiled.append(re.compile(pattern))
    except re.error as e:
      raise ValueError(f"exclude pattern {pattern!r} is not a valid regex: {e}") from e
  return compiled


def _bn_modules(model_shapes: Mapping[VariableKey, tuple]) -> set[str]:
  return {path.rpartition("/")[0] for coll, path in model_shapes
          if coll == "batch_stats" and path.endswith("/mean")}


def plan_import(fmt: CheckpointFormat, path: str, file_shapes: Mapping[str, tuple],
                model_shapes: Mapping[VariableKey, tuple], scope: str,
                other_scopes: Sequence[str] = (), exclude=()) -> ImportPlan:
  """Matches every model variable to a file tensor; raises `CheckpointMismatchError`."""
  patterns = compile_patterns(exclude)
  excluded_name = lambda name: any(p.search(name) for p in patterns)
  bn_modules = _bn_modules(model_shapes)
  plan = ImportPlan([], [], [], [], {})
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
    if excluded_name(var_path):
      plan.excluded.append(key)
      continue
    if source is None:
      fixed = fmt.fixed_value(collection, var_path)
      if fixed is not None:
        plan.fixed[key] = fixed
      else:
        missing.append(f"{collection}/{var_path}  (no {fmt.name} tensor holds it)")
    elif name in file_shapes:
      layout = check_shape(key, name, source.layout, model_shapes[key])
      if layout is not None:
        plan.assignments.append(Assignment(collection, var_path, name, layout))
    elif (var_path.endswith("/scale") and var_path.rpartition("/")[0] in bn_modules
          and not fmt.bn_scale_in_file):
      plan.filled_with_ones.append(key)
    else:
      missing.append(f"{collection}/{var_path}  <- {name!r} (not in the file)")

  for module in sorted(bn_modules):
    scale_path, bias_key = f"{module}/scale", ("params", f"{module}/bias")
    if ("params", scale_path) in model_shapes or bias_key not in model_shapes:
      continue
    source = fmt.source("params", scale_path)
    name = scope + source.name if source else None
    if name not in file_shapes:
      continue
    claimed[name] = scale_path
    if not excluded_name(scale_path):
      layout = check_shape(("params", scale_path), name, source.layout, model_shapes[bias_key])
      if layout is not None:
        plan.unit_scales.append(Assignment("params", scale_path, name, layout))

  extra = []
  for name in sorted(file_shapes):
    if name in claimed:
      continue
    other = [s for s in other_scopes if s != scope and name.startswith(s)]
    if fmt.container.is_training_state(name):
      plan.skipped[name] = "training state"
    elif other:
      plan.skipped[name] = f"another network (scope {other[0]!r})"
    elif excluded_name(name):
      plan.skipped[name] = "excluded"
    else:
      extra.append(f"{name} {list(file_shapes[name])}")
  for name, var_path in claimed.items():
    if name in file_shapes and excluded_name(var_path):
      plan.skipped[name] = "excluded"

  if missing or extra or mismatched:
    raise CheckpointMismatchError(path, fmt.name, missing, extra, mismatched)
  return plan
