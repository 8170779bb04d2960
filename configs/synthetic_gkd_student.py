r"""Synthetic demo, generative KD: the Top-I3D student alone (RGB, cross-entropy).

  python -m d3d_jax.main --config=configs/synthetic_gkd_student.py \
      --workdir=/tmp/d3d_jax/demo/gkd_student

Reproduces: Wang et al. 2024 Table 1 "Student" in miniature.
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: about
1-3 minutes on a 2-core CPU. Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("top_i3d", "ce")
