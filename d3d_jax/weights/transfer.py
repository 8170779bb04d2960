"""Moving a model's variables into and out of checkpoint files: import, init_from, export.

`import_checkpoint(format, path, params, batch_stats)` fills the given variable trees (as
`model.init` returns them: boxed or plain, possibly sharded) from a file: the format's
container opens it (`tensor_files`), `import_plan.plan_import` matches names and shapes
and refuses a file that does not fit, then each tensor is read once, converted to our
layout and placed like the variable it replaces (same box, dtype and sharding), so the
result drops into the train state unchanged. `load_init_from` is the trainer's
`model.init_from` hook on top of it. `export_checkpoint` writes the reverse, in the
reference names, shapes and layouts (round-trip tests, and PyTorch / TF users of our
weights); `expected_file_shapes` is the same map on shapes only. `FORMATS` names the
formats, and `infer_model_options` reads off a file which `build_model` call it fits.
"""

import collections
import dataclasses
from typing import Any, Mapping, Optional

import jax
import numpy as np
from absl import logging
from flax import traverse_util
from flax.core import frozen_dict

from d3d_jax.weights import (d3d_jax_format, deepmind_i3d, pytorch_i3d,
                             slim_inception_v1, slim_s3dg, torchvision_resnet,
                             torchvision_s3d)
from d3d_jax.weights.import_plan import (LOGITS_BIAS, STEM_KERNEL, STEM_TEMPORAL_KERNEL,
                                         CheckpointFormat, flatten, is_boxed, plan_import,
                                         unboxed, variable_shapes)
from d3d_jax.weights.tensor_files import COLLECTIONS, TensorFile

# The formats by name: the CLI's ``--from`` and `model.init_from.format`.
FORMATS: dict[str, CheckpointFormat] = {
    fmt.name: fmt for fmt in (
        deepmind_i3d.FORMAT,
        slim_s3dg.FORMAT,
        slim_inception_v1.FORMAT,
        torchvision_s3d.FORMAT,
        torchvision_resnet.FORMAT,
        pytorch_i3d.FORMAT,
        d3d_jax_format.FORMAT,
    )
}


def get_format(name) -> CheckpointFormat:
  """The format called `name` (a `CheckpointFormat` passes through)."""
  if isinstance(name, CheckpointFormat):
    return name
  if name not in FORMATS:
    raise ValueError(f"unknown checkpoint format {name!r}; known: {sorted(FORMATS)}")
  return FORMATS[name]


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


# ---------------------------------------------------------------------------------------
# Import.


def _placed_like(old, new: np.ndarray):
  """`new` with the dtype of `old`, inside the same (possibly nested) boxes, on the
  devices / sharding of `old` if it is a jax.Array."""
  if is_boxed(old):
    return old.replace_boxed(_placed_like(old.unbox(), new))
  new = np.asarray(new, dtype=old.dtype)
  return jax.device_put(new, old.sharding) if isinstance(old, jax.Array) else new


def replace(tree: Mapping[str, Any], values: Mapping[str, np.ndarray]):
  """A copy of `tree` where each '/'-joined path in `values` holds the new value.

  Boxes (`nn.LogicallyPartitioned`), dtypes and shardings of the old leaves are kept;
  paths not in `values` keep their old leaves. A FrozenDict input gives a FrozenDict.
  """
  flat = flatten(tree)
  unknown = set(values) - set(flat)
  if unknown:
    raise KeyError(f"no such variables in the tree: {sorted(unknown)}")
  for path, new in values.items():
    flat[path] = _placed_like(flat[path], new)
  rebuilt = traverse_util.unflatten_dict(flat, sep="/")
  return frozen_dict.freeze(rebuilt) if isinstance(tree, frozen_dict.FrozenDict) else rebuilt


def _counts(reasons) -> str:
  """'2 excluded, 116 training state': how often each reason occurs, sorted."""
  return ", ".join(f"{count} {reason}"
                   for reason, count in sorted(collections.Counter(reasons).items()))


@dataclasses.dataclass(frozen=True)
class ImportReport:
  """What an import did, for logs; every file tensor and model variable is in one list.

  Attributes:
    loaded: variables ('params/...', 'batch_stats/...') filled from the file.
    excluded: variables kept at their initial values by `exclude`.
    new_at_init: variables of `new_modules` the file does not hold, kept at their
      initial values.
    filled_with_ones: BN scales set to 1 (the format stores no gamma).
    unit_scales_dropped: file gammas, all ones, for a model without BN scale.
    skipped: file tensor -> why it is not loaded.
    fixed: variable -> the value the format sets it to, and why.
  """

  format: str
  path: str
  scope: str
  loaded: tuple[str, ...]
  excluded: tuple[str, ...]
  filled_with_ones: tuple[str, ...]
  unit_scales_dropped: tuple[str, ...]
  skipped: Mapping[str, str]
  fixed: Mapping[str, str] = dataclasses.field(default_factory=dict)
  new_at_init: tuple[str, ...] = ()

  def summary(self) -> str:
    lines = [f"Imported {len(self.loaded)} variables from {self.path} ({self.format}"
             + (f", scope {self.scope!r})" if self.scope else ")")]
    if self.excluded:
      lines.append(f"  kept at initial values (excluded): {', '.join(self.excluded)}")
    if self.new_at_init:
      lines.append(f"  kept at initial values (new modules, not in the file): "
                   f"{', '.join(self.new_at_init)}")
    if self.filled_with_ones:
      lines.append(f"  BN scales set to 1 (the format has no gamma): {len(self.filled_with_ones)}")
    if self.unit_scales_dropped:
      lines.append(f"  all-ones BN gammas dropped (model has no BN scale): "
                   f"{len(self.unit_scales_dropped)}")
    if self.fixed:
      lines.append("  set by the format (no tensor for them by design): "
                   + _counts(self.fixed.values()))
    if self.skipped:
      lines.append("  file tensors not loaded: " + _counts(self.skipped.values()))
    return "\n".join(lines)


def import_tensors(fmt: CheckpointFormat, tensor_file: TensorFile, params, batch_stats, *,
                   exclude=(), scope: Optional[str] = None, new_modules=()):
  """`import_checkpoint` on an opened `TensorFile`. Returns (params, batch_stats, report)."""
  plan = plan_import(fmt, tensor_file.path, tensor_file.shapes, params, batch_stats,
                     scope=scope, exclude=exclude, new_modules=new_modules)
  trees = dict(zip(COLLECTIONS, (params, batch_stats or {})))
  flat = {collection: flatten(tree) for collection, tree in trees.items()}
  abstract = [f"{c}/{p}" for c, p in plan.kept_at_init
              if not isinstance(unboxed(flat[c][p]), (jax.Array, np.ndarray))]
  if abstract:
    raise ValueError(f"excluded and new-module variables keep their initial values, but "
                     f"these have none (abstract shapes given): {abstract}")

  new_values = {collection: {} for collection in COLLECTIONS}
  for a in plan.assignments:
    new_values[a.collection][a.path] = a.layout.to_model(tensor_file.read(a.file_name))
  for collection, path in plan.filled_with_ones:
    new_values[collection][path] = np.ones(plan.model_shapes[(collection, path)], np.float32)
  for (collection, path), fixed in plan.fixed.items():
    new_values[collection][path] = fixed.make(plan.model_shapes[(collection, path)])
  for a in plan.unit_scales:
    gamma = tensor_file.read(a.file_name)
    if not np.all(gamma == 1):
      raise ValueError(
          f"{tensor_file.path}: BN scale {a.file_name!r} is not all ones (range "
          f"[{gamma.min()}, {gamma.max()}]) but the model has no BN scale for {a.path!r}: "
          f"build the model with bn_scale=True")

  joined = lambda keys: tuple(f"{c}/{p}" for c, p in keys)
  report = ImportReport(
      format=fmt.name, path=tensor_file.path, scope=plan.scope,
      loaded=tuple(f"{a.collection}/{a.path}" for a in plan.assignments),
      excluded=joined(plan.excluded), new_at_init=joined(plan.new_at_init),
      filled_with_ones=joined(plan.filled_with_ones),
      unit_scales_dropped=tuple(a.file_name for a in plan.unit_scales),
      skipped=dict(plan.skipped),
      fixed={f"{c}/{p}": fixed.why for (c, p), fixed in plan.fixed.items()})
  return (replace(trees["params"], new_values["params"]),
          replace(trees["batch_stats"], new_values["batch_stats"]), report)


def import_checkpoint(format_name, path: str, params, batch_stats, *, exclude=(),
                      scope: Optional[str] = None, new_modules=()):
  """Fills `params` / `batch_stats` from the checkpoint at `path`.

  Args:
    format_name: a `FORMATS` name ('deepmind_i3d', 'slim_s3dg', 'slim_inception_v1',
      'torchvision_s3d', 'pytorch_i3d', 'd3d_jax') or a `CheckpointFormat`.
    path: the file (TF checkpoint prefix, .pt/.npz/.safetensors, orbax directory).
    params, batch_stats: the model's variables (`model.init(...)['params']`, ...); they
      give the names, shapes, dtypes, boxes and shardings of the result. Variables
      kept at their initial values keep these values.
    exclude: regexes of variable paths not to load (e.g. ``'^Logits/'`` for a new head).
    scope: the network's prefix in the file (e.g. 'Flow/inception_i3d/'); by default the
      file must hold exactly one network.
    new_modules: regexes of variable paths of modules the model has and published
      backbones lack (e.g. ``'^AttentionHead/'``): loaded if the file holds them, else
      kept at their initial values (`ImportReport.new_at_init`).

  Returns:
    (params, batch_stats, `ImportReport`).

  Raises:
    CheckpointMismatchError: a variable nothing fills, a file tensor that fills nothing,
      or a shape mismatch (all listed by name).
  """
  fmt = get_format(format_name)
  return import_tensors(fmt, fmt.open(path), params, batch_stats, exclude=exclude,
                        scope=scope, new_modules=new_modules)


def _field(init_from, name: str, default: Any = None) -> Any:
  """`init_from.name`, tolerating ConfigDicts and plain mappings without the field."""
  try:
    value = init_from[name]
  except (KeyError, AttributeError):
    return default
  return default if value is None else value


def load_init_from(init_from, params, batch_stats, new_modules=()):
  """`model.init_from`: (params, batch_stats) with the variables of a checkpoint loaded.

  The trainer calls it after `model.init` when ``config.model.init_from.path`` is set.
  `params` / `batch_stats` are the freshly initialised trees (boxed or plain); the result
  keeps their structure, boxes, dtypes and shardings. With an empty `path` they are
  returned unchanged. Fields of `init_from`:

  * ``path``: an orbax directory written by ``python -m d3d_jax.convert`` or the
    trainer's export (``format='d3d_jax'``), or a published file (TF checkpoint prefix,
    .pt, .npz, .safetensors) with its source format;
  * ``format``: 'd3d_jax' (default) or one of 'deepmind_i3d', 'slim_s3dg',
    'torchvision_s3d', 'pytorch_i3d', 'slim_inception_v1' (ImageNet, inflated);
  * ``exclude``: regexes of variable paths to keep at their initial values, e.g.
    ``('^Logits/',)`` when `num_classes` differs from the checkpoint's;
  * ``scope`` (optional): which network of a file holding several (e.g.
    'Flow/inception_i3d/');
  * ``into`` (optional): the submodule of our network that the file's network fills
    (e.g. 'FlowStream' of the 3D CNN flow network, from a flow S3D-G export); the rest
    of our network keeps its initial values. '' (default): the whole network.

  `new_modules` is the model's own declaration of the modules published backbones lack
  (see `import_checkpoint`), so a run needs no exclude list for them. Anything else the
  checkpoint does not fill, any tensor it has that the model lacks, and any shape
  mismatch is an error naming the variables (`CheckpointMismatchError`).
  """
  path = _field(init_from, "path", "")
  if not path:
    return params, batch_stats
  format_name = _field(init_from, "format", "d3d_jax")
  if format_name not in FORMATS:
    raise ValueError(f"model.init_from.format is {format_name!r}; known: {sorted(FORMATS)}")
  into = _field(init_from, "into", "")
  if into:
    if into not in params:
      raise ValueError(f"model.init_from.into is {into!r}, which is not a submodule of the "
                       f"network; it has {sorted(params)}")
    prefix = f"^{into}/"
    sub_params, sub_stats = load_init_from(
        dict(path=path, format=format_name, exclude=_field(init_from, "exclude", ()),
             scope=_field(init_from, "scope", "")), params[into],
        (batch_stats or {}).get(into, {}),
        new_modules=tuple("^" + m[len(prefix):] for m in new_modules if m.startswith(prefix)))
    return (dict(params, **{into: sub_params}),
            dict(batch_stats or {}, **({into: sub_stats} if sub_stats else {})))
  params, batch_stats, report = import_checkpoint(
      format_name, path, params, batch_stats, exclude=_field(init_from, "exclude", ()),
      scope=_field(init_from, "scope", None) or None, new_modules=new_modules)
  logging.info("model.init_from: %s", report.summary())
  return params, batch_stats


# ---------------------------------------------------------------------------------------
# Export.


def _file_entries(fmt: CheckpointFormat, params, batch_stats, scope: Optional[str]):
  """{file name: (collection, path or None for a gamma of ones, layout, model shape)}."""
  model_shapes = variable_shapes(params, batch_stats)
  if scope is None:
    if ("params", STEM_KERNEL) not in model_shapes:
      raise ValueError(f"the model has no {STEM_KERNEL!r}; not an S3DG-family network")
    scope = fmt.export_scope(model_shapes[("params", STEM_KERNEL)][3])
  scope = fmt.normalize_scope(scope)
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
  flat = dict(zip(COLLECTIONS, (flatten(params), flatten(batch_stats))))
  tensors = {}
  entries = _file_entries(fmt, params, batch_stats, scope)
  for name, (collection, path, layout, shape) in entries.items():
    if path is None:
      tensors[name] = layout.to_file(np.ones(shape, np.float32))
    else:
      value = np.asarray(jax.device_get(unboxed(flat[collection][path])))
      tensors[name] = layout.to_file(value)
  tensors.update(fmt.container.export_extras(list(tensors)))
  return tensors


def export_checkpoint(format_name, path: str, params, batch_stats,
                      scope: Optional[str] = None) -> str:
  """Writes our variables as a `format_name` file at `path`; returns the written path."""
  fmt = get_format(format_name)
  return fmt.write(path, export_tensors(fmt, params, batch_stats, scope))
