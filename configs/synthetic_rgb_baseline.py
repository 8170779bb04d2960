r"""Synthetic demo, step 3: the RGB baseline (S3D-G on RGB, cross-entropy only).

  python -m d3d_jax.main --config=configs/synthetic_rgb_baseline.py \
      --workdir=/tmp/d3d_jax/demo/rgb_baseline \
      --config.model.init_from.path=/tmp/d3d_jax/demo/rgb_init/export

Reproduces: the "S3D-G RGB" row of D3D Table 2 in miniature: the RGB initialisation
trained for as many more steps as the D3D student, with cross-entropy alone.
Expected: clearly below the flow teacher (an RGB network must learn motion from
appearance changes). Runtime: under a minute on a 2-core CPU.
"""

from configs.synthetic_common import continue_from_rgb_init, get_synthetic_config


def get_config():
  return continue_from_rgb_init(get_synthetic_config(modality="rgb", objective="ce"))
