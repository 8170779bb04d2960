r"""Synthetic demo, W3 stage 2: MFR, the same network distilling stage 1's refined features.

  python -m d3d_jax.main --config=configs/synthetic_w3_mfr.py \
      --workdir=/tmp/d3d_jax/demo/w3_mfr_seed0 \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/w3_stage1_seed0

Reproduces: W3 with mature feature-guided regularisation (Perez-Rua et al., ECCV 2020,
Sec. 3.4, Eq. 9), the "+ W3" column of Table 7 (52.6 top-1 vs 50.2 without MFR), in
miniature: an identical, freshly initialised network (configs/synthetic_w3.py) trained
with cross-entropy plus lambda = 1 times the squared error (per-element mean) to the
stage-1 network's refined final features, frame by frame; the stage-1 workdir is the
frozen teacher, loaded whole with its W3 modules. Expected and measured: README,
"W3 attention". Runtime: about 1-2 minutes on a 2-core CPU after stage 1.
"""

from configs.synthetic_w3 import get_synthetic_w3_config


def get_config():
  c = get_synthetic_w3_config(objective="w3_mfr")
  c.teacher.checkpoint = "/tmp/d3d_jax/demo/w3_stage1_seed0"
  c.objective.feature_weights.AttentionRefinement = 1.0  # lambda of Eq. 9 (paper: a sum)
  return c
