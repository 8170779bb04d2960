"""The I3D / S3D-G model family (Flax Linen, NTHWC). Entry points: `build_model` and,
for a config's network section, `build_from_config`."""

from d3d_jax.models.registry import (COMPUTE_OPTIONS, INPUT_CHANNELS, MODELS, build_call,
                                     build_from_call, build_from_config, build_model)
from d3d_jax.models.s3dg import CONV_BLOCKS, ENDPOINTS, S3DG

__all__ = ["COMPUTE_OPTIONS", "INPUT_CHANNELS", "MODELS", "build_call", "build_from_call",
           "build_from_config", "build_model", "CONV_BLOCKS", "ENDPOINTS", "S3DG"]
