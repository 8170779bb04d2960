r"""S3D-G flow stream on Kinetics-400: the teacher of D3D (Stroud et al. 2020, Sec. 5.3).

  python -m d3d_jax.main --config=configs/kinetics400_s3dg_flow.py \
      --workdir=gs://YOUR_BUCKET/workdirs/k400_s3dg_flow \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr

Reproduces: the S3D-G temporal (flow) stream used as D3D's teacher, trained "using
identical settings to those described in prior work" (S3D-G, Xie et al. 2018).
Paper number: D3D Table 2, S3D-G Flow 67.3 top-1 (reduced Kinetics-400; 68.0 full).
Runtime: roughly a day on a TPU v4-64 slice (80k steps of 384 x 64x224x224 clips).
"""

from configs.kinetics400_common import get_kinetics400_config
from d3d_jax import paper_rows


def get_config():
  c = get_kinetics400_config(modality="flow", objective="ce")
  c.paper_rows = paper_rows.section("d3d_t2_s3dg_flow", "d3d_t6_temporal")
  return c
