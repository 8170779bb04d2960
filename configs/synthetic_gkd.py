r"""Synthetic demo, generative KD: Top-I3D + generative feature KD (Eq. 14-15).

  python -m d3d_jax.main --config=configs/synthetic_gkd.py \
      --workdir=/tmp/d3d_jax/demo/gkd \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/gkd_teacher_att

Reproduces: Wang et al. 2024 Table 1 "Ours" in miniature: the student with the attention module,
alternating one epoch of CVAE updates (L_GD, Eq. 14) with one epoch of network updates
(L_AD, Eq. 15) against the stage-0 teacher. The paper's claim: GKD > KD, AT > student.
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: 13.5-14 minutes
measured on a shared 2-core CPU at load 13-22 (less on idle cores).
Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import TEACHER_ATT_DIR, get_synthetic_gkd_config


def get_config():
  return get_synthetic_gkd_config("top_i3d", "gkd", TEACHER_ATT_DIR)
