r"""Synthetic demo, generative KD: the Top-I3D student alone (RGB, cross-entropy).

  python -m d3d_jax.main --config=configs/synthetic_gkd_student.py \
      --workdir=/tmp/d3d_jax/demo/gkd_student

Reproduces: Wang et al. 2024 Table 1 "Student" in miniature.
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: 2 minutes
measured on a shared 2-core CPU at load 13-22 (less on idle cores).
Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("top_i3d", "ce")
