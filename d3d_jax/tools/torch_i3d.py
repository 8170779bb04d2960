"""A PyTorch I3D (Inception-v1 3-D, Carreira & Zisserman 2017): the twin of our `i3d`
that ``python -m d3d_jax.tools.benchmark --model=i3d --compare=torch`` times.

Written after piergiaj/pytorch-i3d's `InceptionI3d`, with its module names, so its
`state_dict` keys are that port's (``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_3b.b1b.bn.running_var``, ``logits.conv3d.bias``) and `d3d_jax.weights` imports
it as the ``pytorch_i3d`` format. Layers, NCDHW:

| module            | op                                                  |
|-------------------|-----------------------------------------------------|
| Conv3d_1a_7x7     | conv 7x7x7 stride 2                                 |
| MaxPool3d_2a_3x3  | max pool 1x3x3 stride (1, 2, 2)                     |
| Conv3d_2b_1x1     | conv 1x1x1                                          |
| Conv3d_2c_3x3     | conv 3x3x3                                          |
| MaxPool3d_3a_3x3  | max pool 1x3x3 stride (1, 2, 2)                     |
| Mixed_3b, 3c      | Inception (`INCEPTION_WIDTHS`)                      |
| MaxPool3d_4a_3x3  | max pool 3x3x3 stride 2                             |
| Mixed_4b ... 4f   | Inception                                           |
| MaxPool3d_5a_2x2  | max pool 2x2x2 stride 2                             |
| Mixed_5b, 5c      | Inception                                           |
| logits            | avg pool (2, 7, 7) clipped to the map, dropout, 1x1x1 conv + bias, mean over T, H, W |

Every conv but the logits' is conv (no bias), BatchNorm3d (with a scale; eps 1e-3 as
DeepMind's, momentum 0.001 as our decay 0.999) and ReLU. Where it departs from
pytorch-i3d, it does what our `i3d` does, so the benchmark times the same computation:

* padding is symmetric, ``(kernel - 1) // 2`` on both sides (torchvision's and most
  ports' convention; ours with ``padding='symmetric'``), not TF 'SAME' computed per
  input as pytorch-i3d does. At even sizes (e.g. 16 x 224 x 224) every layer has the
  same output shape under both;
* max pools pad with -inf (PyTorch's `MaxPool3d`), not zeros (the same after a ReLU);
* the (2, 7, 7) average pool is clipped to the feature map, as our
  `clipped_avg_pool_3d` (slim) does, so small clips (8 x 64 x 64) run;
* `forward` returns logits [B, classes] averaged over time (pytorch-i3d returns the
  per-time-step logits [B, classes, T']);
* dropout drops with probability `dropout_rate` (pytorch-i3d passes its keep
  probability to `nn.Dropout`, harmless only at 0.5).

Imports torch: only `torch_benchmark` imports this module, after checking torch is
installed (the ``torch`` extra).
"""

import collections

import torch
from torch import nn
import torch.nn.functional as F

# Inception block -> (input channels, branch widths: 0, 1 reduce, 1, 2 reduce, 2, 3), as
# in pytorch-i3d / DeepMind's i3d.py (written out here, not read from our model, so the
# parameter-count test checks ours against an independent table).
INCEPTION_WIDTHS = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def _symmetric(kernel: tuple[int, int, int]) -> tuple[int, int, int]:
  """Symmetric padding of a window: (kernel - 1) // 2 per side, as ours pads it."""
  return tuple((k - 1) // 2 for k in kernel)


def _max_pool(kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> nn.MaxPool3d:
  return nn.MaxPool3d(kernel, stride, padding=_symmetric(kernel))


class Unit3D(nn.Module):
  """pytorch-i3d's unit: conv without bias, BatchNorm3d, ReLU."""

  def __init__(self, in_channels: int, out_channels: int,
               kernel: tuple[int, int, int] = (1, 1, 1),
               stride: tuple[int, int, int] = (1, 1, 1)):
    super().__init__()
    self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride,
                            padding=_symmetric(kernel), bias=False)
    self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.001)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.relu(self.bn(self.conv3d(x)))


class InceptionModule(nn.Module):
  """Four branches concatenated on channels: 1x1x1; 1x1x1 -> 3x3x3; 1x1x1 -> 3x3x3;
  3x3x3 max pool (stride 1) -> 1x1x1. Module names as pytorch-i3d's (b3a: the pool)."""

  def __init__(self, in_channels: int, widths: tuple[int, ...]):
    super().__init__()
    b0, b1_reduce, b1, b2_reduce, b2, b3 = widths
    self.b0 = Unit3D(in_channels, b0)
    self.b1a = Unit3D(in_channels, b1_reduce)
    self.b1b = Unit3D(b1_reduce, b1, (3, 3, 3))
    self.b2a = Unit3D(in_channels, b2_reduce)
    self.b2b = Unit3D(b2_reduce, b2, (3, 3, 3))
    self.b3a = _max_pool((3, 3, 3), (1, 1, 1))
    self.b3b = Unit3D(in_channels, b3)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                      self.b3b(self.b3a(x))], dim=1)


class Logits(nn.Module):
  """Average pool (2, 7, 7), stride 1, with the window clipped to the feature map (our
  `clipped_avg_pool_3d`); dropout; 1x1x1 conv with bias; mean over the positions left."""

  WINDOW = (2, 7, 7)

  def __init__(self, in_channels: int, num_classes: int, dropout_rate: float):
    super().__init__()
    self.dropout = nn.Dropout(dropout_rate)
    self.conv3d = nn.Conv3d(in_channels, num_classes, (1, 1, 1), bias=True)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    window = tuple(min(k, n) for k, n in zip(self.WINDOW, x.shape[2:]))
    x = F.avg_pool3d(x, window, stride=1)
    return self.conv3d(self.dropout(x)).mean(dim=(2, 3, 4))


class InceptionI3d(nn.Sequential):
  """I3D on NCDHW clips -> logits [B, num_classes] (see the module docstring).

  A `nn.Sequential` of the named layers, so the `state_dict` keys carry no prefix.
  """

  def __init__(self, num_classes: int = 400, in_channels: int = 3,
               dropout_rate: float = 0.5):
    layers = collections.OrderedDict([
        ("Conv3d_1a_7x7", Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))),
        ("MaxPool3d_2a_3x3", _max_pool((1, 3, 3), (1, 2, 2))),
        ("Conv3d_2b_1x1", Unit3D(64, 64)),
        ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3))),
        ("MaxPool3d_3a_3x3", _max_pool((1, 3, 3), (1, 2, 2))),
    ])
    pools_before = {"Mixed_4b": ("MaxPool3d_4a_3x3", _max_pool((3, 3, 3), (2, 2, 2))),
                    "Mixed_5b": ("MaxPool3d_5a_2x2", _max_pool((2, 2, 2), (2, 2, 2)))}
    for name, (block_in, widths) in INCEPTION_WIDTHS.items():
      if name in pools_before:
        layers.update([pools_before[name]])
      layers[name] = InceptionModule(block_in, widths)
    layers["logits"] = Logits(1024, num_classes, dropout_rate)
    super().__init__(layers)
