r"""Synthetic demo, generative KD: stage 0: the I3D teacher with the attention module and its CVAE.

  python -m d3d_jax.main --config=configs/synthetic_gkd_teacher_att.py \
      --workdir=/tmp/d3d_jax/demo/gkd_teacher_att \
      --config.model.init_from.path=/tmp/d3d_jax/demo/gkd_teacher/export

Reproduces: Wang et al. 2024 Table 4 "I3D+Att" in miniature, and the teacher of the GKD row: its
export holds the network and the CVAE (objective gkd_representation). As the paper's
stage 0 starts from a trained I3D (ImageNet / Kinetics), this one starts from the
synthetic I3D teacher's export (configs/synthetic_gkd_teacher.py; the attention module
is new, `S3DG.new_modules`), so the KD / AT rows and GKD distil the same network; it
fine-tunes for two alternation cycles (2 x (48 CVAE + 48 network steps)).
Measured: README, "Generative feature distillation (Wang et al. 2024)". Runtime: 6.5 minutes
measured on a shared 2-core CPU at load 13-22 (less on idle cores).
Settings: configs/synthetic_gkd_common.py.
"""

from configs.synthetic_gkd_common import (STEPS_PER_EPOCH, TEACHER_DIR,
                                          get_synthetic_gkd_config)


def get_config():
  c = get_synthetic_gkd_config("i3d", "gkd_representation")
  c.model.init_from.path = f"{TEACHER_DIR}/export"
  c.total_steps = 4 * STEPS_PER_EPOCH
  return c
