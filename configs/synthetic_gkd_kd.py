r"""Synthetic demo, generative KD: Top-I3D + Hinton KD from the I3D teacher.

  python -m d3d_jax.main --config=configs/synthetic_gkd_kd.py \
      --workdir=/tmp/d3d_jax/demo/gkd_kd \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/gkd_teacher

Reproduces: Wang et al. 2024 Table 1 "KD" in miniature (tau 4, weight 1).
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: 3.5-4.5 minutes
measured on a shared 2-core CPU at load 13-22 (less on idle cores).
Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import TEACHER_DIR, get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("top_i3d", "hinton_kd", TEACHER_DIR)
