"""The published checkpoints' tensor names and shapes, restated from the reference.

Written from the reference implementations (kinetics-i3d's i3d.py and checkpoint
indexes, TF-slim's s3dg.py, torchvision's s3d.py, pytorch-i3d's pytorch_i3d.py) without the
importer's code, so tests compare the importer against an independent statement of
each layout. `depth` scales channels like the models' depth_multiplier (tiny tests).
"""

import numpy as np

# Section 2.3: (block, B0 1x1, B1 1x1, B1 3x3, B2 1x1, B2 3x3, B3 pool->1x1).
INCEPTION = (
    ("Mixed_3b", 64, 96, 128, 16, 32, 32),
    ("Mixed_3c", 128, 128, 192, 32, 96, 64),
    ("Mixed_4b", 192, 96, 208, 16, 48, 64),
    ("Mixed_4c", 160, 112, 224, 24, 64, 64),
    ("Mixed_4d", 128, 128, 256, 24, 64, 64),
    ("Mixed_4e", 112, 144, 288, 32, 64, 64),
    ("Mixed_4f", 256, 160, 320, 32, 128, 128),
    ("Mixed_5b", 256, 160, 320, 32, 128, 128),
    ("Mixed_5c", 384, 192, 384, 48, 128, 128),
)
TORCHVISION_INDEX = {"Mixed_3b": 5, "Mixed_3c": 6, "Mixed_4b": 8, "Mixed_4c": 9,
                     "Mixed_4d": 10, "Mixed_4e": 11, "Mixed_4f": 12, "Mixed_5b": 14,
                     "Mixed_5c": 15}


def full_depth(c):
  return c


def tiny_depth(c):
  """depth_multiplier=0.125, min_depth=8."""
  return max(int(c * 0.125), 8)


def _units(depth, in_channels):
  """(stem or block, branch key, kind, c_in, c_out) for every conv unit, network order.

  kind: 'conv1', '1x1', '3x3'. Branch keys: 'b0', 'b1a', 'b1b', 'b2a', 'b2b', 'b3b'.
  """
  d = depth
  units = [("Conv3d_1a_7x7", None, "conv1", in_channels, d(64)),
           ("Conv3d_2b_1x1", None, "1x1", d(64), d(64)),
           ("Conv3d_2c_3x3", None, "3x3", d(64), d(192))]
  c_in = d(192)
  for block, b0, b1a, b1b, b2a, b2b, b3 in INCEPTION:
    units += [(block, "b0", "1x1", c_in, d(b0)),
              (block, "b1a", "1x1", c_in, d(b1a)), (block, "b1b", "3x3", d(b1a), d(b1b)),
              (block, "b2a", "1x1", c_in, d(b2a)), (block, "b2b", "3x3", d(b2a), d(b2b)),
              (block, "b3b", "1x1", c_in, d(b3))]
    c_in = d(b0) + d(b1b) + d(b2b) + d(b3)
  return units, c_in


_TF_BRANCH = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1",
              "b1b": "Branch_1/Conv3d_0b_3x3", "b2a": "Branch_2/Conv3d_0a_1x1",
              "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}


def deepmind_i3d(depth=full_depth, num_classes=400, in_channels=3,
                 prefix="RGB/inception_i3d/", kinetics600=False):
  """Section 2.6. kinetics600: no prefix, [1,1,1,1,C] BN statistics, Momentum slots."""
  if kinetics600:
    prefix = ""
  units, c_in = _units(depth, in_channels)
  layout = {}
  for block, branch, kind, cin, cout in units:
    name = block if branch is None else f"{block}/{_TF_BRANCH[branch]}"
    if name == "Mixed_5b/Branch_2/Conv3d_0b_3x3":
      name = "Mixed_5b/Branch_2/Conv3d_0a_3x3"  # the naming quirk
    kernel = {"conv1": (7, 7, 7), "1x1": (1, 1, 1), "3x3": (3, 3, 3)}[kind]
    stats = (1, 1, 1, 1, cout) if kinetics600 else (cout,)
    layout[f"{prefix}{name}/conv_3d/w"] = kernel + (cin, cout)
    layout[f"{prefix}{name}/batch_norm/beta"] = (cout,)
    layout[f"{prefix}{name}/batch_norm/moving_mean"] = stats
    layout[f"{prefix}{name}/batch_norm/moving_variance"] = stats
  layout[f"{prefix}Logits/Conv3d_0c_1x1/conv_3d/w"] = (1, 1, 1, c_in, num_classes)
  layout[f"{prefix}Logits/Conv3d_0c_1x1/conv_3d/b"] = (num_classes,)
  if kinetics600:
    for name in [n for n in layout if n.endswith(("/w", "/b", "/beta"))]:
      layout[name + "/Momentum"] = layout[name]
  return layout


def slim_s3dg(depth=full_depth, num_classes=400, in_channels=3, first_temporal_kernel_size=3,
              prefix="InceptionV1/"):
  """Section 3.6 (default S3D-G: separable from Conv2d_2c on, gated from Conv2d_2c on)."""
  units, c_in = _units(depth, in_channels)
  layout = {}
  for block, branch, kind, cin, cout in units:
    name = prefix + (block if branch is None else f"{block}/{_TF_BRANCH[branch]}")
    name = name.replace("Conv3d_", "Conv2d_")
    kernel = {"conv1": (first_temporal_kernel_size, 7, 7), "1x1": (1, 1, 1),
              "3x3": (1, 3, 3)}[kind]
    layout[f"{name}/weights"] = kernel + (cin, cout)
    for stat in ("beta", "moving_mean", "moving_variance"):
      layout[f"{name}/BatchNorm/{stat}"] = (cout,)
    if kind == "3x3":
      layout[f"{name}/temporal/weights"] = (3, 1, 1, cout, cout)
      layout[f"{name}/temporal/biases"] = (cout,)
    if kind != "conv1" and branch not in ("b1a", "b2a") and block != "Conv3d_2b_1x1":
      layout[f"{name}/self_gating/transformer_W/weights"] = (1, 1, 1, cout, cout)
  layout[f"{prefix}Logits/Conv2d_0c_1x1/weights"] = (1, 1, 1, c_in, num_classes)
  layout[f"{prefix}Logits/Conv2d_0c_1x1/biases"] = (num_classes,)
  return layout


def _torch_bn(layout, module, channels):
  for leaf in ("weight", "bias", "running_mean", "running_var"):
    layout[f"{module}.{leaf}"] = (channels,)
  layout[f"{module}.num_batches_tracked"] = ()


def torchvision_s3d(depth=full_depth, num_classes=400, prefix=""):
  """Section 4.2: 464 entries at full size (77 BatchNorms)."""
  units, c_in = _units(depth, 3)
  tv_branch = {"b0": "branch0.", "b1a": "branch1.0.", "b1b": "branch1.1.",
               "b2a": "branch2.0.", "b2b": "branch2.1.", "b3b": "branch3.1."}
  stem_index = {"Conv3d_1a_7x7": 0, "Conv3d_2b_1x1": 2, "Conv3d_2c_3x3": 3}
  layout = {}
  for block, branch, kind, cin, cout in units:
    module = (f"{prefix}features.{stem_index[block]}." if branch is None else
              f"{prefix}features.{TORCHVISION_INDEX[block]}.{tv_branch[branch]}")
    if kind == "1x1":
      layout[module + "0.weight"] = (cout, cin, 1, 1, 1)
      _torch_bn(layout, module + "1", cout)
    else:  # TemporalSeparableConv: 1xkxk then kx1x1, each conv + BN
      k, kt = (7, 7) if kind == "conv1" else (3, 3)
      layout[module + "0.0.weight"] = (cout, cin, 1, k, k)
      _torch_bn(layout, module + "0.1", cout)
      layout[module + "1.0.weight"] = (cout, cout, kt, 1, 1)
      _torch_bn(layout, module + "1.1", cout)
  layout[f"{prefix}classifier.1.weight"] = (num_classes, c_in, 1, 1, 1)
  layout[f"{prefix}classifier.1.bias"] = (num_classes,)
  return layout


def pytorch_i3d(depth=full_depth, num_classes=400, in_channels=3):
  """Section 5.1: 344 entries at full size."""
  units, c_in = _units(depth, in_channels)
  layout = {}
  for block, branch, kind, cin, cout in units:
    module = block if branch is None else f"{block}.{branch}"
    kernel = {"conv1": (7, 7, 7), "1x1": (1, 1, 1), "3x3": (3, 3, 3)}[kind]
    layout[f"{module}.conv3d.weight"] = (cout, cin) + kernel
    _torch_bn(layout, f"{module}.bn", cout)
  layout["logits.conv3d.weight"] = (num_classes, c_in, 1, 1, 1)
  layout["logits.conv3d.bias"] = (num_classes,)
  return layout


def random_tensors(layout, seed=0):
  """Random values for `layout`: positive variances, gammas near 1, scaled kernels."""
  rng = np.random.default_rng(seed)
  tensors = {}
  for name, shape in sorted(layout.items()):
    leaf = name.replace("/", ".").split(".")[-1]
    if leaf == "num_batches_tracked":
      tensors[name] = np.array(rng.integers(0, 1000), np.int64)
    elif leaf in ("moving_variance", "running_var", "Momentum") or (
        name.endswith(".bn.weight") or (leaf == "weight" and len(shape) == 1)):
      tensors[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    elif len(shape) >= 2 and np.prod(shape) > shape[-1]:
      fan_in = int(np.prod(shape)) // max(shape[0], shape[-1])
      tensors[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    else:
      tensors[name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
  return tensors
