r"""D3D Table 6, "D3D without action loss": the distillation loss alone, no cross-entropy. TEACHER = the flow S3D-G workdir.

  python -m d3d_jax.main --config=configs/kinetics400_d3d_no_action_loss.py \
      --workdir=gs://YOUR_BUCKET/workdirs/kinetics400_d3d_no_action_loss \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/TEACHER

Reproduces: D3D (Stroud et al., WACV 2020) Table 6 (ablations, Sec. 5.6), row "D3D without action loss".
Paper number: 58.8 top-1 on the reduced Kinetics-400 validation set (D3D itself: 75.9).
Everything else as configs/kinetics400_d3d.py (140k steps, lambda per Sec. 5.6).
Runtime: roughly 1.5-2 days on a TPU v4-64 slice.
"""

from configs import kinetics400_d3d


def get_config():
  c = kinetics400_d3d.get_config()
  c.objective.ce_weight = 0.0  # L = lambda * L_d only
  return c
