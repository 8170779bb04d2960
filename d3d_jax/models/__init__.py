"""The I3D / S3D-G model family (Flax Linen, NTHWC). Entry point: `build_model`."""

from d3d_jax.models.registry import MODELS, build_model
from d3d_jax.models.s3dg import CONV_BLOCKS, ENDPOINTS, S3DG

__all__ = ["MODELS", "build_model", "CONV_BLOCKS", "ENDPOINTS", "S3DG"]
