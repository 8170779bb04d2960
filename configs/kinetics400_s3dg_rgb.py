r"""S3D-G RGB on Kinetics-400: the baseline row of D3D Tables 2 and 6.

  python -m d3d_jax.main --config=configs/kinetics400_s3dg_rgb.py \
      --workdir=gs://YOUR_BUCKET/workdirs/k400_s3dg_rgb \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr

Reproduces: D3D Table 2, "S3D-G RGB" (= Table 6, "S3D-G"). Paper number: 74.0 top-1 on the reduced
Kinetics-400 validation set (74.7 on the full set). Runtime: roughly a day on a TPU v4-64 slice.
"""

from configs.kinetics400_common import get_kinetics400_config
from d3d_jax import paper_rows


def get_config():
  c = get_kinetics400_config(modality="rgb", objective="ce")
  c.paper_rows = paper_rows.section("d3d_t2_s3dg_rgb", "d3d_t6_s3dg")
  return c
