"""`model.init_from`: start training from a checkpoint, converting on the fly if needed.

The trainer calls `load_init_from(config.model.init_from, params, batch_stats)` after
`model.init` when ``config.model.init_from.path`` is set. Fields:

* ``path``: an orbax directory written by ``python -m d3d_jax.convert`` or the trainer's
  export (``format='d3d_jax'``), or a published file (TF checkpoint prefix, .pt, .npz,
  .safetensors) with its source format;
* ``format``: 'd3d_jax' (default) or one of 'deepmind_i3d', 'slim_s3dg',
  'torchvision_s3d', 'pytorch_i3d', 'slim_inception_v1' (ImageNet, inflated);
* ``exclude``: regexes of variable paths to keep at their initial values, e.g.
  ``('^Logits/',)`` when `num_classes` differs from the checkpoint's;
* ``scope`` (optional): which network of a file holding several (e.g.
  'Flow/inception_i3d/').

Anything the checkpoint does not fill, any tensor it has that the model lacks, and any
shape mismatch is an error naming the variables (`CheckpointMismatchError`).
"""

from typing import Any

from absl import logging

from d3d_jax.weights import importer
from d3d_jax.weights.registry import FORMATS


def _field(init_from, name: str, default: Any = None) -> Any:
  """`init_from.name`, tolerating ConfigDicts and plain mappings without the field."""
  try:
    value = init_from[name]
  except (KeyError, AttributeError):
    return default
  return default if value is None else value


def load_init_from(init_from, params, batch_stats):
  """Returns (params, batch_stats) with the variables of `init_from.path` loaded.

  `params` / `batch_stats` are the freshly initialised trees (boxed or plain); the
  result keeps their structure, boxes, dtypes and shardings. With an empty `path`
  they are returned unchanged.
  """
  path = _field(init_from, "path", "")
  if not path:
    return params, batch_stats
  format_name = _field(init_from, "format", "d3d_jax")
  if format_name not in FORMATS:
    raise ValueError(f"model.init_from.format is {format_name!r}; known: {sorted(FORMATS)}")
  exclude = _field(init_from, "exclude", ())
  exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude)
  params, batch_stats, report = importer.import_checkpoint(
      format_name, path, params, batch_stats, exclude=exclude,
      scope=_field(init_from, "scope", None))
  logging.info("model.init_from: %s", report.summary())
  return params, batch_stats
