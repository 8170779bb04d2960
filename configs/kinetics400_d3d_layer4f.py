r"""D3D Table 6, "D3D distilled at layer 4F": Eq. 2 on the Mixed_4f activations (per-element mean) instead of the logits. TEACHER = the flow S3D-G workdir.

  python -m d3d_jax.main --config=configs/kinetics400_d3d_layer4f.py \
      --workdir=gs://YOUR_BUCKET/workdirs/kinetics400_d3d_layer4f \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/TEACHER

Reproduces: D3D (Stroud et al., WACV 2020) Table 6 (ablations, Sec. 5.6), row "D3D distilled at layer 4F".
Paper number: 74.8 top-1 on the reduced Kinetics-400 validation set (D3D itself: 75.9).
Everything else as configs/kinetics400_d3d.py (140k steps, lambda per Sec. 5.6).
Runtime: roughly 1.5-2 days on a TPU v4-64 slice.
"""

from configs import kinetics400_d3d
from d3d_jax.objectives import objective_config


def get_config():
  c = kinetics400_d3d.get_config()
  c.objective = objective_config("feature")
  c.objective.feature_weights = {"Mixed_4f": 100.0}  # lambda = 100 at 4F (Sec. 5.6)
  return c
