r"""D3D Table 6, "D3D distilled from spatial stream": the teacher is the RGB S3D-G (configs/kinetics400_s3dg_rgb.py), not the flow stream. TEACHER = the RGB S3D-G workdir.

  python -m d3d_jax.main --config=configs/kinetics400_d3d_spatial_teacher.py \
      --workdir=gs://YOUR_BUCKET/workdirs/kinetics400_d3d_spatial_teacher \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/TEACHER

Reproduces: D3D (Stroud et al., WACV 2020) Table 6 (ablations, Sec. 5.6), row "D3D distilled from spatial stream".
Paper number: 74.3 top-1 on the reduced Kinetics-400 validation set (D3D itself: 75.9).
Everything else as configs/kinetics400_d3d.py (140k steps, lambda per Sec. 5.6).
Runtime: roughly 1.5-2 days on a TPU v4-64 slice.
"""

from configs import kinetics400_d3d


def get_config():
  c = kinetics400_d3d.get_config()
  c.teacher.model.modality = "rgb"
  c.input.modalities = ("rgb",)
  return c
