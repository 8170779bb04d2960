r"""Synthetic demo, generative KD: the I3D teacher (RGB, cross-entropy).

  python -m d3d_jax.main --config=configs/synthetic_gkd_teacher.py \
      --workdir=/tmp/d3d_jax/demo/gkd_teacher

Reproduces: Wang et al. 2024 Table 1 "Teacher" in miniature: the teacher of the KD and AT rows.
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: 6 minutes
measured on a shared 2-core CPU at load 13-22 (less on idle cores).
Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("i3d", "ce")
