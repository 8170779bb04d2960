r"""Wang et al. 2024 (generative feature KD) on UCF101 split 1: Tables 1, 3, 4 and 5.
One row per variant:

  python -m d3d_jax.main --config=configs/wang2024_ucf101.py:top_i3d_gkd \
      --workdir=gs://YOUR_BUCKET/workdirs/wang2024_ucf101_top_i3d_gkd \
      --config.input.data_dir=gs://YOUR_BUCKET/ucf101_split1_tfr

Order: teacher_i3d (teacher of the logit / feature baselines) and teacher_i3d_att (stage
0: the GKD teacher with its attention module and CVAE) first; every distilled row reads
its teacher from gs://YOUR_BUCKET/workdirs/wang2024_ucf101_<teacher variant> (change it
with --config.teacher.checkpoint=).

Reproduces: "Generative Model-Based Feature Knowledge Distillation for Action
Recognition" (Wang, Zhao, Shi, Zhao, Yang, AAAI 2024). Paper numbers are UCF101 top-1
(top-5); ours is `top1@1x1` (one centre crop of one 64-frame clip, the authors' test):

| variant                | network    | objective                | rows: top-1 (top-5)                                   |
|------------------------|------------|--------------------------|-------------------------------------------------------|
| teacher_i3d            | I3D        | ce                       | T1 Teacher 91.9 (98.8); T4 I3D 91.9 (98.8)            |
| teacher_i3d_att        | I3D + Att  | gkd_representation       | T4 I3D+Att 92.4 (99.1); the GKD teacher               |
| top_i3d                | Top-I3D    | ce                       | T1 Student, T3 baseline, T4, T5 Top-I3D: 64.1 (82.1)  |
| top_i3d_att            | Top-I3D + Att | gkd_representation    | T3 +L_recon 65.2 (83.3); T4 Top-I3D+Att 64.7 (82.9)   |
| top_i3d_kd             | Top-I3D    | hinton_kd (tau 4)        | T1 KD 65.2 (79.2)                                     |
| top_i3d_fitnets        | Top-I3D    | fitnets (Mixed_5c)       | no row (T1's FN is feature-normalised KD, not FitNets) |
| top_i3d_at             | Top-I3D    | attention_transfer       | T1 AT 66.2 (80.5)                                     |
| top_i3d_dkd            | Top-I3D    | dkd                      | no row (T1 has CTKD, not DKD)                         |
| top_i3d_gkd            | Top-I3D + Att | gkd                   | T1 Ours 66.6 (84.5); T3 all terms 66.6 (84.5); T5 Top-I3D+Ours 66.2 (84.9) |
| top_i3d_gkd_no_kd_att  | Top-I3D + Att | gkd, gamma = 0        | T3 +L_recon +L_KD-cvae 66.2 (84.0)                    |
| top_i3d_gkd_no_kd_gen  | Top-I3D + Att | gkd, beta = 0         | T3 +L_recon +L_KD-att 66.1 (83.5)                     |
| bottom_i3d             | Bottom-I3D | ce                       | T5 Bottom-I3D 52.7 (72.7)                             |
| bottom_i3d_gkd         | Bottom-I3D + Att | gkd                | T5 Bottom-I3D+Ours 53.3 (72.9)                        |
| i2d                    | I2D        | ce                       | T5 I2D 52.2 (70.8)                                    |
| i2d_gkd                | I2D + Att  | gkd                      | T5 I2D+Ours 58.6 (76.0)                               |

The paper reports two numbers for Top-I3D + GKD (66.6 in Tables 1 / 3, 66.2 in Table
5) and for Top-I3D + attention module (65.2 in Table 3, 64.7 in Table 4); one config
serves each pair. Table 2 (THUMOS14 detection) needs an AFSD detector: out of scope.

Settings and their sources: configs/wang2024_common.py. Runtime: a GKD student row is
400 epochs of steps (200 CVAE + 200 network passes) at batch 6, about 636k steps;
roughly 2-3 days on one A100 in bfloat16 (estimated, not measured here).
"""

from configs.wang2024_common import ROWS, get_wang2024_config
from d3d_jax import paper_rows

VARIANTS = tuple(ROWS)
# variant -> its rows of Tables 1, 3, 4 and 5 (d3d_jax/paper_rows.py).
PAPER_ROWS = {
    "teacher_i3d": ("wang_t1_teacher_ucf101", "wang_t4_i3d"),
    "teacher_i3d_att": ("wang_t4_i3d_att",),
    "top_i3d": ("wang_t1_student_ucf101", "wang_t3_baseline", "wang_t4_top_i3d",
                "wang_t5_top_i3d"),
    "top_i3d_att": ("wang_t3_recon", "wang_t4_top_i3d_att"),
    "top_i3d_kd": ("wang_t1_kd_ucf101",),
    "top_i3d_fitnets": (),
    "top_i3d_at": ("wang_t1_at_ucf101",),
    "top_i3d_dkd": (),
    "top_i3d_gkd": ("wang_t1_ours_ucf101", "wang_t3_all", "wang_t5_top_i3d_ours"),
    "top_i3d_gkd_no_kd_att": ("wang_t3_recon_kd_cvae",),
    "top_i3d_gkd_no_kd_gen": ("wang_t3_recon_kd_att",),
    "bottom_i3d": ("wang_t5_bottom_i3d",),
    "bottom_i3d_gkd": ("wang_t5_bottom_i3d_ours",),
    "i2d": ("wang_t5_i2d",),
    "i2d_gkd": ("wang_t5_i2d_ours",),
}


def get_config(variant: str = "top_i3d_gkd"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/wang2024_ucf101.py:{variant}: the variants are "
                     f"{sorted(VARIANTS)}")
  c = get_wang2024_config("ucf101", variant)
  c.paper_rows = paper_rows.section(*PAPER_ROWS.get(variant, ()))
  return c
