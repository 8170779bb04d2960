r"""D3D on Kinetics-400: RGB S3D-G distilled from the flow S3D-G (Stroud et al. 2020).

  python -m d3d_jax.main --config=configs/kinetics400_d3d.py \
      --workdir=gs://YOUR_BUCKET/workdirs/k400_d3d \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/k400_s3dg_flow

Reproduces: D3D Table 2 / Sec. 5.3: Eq. 1-2 with lambda = 1, the S3D-G hyperparameters,
140k steps. Paper number: 75.9 top-1 on Kinetics-400 (D3D), 76.5 for the D3D + S3D-G
ensemble (softmax average). Runtime: roughly 1.5-2 days on a TPU v4-64 slice (the teacher adds a forward
pass per step).
"""

from configs.kinetics400_common import get_kinetics400_config, step_boundaries
from d3d_jax import paper_rows


def get_config():
  c = get_kinetics400_config(modality="rgb", objective="d3d_logits")
  c.objective.distill_weight = 1.0   # lambda, Sec. 5.3
  c.objective.ce_weight = 1.0
  c.total_steps = 140_000            # "We train the model for 140k steps"
  c.schedule.boundaries = step_boundaries(c.total_steps)
  c.teacher.checkpoint = "gs://YOUR_BUCKET/workdirs/k400_s3dg_flow"
  c.paper_rows = paper_rows.section("d3d_t2_d3d", "d3d_t6_d3d")
  return c
