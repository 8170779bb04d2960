r"""Synthetic demo, step 2: the RGB initialisation (S3D-G on RGB, cross-entropy, from scratch).

  python -m d3d_jax.main --config=configs/synthetic_rgb_init.py \
      --workdir=/tmp/d3d_jax/demo/rgb_init

Stands in for the pretrained RGB weights the papers start from: both the RGB baseline
(configs/synthetic_rgb_baseline.py) and the D3D student (configs/synthetic_d3d.py)
continue from its export, so the comparison between them isolates the loss.
Runtime: about 1-2 minutes on a 2-core CPU.
"""

from configs.synthetic_common import get_synthetic_config


def get_config():
  return get_synthetic_config(modality="rgb", objective="ce")
