r"""Wang et al. 2024 (generative feature KD) on HMDB51 split 1: Table 1's HMDB51 columns.
One row per variant:

  python -m d3d_jax.main --config=configs/wang2024_hmdb51.py:top_i3d_gkd \
      --workdir=gs://YOUR_BUCKET/workdirs/wang2024_hmdb51_top_i3d_gkd \
      --config.input.data_dir=gs://YOUR_BUCKET/hmdb51_split1_tfr

Train teacher_i3d and teacher_i3d_att first; distilled rows read them from
gs://YOUR_BUCKET/workdirs/wang2024_hmdb51_<teacher variant>.

Reproduces: Wang, Zhao, Shi, Zhao, Yang (AAAI 2024), Table 1, HMDB51 top-1 (top-5);
ours is `top1@1x1`:

| variant          | objective          | Table 1 row: top-1 (top-5)            |
|------------------|--------------------|---------------------------------------|
| teacher_i3d      | ce                 | Teacher 69.0 (88.8)                   |
| teacher_i3d_att  | gkd_representation | (the GKD teacher; no row)             |
| top_i3d          | ce                 | Student 52.0 (77.6)                   |
| top_i3d_kd       | hinton_kd          | KD 53.1 (78.2)                        |
| top_i3d_fitnets  | fitnets            | no row (FN is feature-normalised KD)  |
| top_i3d_at       | attention_transfer | AT 52.9 (77.1)                        |
| top_i3d_dkd      | dkd                | no row                                |
| top_i3d_gkd      | gkd                | Ours 54.5 (79.0)                      |

Frames resized to 240 before cropping (the paper and the code's ``Scale(240)``); the
rest as configs/wang2024_common.py. Runtime: about 40% of the UCF101 rows (3,570 vs
9,537 training videos).
"""

from configs.wang2024_common import get_wang2024_config
from d3d_jax import paper_rows

VARIANTS = ("teacher_i3d", "teacher_i3d_att", "top_i3d", "top_i3d_kd", "top_i3d_fitnets",
            "top_i3d_at", "top_i3d_dkd", "top_i3d_gkd")
# variant -> its Table 1 HMDB51 row (d3d_jax/paper_rows.py).
PAPER_ROWS = {"teacher_i3d": ("wang_t1_teacher_hmdb51",),
              "top_i3d": ("wang_t1_student_hmdb51",), "top_i3d_kd": ("wang_t1_kd_hmdb51",),
              "top_i3d_at": ("wang_t1_at_hmdb51",), "top_i3d_gkd": ("wang_t1_ours_hmdb51",)}


def get_config(variant: str = "top_i3d_gkd"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/wang2024_hmdb51.py:{variant}: the variants are "
                     f"{sorted(VARIANTS)}")
  c = get_wang2024_config("hmdb51", variant)
  c.paper_rows = paper_rows.section(*PAPER_ROWS.get(variant, ()))
  return c
