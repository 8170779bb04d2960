"""`build_model(name, num_classes=..., **options)`: the published configurations.

| name               | what it is                                                        | params (400 cls, RGB) |
|--------------------|-------------------------------------------------------------------|-----------:|
| `i3d`              | DeepMind I3D: conv1 7x7x7, 3x3x3 convs everywhere, no gating      | 12,689,984 |
| `s3dg`             | slim S3D-G (D3D's backbone): conv1 [3,7,7], separable, gated       |  9,518,848 |
| `s3d`              | torchvision S3D: separable 7x7x7 conv1, BN (with scale) after both halves, no gating, symmetric padding | 8,320,048 |
| `i2d`              | I3D with every conv 2-D (pools keep their temporal extent, as slim) |  6,002,624 |
| `top_heavy_i3d`    | 2-D below `switch_block`, 3-D from it on (conv1 1x7x7)             | Mixed_4b: 11,684,288 |
| `bottom_heavy_i3d` | 3-D below `switch_block` (conv1 7x7x7), 2-D from it on             | Mixed_4b:  7,008,320 |
| `resnet50`         | torchvision ResNet-50 on every frame, logits averaged (`resnet.py`) | 1000 cls: 25,557,032 |
| `tsm_resnet50`     | the same with TSM's residual temporal shift, dropout 0.5 (W3's backbone) | 1000 cls: 25,557,032 |
| `s3dg_cnn_flow`    | D3D's "3D CNN flow" (Sec. 4.1): S3D-G trunk to 3A + flow decoder -> flow S3D-G (`cnn_flow.py`); RGB in | |

Any `S3DG` attribute can be overridden by keyword (e.g. ``first_temporal_kernel_size=7``,
``depth_multiplier=0.125``), and any `ConvOptions` field too (``padding``, ``lowering``,
``bn_scale``, ``dtype``, ...). ``input_channels=2`` builds a flow network.

A config's network section (`configs.base.model_config`: name, modality, options) is
built by `build_from_config`. Its `build_call` is the JSON record of that call that every
export stores, so `build_from_call` rebuilds an exported network (a teacher) exactly.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax.numpy as jnp

from d3d_jax.models import resnet
from d3d_jax.models.cnn_flow import CNNFlowS3DG
from d3d_jax.models.s3dg import S3DG
from d3d_jax.models.units import ConvOptions

INPUT_CHANNELS = {"rgb": 3, "flow": 2}
# Options that change how a network computes, not which variables it has or what it
# computes in eval mode: a teacher or evaluation may set them apart from the export's.
# (bn_group_size only picks which clips share BatchNorm statistics in training;
# frozen_norms, set by the trainer, which layers keep theirs; remat_blocks only what the
# backward pass recomputes.)
COMPUTE_OPTIONS = ("dtype", "lowering", "bn_group_size", "frozen_norms", "remat_blocks")

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def _i3d() -> dict[str, Any]:
  return dict(first_temporal_kernel_size=7, temporal_conv_startat="Conv3d_2c_3x3",
              separable=False, gating_startat=None, dropout_rate=0.5)


def _s3dg() -> dict[str, Any]:
  return dict(first_temporal_kernel_size=3, temporal_conv_startat="Conv3d_2c_3x3",
              separable=True, gating_startat="Conv3d_2c_3x3", dropout_rate=0.2)


def _s3d() -> dict[str, Any]:
  return dict(first_temporal_kernel_size=7, separable_conv1=True,
              temporal_conv_startat="Conv3d_2c_3x3", separable=True,
              temporal_norm="batch_norm", gating_startat=None, dropout_rate=0.2,
              bn_scale=True, padding="symmetric")


def _i2d() -> dict[str, Any]:
  return dict(first_temporal_kernel_size=1, temporal_conv_startat=None, separable=False,
              gating_startat=None, dropout_rate=0.5)


def _top_heavy_i3d(switch_block: str = "Mixed_4b") -> dict[str, Any]:
  """GKD's student (Wang et al. 2024) switches to 3-D at Mixed_4d; S3D's Fig. 2 sweeps it."""
  return dict(first_temporal_kernel_size=1, temporal_conv_startat=switch_block,
              separable=False, gating_startat=None, dropout_rate=0.5)


def _bottom_heavy_i3d(switch_block: str = "Mixed_4b") -> dict[str, Any]:
  return dict(first_temporal_kernel_size=7, temporal_conv_startat="Conv3d_2c_3x3",
              temporal_conv_endat=switch_block, separable=False, gating_startat=None,
              dropout_rate=0.5)


MODELS: dict[str, Callable[..., dict[str, Any]]] = {
    "i3d": _i3d,
    "s3dg": _s3dg,
    "s3d": _s3d,
    "i2d": _i2d,
    "top_heavy_i3d": _top_heavy_i3d,
    "bottom_heavy_i3d": _bottom_heavy_i3d,
    **resnet.PRESETS,
    "s3dg_cnn_flow": _s3dg,
}
# Presets built by another module than S3DG / ResNet.
_CNN_FLOW_PRESETS = ("s3dg_cnn_flow",)

_OPTION_FIELDS = {f.name for f in dataclasses.fields(ConvOptions)}
_MODEL_FIELDS = {f.name for f in dataclasses.fields(S3DG)} - {"parent", "name", "options"}
_RESNET_FIELDS = {f.name for f in dataclasses.fields(resnet.ResNet)} - {
    "parent", "name", "options"}
_CNN_FLOW_FIELDS = {f.name for f in dataclasses.fields(CNNFlowS3DG)} - {
    "parent", "name", "options"}


def build_model(name: str, num_classes: int, *, switch_block: Optional[str] = None,
                **overrides):
  """Builds a preset of `MODELS` with `overrides` of S3DG (or, for the ResNet presets,
  `resnet.ResNet`) / ConvOptions attributes."""
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
  if switch_block is not None and name not in ("top_heavy_i3d", "bottom_heavy_i3d"):
    raise ValueError(f"switch_block applies only to the heavy I3D variants, not {name!r}")
  settings = MODELS[name](switch_block) if switch_block else MODELS[name]()
  settings.update(overrides)
  family, fields = (resnet.ResNet, _RESNET_FIELDS) if name in resnet.PRESETS else (
      (CNNFlowS3DG, _CNN_FLOW_FIELDS) if name in _CNN_FLOW_PRESETS else (S3DG, _MODEL_FIELDS))
  unknown = set(settings) - _OPTION_FIELDS - fields
  if unknown:
    raise ValueError(
        f"unknown option(s) {sorted(unknown)} for model {name!r}; known: "
        f"{sorted(fields | _OPTION_FIELDS | {'switch_block'})}")
  option_values = {k: settings.pop(k) for k in list(settings) if k in _OPTION_FIELDS}
  for key in ("dtype", "param_dtype"):
    if isinstance(option_values.get(key), str):
      if option_values[key] not in _DTYPES:
        raise ValueError(f"{key} must be one of {sorted(_DTYPES)}, got {option_values[key]!r}")
      option_values[key] = _DTYPES[option_values[key]]
  return family(num_classes=num_classes, options=ConvOptions(**option_values), **settings)


def build_call(model_config, num_classes: int) -> dict[str, Any]:
  """The `build_model` call of a config's network section, as JSON-able data.

  ``{'model', 'modality', 'num_classes', 'model_options'}``, the metadata of every
  export; `model_options` holds ``input_channels`` of the modality.
  """
  if model_config.modality not in INPUT_CHANNELS:
    raise ValueError(f"model.modality must be 'rgb' or 'flow', got {model_config.modality!r}")
  options = model_config.options
  # Nested sections (block_module_options) as plain dicts: the record is JSON.
  options = options.to_dict() if hasattr(options, "to_dict") else dict(options)
  options["input_channels"] = INPUT_CHANNELS[model_config.modality]
  return {"model": model_config.name, "modality": model_config.modality,
          "num_classes": int(num_classes), "model_options": options}


def build_from_call(call: dict[str, Any], compute_dtype: Optional[str] = None) -> S3DG:
  """Rebuilds the network of a `build_call` record (e.g. an export's metadata)."""
  options = dict(call.get("model_options", {}))
  if compute_dtype is not None:
    options.setdefault("dtype", compute_dtype)
  return build_model(call["model"], call["num_classes"], **options)


def build_from_config(model_config, num_classes: int, compute_dtype: str) -> S3DG:
  """`build_model` for a `configs.base.model_config()` section (``config.model``)."""
  return build_from_call(build_call(model_config, num_classes), compute_dtype)
