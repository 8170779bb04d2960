"""The checkpoint formats by name: the CLI's ``--from`` and `model.init_from.format`."""

from d3d_jax.weights import (d3d_jax_format, deepmind_i3d, pytorch_i3d,
                             slim_inception_v1, slim_s3dg, torchvision_s3d)
from d3d_jax.weights.checkpoint_format import CheckpointFormat

FORMATS: dict[str, CheckpointFormat] = {
    fmt.name: fmt for fmt in (
        deepmind_i3d.FORMAT,
        slim_s3dg.FORMAT,
        slim_inception_v1.FORMAT,
        torchvision_s3d.FORMAT,
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
