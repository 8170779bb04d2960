"""torchvision `s3d` state dicts (`torchvision.models.video.s3d`, KINETICS400_V1 weights).

torchvision's S3D is an `nn.Sequential` called ``features`` (`torchvision/models/video/
s3d.py`): index 0 is conv1 (a `TemporalSeparableConv`: 1x7x7 then 7x1x1, each
conv -> BatchNorm -> ReLU), 2 Conv3d_2b, 3 Conv3d_2c (separable), 5-6 Mixed_3b-3c, 8-12
Mixed_4b-4f, 14-15 Mixed_5b-5c (the other indices are max pools); the head is
``classifier.1`` (a 1x1x1 conv with bias). Inside a block, ``branch0`` is a conv unit,
``branch1`` / ``branch2`` are ``[0]`` a 1x1x1 unit and ``[1]`` a separable 3x3, and
``branch3`` is ``[0]`` the max pool and ``[1]`` a 1x1x1 unit. A unit's conv is ``0``
and its BatchNorm ``1``; a separable unit nests two units: ``0.*`` spatial, ``1.*``
temporal:

| our variable                         | torchvision key                        |
|--------------------------------------|----------------------------------------|
| ``Conv3d_1a_7x7/conv/kernel``        | ``features.0.0.0.weight`` (64,3,1,7,7) |
| ``Conv3d_1a_7x7/bn/{scale,bias}``    | ``features.0.0.1.{weight,bias}``       |
| ``Conv3d_1a_7x7/temporal/kernel``    | ``features.0.1.0.weight`` (64,64,7,1,1) |
| ``Conv3d_1a_7x7/temporal_bn/*``      | ``features.0.1.1.*``                   |
| ``Mixed_3b/Branch_3/Conv3d_0b_1x1/conv/kernel`` | ``features.5.branch3.1.0.weight`` |
| ``Logits/Conv3d_0c_1x1/kernel``      | ``classifier.1.weight`` (classes,1024,1,1,1) |

Kernels are (Cout,Cin,T,H,W) and are transposed to (T,H,W,Cin,Cout); BatchNorm has a
gamma (``weight``) after both halves; `num_batches_tracked` is skipped. The network
matches only with PyTorch's symmetric padding (the `s3d` preset sets it).
"""

from typing import Optional

from d3d_jax.weights.import_plan import (CheckpointFormat, ModelTensor, SourceTensor,
                                         decompose, torch_batch_norm_tensor, torch_conv_tensor)
from d3d_jax.weights.tensor_files import STATE_DICT


FEATURE_INDEX = {
    "Conv3d_1a_7x7": 0, "Conv3d_2b_1x1": 2, "Conv3d_2c_3x3": 3,
    "Mixed_3b": 5, "Mixed_3c": 6,
    "Mixed_4b": 8, "Mixed_4c": 9, "Mixed_4d": 10, "Mixed_4e": 11, "Mixed_4f": 12,
    "Mixed_5b": 14, "Mixed_5c": 15,
}
_BRANCH_MODULE = {
    ("Branch_0", "Conv3d_0a_1x1"): "branch0.",
    ("Branch_1", "Conv3d_0a_1x1"): "branch1.0.",
    ("Branch_1", "Conv3d_0b_3x3"): "branch1.1.",
    ("Branch_2", "Conv3d_0a_1x1"): "branch2.0.",
    ("Branch_2", "Conv3d_0b_3x3"): "branch2.1.",
    ("Branch_3", "Conv3d_0b_1x1"): "branch3.1.",
}


def _is_separable(unit: str) -> bool:
  """torchvision's TemporalSeparableConv units: conv1, Conv3d_2c and every [t,3,3]."""
  return unit in ("Conv3d_1a_7x7", "Conv3d_2c_3x3") or unit.endswith("/Conv3d_0b_3x3")


def _module(t: ModelTensor) -> Optional[str]:
  if t.block not in FEATURE_INDEX:
    return None
  prefix = f"features.{FEATURE_INDEX[t.block]}."
  if t.branch is None:
    return prefix
  branch = _BRANCH_MODULE.get(t.branch)
  return prefix + branch if branch else None


def source(collection: str, path: str) -> Optional[SourceTensor]:
  """The torchvision state-dict key holding our variable (see the module docstring)."""
  t = decompose(path)
  if t is None:
    return None
  if t.part == "logits":
    return torch_conv_tensor("classifier.1", t.leaf)
  module = _module(t)
  if module is None:
    return None
  if _is_separable(t.unit):
    halves = {"conv": "0.", "bn": "0.", "temporal": "1.", "temporal_bn": "1."}
    if t.part not in halves:
      return None
    module += halves[t.part]
  elif t.part not in ("conv", "bn"):
    return None
  if t.part in ("conv", "temporal") and t.leaf == "kernel":
    return torch_conv_tensor(module + "0", t.leaf)
  if t.part in ("bn", "temporal_bn"):
    return torch_batch_norm_tensor(module + "1", t.leaf)
  return None


FORMAT = CheckpointFormat(
    name="torchvision_s3d",
    description="torchvision s3d state dicts (features.N..., classifier.1); .pt/.pth with "
                "torch, or .npz / .safetensors exports",
    container=STATE_DICT,
    default_model="s3d",
    model_defaults={"bn_scale": True, "padding": "symmetric"},
    stem_anchor="features.0.0.0.weight",
    source=source,
    bn_scale_in_file=True,
)
