r"""Synthetic demo, generative KD: Top-I3D + Hinton KD from the I3D teacher.

  python -m d3d_jax.main --config=configs/synthetic_gkd_kd.py \
      --workdir=/tmp/d3d_jax/demo/gkd_kd \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/gkd_teacher

Reproduces: Wang et al. 2024 Table 1 "KD" in miniature (tau 4, weight 1).
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: about
1-3 minutes on a 2-core CPU. Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import TEACHER_DIR, get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("top_i3d", "hinton_kd", TEACHER_DIR)
