"""Import a checkpoint file into a model's variables, and export them in a file format.

`import_checkpoint(format, path, params, batch_stats)` fills the given variable trees
(as returned by `model.init`, boxed or plain, possibly sharded) from a published file:
names and shapes are matched first (`completeness.plan_import`, which refuses
incomplete or surplus files), then each tensor is read once, converted to our layout and
placed like the variable it replaces. `export_checkpoint` writes the reverse, in the
reference names, shapes and layouts (round-trip tests, and PyTorch / TF users of our
weights); `expected_file_shapes` is the same map on shapes only.
"""

import dataclasses
from typing import Any, Mapping, Optional

import jax
import numpy as np

from d3d_jax.weights import completeness, variable_trees
from d3d_jax.weights.checkpoint_format import CheckpointFormat
from d3d_jax.weights.registry import get_format
from d3d_jax.weights.tensor_files import TensorFile

STEM_KERNEL = "Conv3d_1a_7x7/conv/kernel"
STEM_TEMPORAL_KERNEL = "Conv3d_1a_7x7/temporal/kernel"
LOGITS_BIAS = "Logits/Conv3d_0c_1x1/bias"


@dataclasses.dataclass(frozen=True)
class ImportReport:
  """What an import did, for logs; every file tensor and model variable is in one list."""

  format: str
  path: str
  scope: str
  loaded: tuple[str, ...]
  excluded: tuple[str, ...]
  filled_with_ones: tuple[str, ...]
  unit_scales_dropped: tuple[str, ...]
  skipped: Mapping[str, str]
  fixed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # variable -> why

  def summary(self) -> str:
    lines = [f"Imported {len(self.loaded)} variables from {self.path} ({self.format}"
             + (f", scope {self.scope!r})" if self.scope else ")")]
    if self.excluded:
      lines.append(f"  kept at initial values (excluded): {', '.join(self.excluded)}")
    if self.filled_with_ones:
      lines.append(f"  BN scales set to 1 (the format has no gamma): {len(self.filled_with_ones)}")
    if self.unit_scales_dropped:
      lines.append(f"  all-ones BN gammas dropped (model has no BN scale): "
                   f"{len(self.unit_scales_dropped)}")
    if self.fixed:
      whys = {}
      for why in self.fixed.values():
        whys[why] = whys.get(why, 0) + 1
      lines.append("  set by the format (no tensor for them by design): " + ", ".join(
          f"{count} {why}" for why, count in sorted(whys.items())))
    if self.skipped:
      reasons = {}
      for reason in self.skipped.values():
        reasons[reason] = reasons.get(reason, 0) + 1
      lines.append("  file tensors not loaded: " + ", ".join(
          f"{count} {reason}" for reason, count in sorted(reasons.items())))
    return "\n".join(lines)


def _model_shapes(params, batch_stats) -> dict[tuple[str, str], tuple[int, ...]]:
  shapes = {}
  for collection, tree in (("params", params), ("batch_stats", batch_stats)):
    shapes.update({(collection, path): shape
                   for path, shape in variable_trees.shapes(tree or {}).items()})
  return shapes


def import_tensors(fmt: CheckpointFormat, tensor_file: TensorFile, params, batch_stats, *,
                   exclude=(), scope: Optional[str] = None):
  """`import_checkpoint` on an opened `TensorFile`. Returns (params, batch_stats, report)."""
  file_shapes = tensor_file.shapes
  scope, scopes = fmt.resolve_scope(tensor_file.path, file_shapes, scope)
  model_shapes = _model_shapes(params, batch_stats)
  plan = completeness.plan_import(fmt, tensor_file.path, file_shapes, model_shapes, scope,
                                  scopes, exclude)
  flat = {"params": variable_trees.flatten(params or {}),
          "batch_stats": variable_trees.flatten(batch_stats or {})}
  abstract = [f"{c}/{p}" for c, p in plan.excluded
              if not isinstance(variable_trees.unboxed(flat[c][p]), (jax.Array, np.ndarray))]
  if abstract:
    raise ValueError(f"excluded variables keep their initial values, but these have none "
                     f"(abstract shapes given): {abstract}")

  new_values = {"params": {}, "batch_stats": {}}
  for a in plan.assignments:
    new_values[a.collection][a.path] = a.layout.to_model(tensor_file.read(a.file_name))
  for collection, path in plan.filled_with_ones:
    new_values[collection][path] = np.ones(model_shapes[(collection, path)], np.float32)
  for (collection, path), fixed in plan.fixed.items():
    new_values[collection][path] = fixed.make(model_shapes[(collection, path)])
  for a in plan.unit_scales:
    gamma = tensor_file.read(a.file_name)
    if not np.all(gamma == 1):
      raise ValueError(
          f"{tensor_file.path}: BN scale {a.file_name!r} is not all ones (range "
          f"[{gamma.min()}, {gamma.max()}]) but the model has no BN scale for {a.path!r}: "
          f"build the model with bn_scale=True")

  report = ImportReport(
      format=fmt.name, path=tensor_file.path, scope=scope,
      loaded=tuple(f"{a.collection}/{a.path}" for a in plan.assignments),
      excluded=tuple(f"{c}/{p}" for c, p in plan.excluded),
      filled_with_ones=tuple(f"{c}/{p}" for c, p in plan.filled_with_ones),
      unit_scales_dropped=tuple(a.file_name for a in plan.unit_scales),
      skipped=dict(plan.skipped),
      fixed={f"{c}/{p}": fixed.why for (c, p), fixed in plan.fixed.items()})
  return (variable_trees.replace(params, new_values["params"]),
          variable_trees.replace(batch_stats or {}, new_values["batch_stats"]), report)


def import_checkpoint(format_name, path: str, params, batch_stats, *, exclude=(),
                      scope: Optional[str] = None):
  """Fills `params` / `batch_stats` from the checkpoint at `path`.

  Args:
    format_name: a registry name ('deepmind_i3d', 'slim_s3dg', 'torchvision_s3d',
      'pytorch_i3d', 'd3d_jax') or a `CheckpointFormat`.
    path: the file (TF checkpoint prefix, .pt/.npz/.safetensors, orbax directory).
    params, batch_stats: the model's variables (`model.init(...)['params']`, ...); they
      give the names, shapes, dtypes, boxes and shardings of the result. Excluded
      variables keep these values.
    exclude: regexes of variable paths not to load (e.g. ``'^Logits/'`` for a new head).
    scope: the network's prefix in the file (e.g. 'Flow/inception_i3d/'); by default the
      file must hold exactly one network.

  Returns:
    (params, batch_stats, `ImportReport`).

  Raises:
    CheckpointMismatchError: a variable nothing fills, a file tensor that fills nothing,
      or a shape mismatch (all listed by name).
  """
  fmt = get_format(format_name)
  return import_tensors(fmt, fmt.open(path), params, batch_stats, exclude=exclude, scope=scope)


def _input_channels(params) -> int:
  shapes = variable_trees.shapes(params)
  if STEM_KERNEL not in shapes:
    raise ValueError(f"the model has no {STEM_KERNEL!r}; not an S3DG-family network")
  return shapes[STEM_KERNEL][3]


def _file_entries(fmt: CheckpointFormat, params, batch_stats, scope: Optional[str]):
  """{file name: (collection, path or None for a gamma of ones, layout, model shape)}."""
  if scope is None:
    scope = fmt.export_scope(_input_channels(params))
  scope = fmt.normalize_scope(scope)
  model_shapes = _model_shapes(params, batch_stats)
  entries, unmapped = {}, []
  for (collection, path), shape in sorted(model_shapes.items()):
    source = fmt.source(collection, path)
    if source is None:
      unmapped.append(f"{collection}/{path}")
      continue
    entries[scope + source.name] = (collection, path, source.layout, shape)
  if unmapped:
    raise ValueError(f"the {fmt.name} format has no tensor for these model variables "
                     f"(wrong format for this network?): {unmapped}")
  if fmt.bn_scale_in_file:  # write gamma = 1 for a model without BN scale
    for collection, path in list(model_shapes):
      module = path.rpartition("/")[0]
      if (collection == "batch_stats" and path.endswith("/mean")
          and ("params", f"{module}/scale") not in model_shapes):
        source = fmt.source("params", f"{module}/scale")
        entries[scope + source.name] = ("params", None, source.layout,
                                        model_shapes[("params", f"{module}/bias")])
  return entries


def expected_file_shapes(format_name, params, batch_stats,
                         scope: Optional[str] = None) -> dict[str, tuple[int, ...]]:
  """The names and shapes an export writes (works on `jax.eval_shape` trees)."""
  fmt = get_format(format_name)
  entries = _file_entries(fmt, params, batch_stats, scope)
  shapes = {name: layout.file_shape(shape) for name, (_, _, layout, shape) in entries.items()}
  extras = fmt.container.export_extras(list(entries))
  shapes.update({name: value.shape for name, value in extras.items()})
  return shapes


def export_tensors(format_name, params, batch_stats,
                   scope: Optional[str] = None) -> dict[str, np.ndarray]:
  """Our variables as {file name: array} in the format's names, shapes and layouts."""
  fmt = get_format(format_name)
  flat = {"params": variable_trees.flatten(params),
          "batch_stats": variable_trees.flatten(batch_stats or {})}
  tensors = {}
  entries = _file_entries(fmt, params, batch_stats, scope)
  for name, (collection, path, layout, shape) in entries.items():
    if path is None:
      tensors[name] = layout.to_file(np.ones(shape, np.float32))
    else:
      value = np.asarray(jax.device_get(variable_trees.unboxed(flat[collection][path])))
      tensors[name] = layout.to_file(value)
  tensors.update(fmt.container.export_extras(list(tensors)))
  return tensors


def export_checkpoint(format_name, path: str, params, batch_stats,
                      scope: Optional[str] = None) -> str:
  """Writes our variables as a `format_name` file at `path`; returns the written path."""
  fmt = get_format(format_name)
  return fmt.write(path, export_tensors(fmt, params, batch_stats, scope))


def infer_model_options(format_name, tensor_file: TensorFile,
                        scope: Optional[str] = None) -> dict[str, Any]:
  """`build_model` options read off the file: num_classes, input_channels and
  first_temporal_kernel_size (e.g. 3 or 7 for slim S3D-G, 7 for torchvision's conv1;
  not for a 2-D file, whose kernels inflate to the model's temporal size)."""
  fmt = get_format(format_name)
  shapes = tensor_file.shapes
  scope, _ = fmt.resolve_scope(tensor_file.path, shapes, scope)

  def model_shape(path):
    source = fmt.source("params", path)
    if source is None or scope + source.name not in shapes:
      return None
    return source.layout.model_shape(shapes[scope + source.name])

  stem, stem_temporal, logits_bias = (model_shape(p) for p in (
      STEM_KERNEL, STEM_TEMPORAL_KERNEL, LOGITS_BIAS))
  if stem is None or len(stem) != 5:
    raise ValueError(f"{tensor_file.path}: cannot read the first conv's kernel shape")
  options = {"input_channels": stem[3]}
  first_temporal_size = (stem_temporal or stem)[0]
  if first_temporal_size is not None:  # None: any (a 2-D kernel, inflated to the model's)
    options["first_temporal_kernel_size"] = first_temporal_size
  if logits_bias is not None:
    options["num_classes"] = logits_bias[0]
  return options
