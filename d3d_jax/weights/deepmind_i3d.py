"""DeepMind kinetics-i3d (Sonnet) checkpoints.

The published `rgb_imagenet`, `rgb_scratch`, `flow_imagenet` and `flow_scratch`
checkpoints hold 230 float32 tensors under ``RGB/inception_i3d/`` or
``Flow/inception_i3d/`` (deepmind/kinetics-i3d, `data/checkpoints/*/model.ckpt.index`):

| our variable                               | file tensor                                  |
|--------------------------------------------|----------------------------------------------|
| ``<unit>/conv/kernel`` (T,H,W,Cin,Cout)    | ``<unit>/conv_3d/w``, same layout            |
| ``<unit>/bn/bias``                         | ``<unit>/batch_norm/beta``                   |
| batch_stats ``<unit>/bn/{mean,var}``       | ``<unit>/batch_norm/{moving_mean,moving_variance}`` |
| ``Logits/Conv3d_0c_1x1/{kernel,bias}``     | ``Logits/Conv3d_0c_1x1/conv_3d/{w,b}``       |

Quirks handled here:

* Sonnet's BatchNorm has no gamma (scale 1): build the model with ``bn_scale=False``
  (the `i3d` preset), or with a scale, which is then set to ones;
* Mixed_5b/Branch_2's 3x3 conv is named ``Conv3d_0a_3x3`` (not ``0b``) in DeepMind's
  code and in every checkpoint;
* ``rgb_scratch_kin600`` has no scope prefix, [1,1,1,1,C] BN tensors and ``.../Momentum``
  optimizer slots (skipped); its logits have 600 classes.
"""

from typing import Optional

from d3d_jax.weights.import_plan import (TF_BATCH_NORM_NAMES, CheckpointFormat,
                                         LeadingOnes, SourceTensor, decompose)
from d3d_jax.weights.tensor_files import TF_CHECKPOINT

_BN_LAYOUT = LeadingOnes(rank=1)  # [C], or [1,1,1,1,C] in the Kinetics-600 checkpoint
_QUIRKS = {"Mixed_5b/Branch_2/Conv3d_0b_3x3": "Mixed_5b/Branch_2/Conv3d_0a_3x3"}


def source(collection: str, path: str) -> Optional[SourceTensor]:
  """The DeepMind tensor holding our variable (see the module docstring)."""
  t = decompose(path)
  if t is None:
    return None
  unit = _QUIRKS.get(t.unit, t.unit)
  if t.part in ("conv", "logits") and t.leaf == "kernel":
    return SourceTensor(f"{unit}/conv_3d/w")
  if t.part == "logits" and t.leaf == "bias":
    return SourceTensor(f"{unit}/conv_3d/b")
  if t.part == "bn" and t.leaf in TF_BATCH_NORM_NAMES:
    return SourceTensor(f"{unit}/batch_norm/{TF_BATCH_NORM_NAMES[t.leaf]}", _BN_LAYOUT)
  return None  # separable halves and gates do not exist in I3D


FORMAT = CheckpointFormat(
    name="deepmind_i3d",
    description="DeepMind kinetics-i3d Sonnet TF checkpoints (RGB/Flow/inception_i3d/...)",
    container=TF_CHECKPOINT,
    default_model="i3d",
    model_defaults={},
    stem_anchor="Conv3d_1a_7x7/conv_3d/w",
    source=source,
    bn_scale_in_file=False,
    export_scope=lambda channels: "Flow/inception_i3d/" if channels == 2 else "RGB/inception_i3d/",
)
