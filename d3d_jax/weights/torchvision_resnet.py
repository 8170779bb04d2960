"""torchvision ResNet state dicts (`torchvision.models.resnet50`, ImageNet weights) for the
per-frame ResNets of `d3d_jax.models.resnet` (TSM-R50, W3's backbone).

Our variable paths are torchvision's module paths with ``/`` for ``.``:

| our variable                              | torchvision key                        |
|-------------------------------------------|----------------------------------------|
| ``conv1/kernel`` (1,7,7,3,64)             | ``conv1.weight`` (64,3,7,7)            |
| ``bn1/{scale,bias}``, ``bn1/{mean,var}``  | ``bn1.{weight,bias,running_mean,running_var}`` |
| ``layer1/0/conv2/kernel`` (1,3,3,64,64)   | ``layer1.0.conv2.weight`` (64,64,3,3)  |
| ``layer2/0/downsample/0/kernel``          | ``layer2.0.downsample.0.weight``       |
| ``layer2/0/downsample/1/*``               | ``layer2.0.downsample.1.*``            |
| ``fc/kernel`` (1,1,1,2048,classes)        | ``fc.weight`` (classes,2048)           |

2-D conv kernels (Cout,Cin,H,W) become our (1,H,W,Cin,Cout) (a frame-wise 3-D kernel);
the Linear fc (Cout,Cin) our 1x1x1 kernel. W3 / CBAM modules and the refinement are new
modules (`ResNet.new_modules`); TSM's shift has no parameters, so an ImageNet ResNet-50
file fills TSM-R50 completely (``exclude=('^fc/',)`` for another class count).
Export a state dict without torch on the reading side::

  python -c "import torch, torchvision, numpy as np; sd = torchvision.models.resnet50(
      weights='IMAGENET1K_V1').state_dict(); np.savez('resnet50.npz',
      **{k: v.numpy() for k, v in sd.items()})"
"""

from typing import Optional

import numpy as np

from d3d_jax.models.resnet import torchvision_options
from d3d_jax.weights.import_plan import (CheckpointFormat, Layout, SourceTensor,
                                         torch_batch_norm_tensor)
from d3d_jax.weights.tensor_files import STATE_DICT


class _TorchConv2d(Layout):
  """PyTorch Conv2d (Cout,Cin,H,W) <-> our frame-wise (1,H,W,Cin,Cout)."""

  def model_shape(self, file_shape):
    if len(file_shape) != 4:
      return None
    cout, cin, h, w = file_shape
    return (1, h, w, cin, cout)

  def file_shape(self, model_shape):
    _, h, w, cin, cout = model_shape
    return (cout, cin, h, w)

  def to_model(self, array):
    return np.ascontiguousarray(np.transpose(array, (2, 3, 1, 0))[None])

  def to_file(self, array):
    return np.ascontiguousarray(np.transpose(array[0], (3, 2, 0, 1)))

  def describe(self):
    return "PyTorch Conv2d (Cout,Cin,H,W) -> (1,H,W,Cin,Cout)"


class _TorchLinear(Layout):
  """PyTorch Linear (Cout,Cin) <-> our 1x1x1 kernel (1,1,1,Cin,Cout)."""

  def model_shape(self, file_shape):
    return (1, 1, 1, file_shape[1], file_shape[0]) if len(file_shape) == 2 else None

  def file_shape(self, model_shape):
    return (model_shape[4], model_shape[3])

  def to_model(self, array):
    return np.ascontiguousarray(array.T[None, None, None])

  def to_file(self, array):
    return np.ascontiguousarray(array[0, 0, 0].T)

  def describe(self):
    return "PyTorch Linear (Cout,Cin) -> (1,1,1,Cin,Cout)"


TORCH_CONV_2D = _TorchConv2d()
TORCH_LINEAR = _TorchLinear()
_BN_MODULES = ("bn1", "bn2", "bn3", "downsample/1")


def source(collection: str, path: str) -> Optional[SourceTensor]:
  """The torchvision state-dict key holding our variable (see the module docstring)."""
  del collection
  module, _, leaf = path.rpartition("/")
  if "/W3/" in f"/{path}" or "/CBAM/" in f"/{path}" or path.startswith("AttentionRefinement/"):
    return None
  torch_module = module.replace("/", ".")
  if module == "fc":
    if leaf == "kernel":
      return SourceTensor("fc.weight", TORCH_LINEAR)
    return SourceTensor("fc.bias") if leaf == "bias" else None
  if leaf == "kernel" and (module.rpartition("/")[2].startswith("conv")
                           or module.endswith("downsample/0")):
    return SourceTensor(f"{torch_module}.weight", TORCH_CONV_2D)
  if module.endswith(_BN_MODULES):
    return torch_batch_norm_tensor(torch_module, leaf)
  return None


FORMAT = CheckpointFormat(
    name="torchvision_resnet",
    description="torchvision ResNet state dicts (conv1, layer1.0..., fc) for resnet50 / "
                "tsm_resnet50; .pt/.pth with torch, or .npz / .safetensors exports",
    container=STATE_DICT,
    default_model="resnet50",
    model_defaults=torchvision_options(),
    stem_anchor=None,  # "conv1.weight" also ends "layer1.0.conv1.weight": no scopes
    source=source,
    bn_scale_in_file=True,
)
