"""TF-slim S3D-G checkpoints (`research/slim/nets/s3dg.py`), as released with D3D.

slim scopes its layers ``Conv2d_*`` although they are 3-D; ours are ``Conv3d_*``
(`nets/s3dg.py`, `s3dg_base`). Under the ``InceptionV1/`` scope:

| our variable                                  | file tensor                               |
|-----------------------------------------------|-------------------------------------------|
| ``Conv3d_1a_7x7/conv/kernel`` [k1,7,7,C,64]   | ``Conv2d_1a_7x7/weights``                 |
| ``<unit>/bn/bias``, batch_stats ``mean,var``  | ``<unit>/BatchNorm/{beta,moving_*}``      |
| ``<unit>/temporal/{kernel,bias}`` [3,1,1,C,C] | ``<unit>/temporal/{weights,biases}``      |
| ``<unit>/self_gating/transformer_W/kernel``   | ``.../self_gating/transformer_W/weights`` |
| (C,C)                                         | [1,1,1,C,C]                               |
| ``Logits/Conv3d_0c_1x1/{kernel,bias}``        | ``Logits/Conv2d_0c_1x1/{weights,biases}`` |

with every ``Conv3d_`` of a unit name written ``Conv2d_`` (``Mixed_3b/Branch_1/
Conv2d_0b_3x3``). slim's BatchNorm has no gamma by default (``scale=False``); one is
read if present (``BatchNorm/gamma``). The default S3D-G has 191 trainable tensors and
305 in all; slim's I3D (`nets/i3d.py`) uses the same names and loads into ``i3d``.
"""

from typing import Optional

from d3d_jax.weights.import_plan import (TF_BATCH_NORM_NAMES, CheckpointFormat,
                                         LeadingOnes, SourceTensor, decompose)
from d3d_jax.weights.tensor_files import TF_CHECKPOINT

_GATE_KERNEL = LeadingOnes(rank=2, written=3)  # a 1x1x1 conv [1,1,1,C,C]; ours is Dense


def _slim_unit(unit: str) -> str:
  return "/".join("Conv2d_" + p[len("Conv3d_"):] if p.startswith("Conv3d_") else p
                  for p in unit.split("/"))


def source(collection: str, path: str) -> Optional[SourceTensor]:
  """The slim tensor holding our variable (see the module docstring)."""
  t = decompose(path)
  if t is None:
    return None
  unit = _slim_unit(t.unit)
  weights_or_biases = {"kernel": "weights", "bias": "biases"}
  if t.part == "conv" and t.leaf == "kernel":
    return SourceTensor(f"{unit}/weights")
  if t.part == "logits" and t.leaf in weights_or_biases:
    return SourceTensor(f"{unit}/{weights_or_biases[t.leaf]}")
  if t.part == "bn" and t.leaf in TF_BATCH_NORM_NAMES:
    return SourceTensor(f"{unit}/BatchNorm/{TF_BATCH_NORM_NAMES[t.leaf]}")
  if t.part == "temporal" and t.leaf in weights_or_biases:
    return SourceTensor(f"{unit}/temporal/{weights_or_biases[t.leaf]}")
  if t.part == "temporal_bn" and t.leaf in TF_BATCH_NORM_NAMES:
    return SourceTensor(f"{unit}/temporal/BatchNorm/{TF_BATCH_NORM_NAMES[t.leaf]}")
  if t.part == "gate" and t.leaf == "kernel":
    return SourceTensor(f"{unit}/self_gating/transformer_W/weights", _GATE_KERNEL)
  if t.part == "gate" and t.leaf == "bias":
    return SourceTensor(f"{unit}/self_gating/transformer_W/biases")
  return None


FORMAT = CheckpointFormat(
    name="slim_s3dg",
    description="TF-slim S3D-G / D3D / slim I3D checkpoints (InceptionV1/Conv2d_1a_7x7/...)",
    container=TF_CHECKPOINT,
    default_model="s3dg",
    model_defaults={},
    stem_anchor="Conv2d_1a_7x7/weights",
    source=source,
    bn_scale_in_file=False,
    export_scope=lambda channels: "InceptionV1/",
)
