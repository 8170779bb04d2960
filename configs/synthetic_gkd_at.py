r"""Synthetic demo, generative KD: Top-I3D + attention transfer from the I3D teacher.

  python -m d3d_jax.main --config=configs/synthetic_gkd_at.py \
      --workdir=/tmp/d3d_jax/demo/gkd_at \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/gkd_teacher

Reproduces: Wang et al. 2024 Table 1 "AT" in miniature (beta 100 at Conv3d_2c_3x3, Mixed_3b,
Mixed_3c: MMRazor's layers as far as this network goes).
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: 3-4.5 minutes
measured on a shared 2-core CPU at load 13-22 (less on idle cores).
Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import TEACHER_DIR, get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("top_i3d", "attention_transfer", TEACHER_DIR)
