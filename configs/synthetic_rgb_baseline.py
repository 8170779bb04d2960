r"""Synthetic demo, step 2: the RGB baseline (S3D-G on RGB, cross-entropy only).

  python -m d3d_jax.main --config=configs/synthetic_rgb_baseline.py \
      --workdir=/tmp/d3d_jax/demo/rgb_baseline

Reproduces: the "S3D-G RGB" row of D3D Table 2 in miniature. Expected: clearly below
the flow teacher (an RGB network must learn motion from appearance changes).
Runtime: about 1-2 minutes on a 2-core CPU.
"""

from configs.synthetic_common import get_synthetic_config


def get_config():
  return get_synthetic_config(modality="rgb", objective="ce")
