r"""TF-slim's ImageNet Inception-v1, inflated into our 3-D networks (I3D Sec. 2.2).

The checkpoint is `inception_v1.ckpt` (one file, TF's V1 checkpoint format) from
`inception_v1_2016_08_28.tar.gz` of the tensorflow/models `research/slim` model zoo,
written by TF-slim's `nets/inception_v1.py`: 230 float32 tensors (6,633,209 values)
under ``InceptionV1/``, 1001 ImageNet classes (class 0 is 'background'). Its BatchNorm
has no gamma: `inception_v1_arg_scope` leaves slim's ``batch_norm(scale=False)``
default. Names, with every ``Conv3d_`` of our unit written ``Conv2d_``:

| our variable                                  | file tensor                              |
|-----------------------------------------------|------------------------------------------|
| ``<unit>/conv/kernel`` (t,k,k,Cin,Cout)       | ``<unit>/weights`` (k,k,Cin,Cout), inflated |
| ``<unit>/bn/bias``, batch_stats ``mean,var``  | ``<unit>/BatchNorm/{beta,moving_*}``     |
| ``Logits/Conv3d_0c_1x1/{kernel,bias}``        | ``Logits/Conv2d_0c_1x1/{weights,biases}`` [1,1,1024,1001] |

The blocks are slim's Mixed_3b/3c, Mixed_4b..4f, Mixed_5b/5c. Branch_2 is GoogLeNet's
5x5 branch (Szegedy et al. 2015, Table 1) with a 3x3 kernel in slim, scoped
``Branch_2/Conv2d_0b_3x3`` except in ``Mixed_5b``, where slim's source (hence the
checkpoint) scopes it ``Branch_2/Conv2d_0a_3x3``, the quirk DeepMind's I3D kept.

Inflation (Carreira & Zisserman 2017, Sec. 2.2, "Inflating 2D ConvNets into 3D"): a 2-D
kxk kernel is repeated t times over time and divided by t, so that on a "boring" video
(one image repeated) the conv gives the 2-D conv's response, away from the clip's ends.
Variables with no ImageNet counterpart are set by the format (`fixed_value`), so no
exclude list is needed and any other gap in a file is still an error:

| our variable (no ImageNet tensor)                 | set to                                |
|---------------------------------------------------|---------------------------------------|
| ``<unit>/temporal/kernel`` (kt,1,1,C,C) (separable) | identity: centre tap I, others 0    |
| ``<unit>/temporal/bias`` (slim S3D-G)             | 0                                     |
| ``<unit>/temporal_bn/{scale,bias,mean,var}`` (S3D) | 1, 0, 0, 1 - 1e-3: with BN epsilon 1e-3 (slim's and ours) the identity |
| ``<unit>/self_gating/transformer_W/{kernel,bias}`` (S3D-G) | 0: every gate is sigmoid(0) = 1/2 |
| ``<unit>/bn/scale`` (``bn_scale=True``)           | 1 (slim has no gamma)                 |

slim's gate has no bias, so no weight makes it the identity; zero weights make it the
constant 1/2 in every run (slim initialises it to truncated-normal(0.01), i.e. about 1/2).

What the inflated network computes on a clip of one image repeated T times (inference
BatchNorm, TF 'SAME' padding), compared with the 2-D network on the image:

* exact (to float rounding) for every T, logits included: `i2d` (every kernel t = 1) and
  `s3d` converted with ``padding='SAME'`` (the format's default; slim's net was trained
  with it, torchvision's symmetric padding shifts the stride-2 windows), whose temporal
  halves are the identity (its temporal BatchNorm with the default ``bn_epsilon=1e-3``). Max pools, the [2,7,7] average pool and the mean over time are
  the identity on frames that are all equal.
* full 3-D kernels (`i3d`'s 7x7x7 conv1 and 3x3x3 convs, `s3dg`'s [3,7,7] conv1, the
  3-D blocks of the heavy variants) see TF's zero padding at the clip's ends, so frames
  whose receptive field crosses an end differ; the frames inside are exact (e.g. `i3d`
  on 16 frames: Conv3d_1a_7x7 frames 1-5 of 8, Conv3d_2c_3x3 frames 2-4). The logits
  average every frame and are not the 2-D logits.
* `s3dg`: its gates halve each gated unit's output, so it differs from the 2-D network
  from Conv3d_2c_3x3 on (exactly 1/2 of the ungated network there). With `s3dg`'s
  [3,7,7] conv1 on an even T, only conv1's last frame sees padding.

A flow network (``input_channels=2``) gets conv1's kernel averaged over RGB and
replicated to its 2 channels (TSN's cross-modality pre-training, Wang et al. ECCV 2016,
Sec. 3.2); everything else loads as for RGB.

Exports to this format (our network -> a 2-D file) sum the kernels over time (the
inverse of inflation); a network with temporal halves or gates cannot be exported.

    python -m d3d_jax.convert --from=slim_inception_v1 --input=inception_v1.ckpt \
        --model=s3dg --num_classes=400 --output=weights/s3dg_imagenet

builds `s3dg` (or ``--model=i3d``, the default, ``s3d``, ``i2d``, the heavy variants; add
``--model_option=input_channels=2`` for flow) with a new 400-class head.
"""

import dataclasses
from typing import Optional

import numpy as np

from d3d_jax.weights.import_plan import (TF_BATCH_NORM_NAMES, CheckpointFormat,
                                         FixedValue, Layout, SourceTensor, decompose)
from d3d_jax.weights.tensor_files import TF_CHECKPOINT

_QUIRKS = {"Mixed_5b/Branch_2/Conv2d_0b_3x3": "Mixed_5b/Branch_2/Conv2d_0a_3x3"}
# BatchNorm epsilon of slim's inception_v1_arg_scope, and ours (ConvOptions.bn_epsilon).
BN_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class Inflate(Layout):
  """A 2-D kernel (k,k,Cin,Cout) as a 3-D one (t,k,k,Cin,Cout): repeated t times, / t.

  `temporal_size` is the variable's t, known once bound to it (`bind`); unbound,
  `model_shape` leaves t open (None). With `cross_modality` (conv1 only) a network with
  other input channels than the file (optical flow: 2) gets the kernel averaged over the
  file's RGB channels and replicated to its own, TSN's cross-modality pre-training
  (Wang et al., ECCV 2016, Sec. 3.2); `input_channels` is then the variable's Cin.
  """

  temporal_size: Optional[int] = None
  cross_modality: bool = False
  input_channels: Optional[int] = None

  def bind(self, model_shape):
    if len(model_shape) != 5:
      return self
    return Inflate(model_shape[0], self.cross_modality,
                   model_shape[3] if self.cross_modality else None)

  def model_shape(self, file_shape):
    if len(file_shape) != 4:
      return None
    kh, kw, cin, cout = file_shape
    return (self.temporal_size, kh, kw, self.input_channels or cin, cout)

  def file_shape(self, model_shape):
    return tuple(model_shape[1:])

  def to_model(self, array):
    cin = self.input_channels or array.shape[2]
    if cin != array.shape[2]:
      array = np.repeat(array.mean(axis=2, keepdims=True), cin, axis=2)
    t = self.temporal_size
    return np.repeat(array[None] / np.float32(t), t, axis=0).astype(array.dtype)

  def to_file(self, array):
    return np.ascontiguousarray(array.sum(axis=0))

  def describe(self):
    return ("2-D (k,k,Cin,Cout) inflated to (t,k,k,Cin,Cout): repeated over t, divided by t"
            + ("; other Cin: the mean over the file's Cin" if self.cross_modality else ""))


INFLATE = Inflate()
_INFLATE_STEM = Inflate(cross_modality=True)


def _slim_unit(unit: str) -> str:
  unit = "/".join("Conv2d_" + p[len("Conv3d_"):] if p.startswith("Conv3d_") else p
                  for p in unit.split("/"))
  return _QUIRKS.get(unit, unit)


def source(collection: str, path: str) -> Optional[SourceTensor]:
  """The slim Inception-v1 tensor holding our variable (see the module docstring)."""
  t = decompose(path)
  if t is None:
    return None
  unit = _slim_unit(t.unit)
  if t.part in ("conv", "logits") and t.leaf == "kernel":
    return SourceTensor(f"{unit}/weights", _INFLATE_STEM if unit == "Conv2d_1a_7x7" else INFLATE)
  if t.part == "logits" and t.leaf == "bias":
    return SourceTensor(f"{unit}/biases")
  if t.part == "bn" and t.leaf in TF_BATCH_NORM_NAMES:
    return SourceTensor(f"{unit}/BatchNorm/{TF_BATCH_NORM_NAMES[t.leaf]}")
  return None  # temporal halves and gates: `fixed_value`


def _identity_temporal_kernel(shape):
  kt, kh, kw, cin, cout = shape
  if (kh, kw) != (1, 1) or cin != cout:
    raise ValueError(f"a temporal half must be (kt,1,1,C,C), got {shape}")
  kernel = np.zeros(shape, np.float32)
  kernel[kt // 2, 0, 0] = np.eye(cin, dtype=np.float32)
  return kernel


def _filled(value):
  return lambda shape: np.full(shape, value, np.float32)


_IDENTITY = FixedValue(_identity_temporal_kernel,
                       "temporal kernels set to the identity (centre tap I)")
_ZERO_BIAS = FixedValue(_filled(0.0), "temporal biases set to 0")
_TEMPORAL_BN = {
    "scale": FixedValue(_filled(1.0), "temporal BN scales set to 1"),
    "bias": FixedValue(_filled(0.0), "temporal BN offsets set to 0"),
    "mean": FixedValue(_filled(0.0), "temporal BN means set to 0"),
    "var": FixedValue(_filled(1.0 - BN_EPSILON),
                      f"temporal BN variances set to 1 - {BN_EPSILON} (BN = identity)"),
}
_GATE = FixedValue(_filled(0.0), "self-gating weights set to 0 (gate = sigmoid(0) = 1/2)")


def fixed_value(collection: str, path: str) -> Optional[FixedValue]:
  """What our variables without an ImageNet tensor are set to (module docstring)."""
  t = decompose(path)
  if t is None:
    return None
  if t.part == "temporal":
    return {"kernel": _IDENTITY, "bias": _ZERO_BIAS}.get(t.leaf)
  if t.part == "temporal_bn":
    return _TEMPORAL_BN.get(t.leaf)
  if t.part == "gate" and t.leaf in ("kernel", "bias"):
    return _GATE
  return None


FORMAT = CheckpointFormat(
    name="slim_inception_v1",
    description="TF-slim ImageNet Inception-v1 (inception_v1_2016_08_28, InceptionV1/...), "
                "inflated to 3-D",
    container=TF_CHECKPOINT,
    default_model="i3d",
    model_defaults={"padding": "SAME"},
    stem_anchor="Conv2d_1a_7x7/weights",
    source=source,
    bn_scale_in_file=False,
    export_scope=lambda channels: "InceptionV1/",
    fixed_value=fixed_value,
)
