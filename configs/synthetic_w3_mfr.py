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

Variant ``:plain`` is a control the paper does not have: the same MFR on the plain
RGB S3D-G (no W3, no refinement; Eq. 9 at its final features, Mixed_3c), whose teacher
is the RGB baseline run (configs/synthetic_rgb_baseline.py), i.e. born-again feature
self-distillation; it tells W3's share of the MFR gain from the self-distillation's:

  python -m d3d_jax.main --config=configs/synthetic_w3_mfr.py:plain \
      --workdir=/tmp/d3d_jax/demo/mfr_plain_seed0 \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/rgb_baseline_seed0
"""

import ml_collections

from configs.synthetic_common import get_synthetic_config
from configs.synthetic_w3 import get_synthetic_w3_config

VARIANTS = ("w3", "plain")


def get_config(variant: str = "w3"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/synthetic_w3_mfr.py:{variant}: the variants are {VARIANTS}")
  if variant == "w3":
    c = get_synthetic_w3_config(objective="w3_mfr")
    c.teacher.checkpoint = "/tmp/d3d_jax/demo/w3_stage1_seed0"
    c.objective.feature_weights.AttentionRefinement = 1.0  # lambda of Eq. 9 (paper: a sum)
    return c
  c = get_synthetic_config(modality="rgb", objective="w3_mfr")
  c.input.modalities = ("rgb",)
  c.teacher.model.modality = "rgb"
  c.teacher.checkpoint = "/tmp/d3d_jax/demo/rgb_baseline_seed0"
  c.objective.feature_weights = ml_collections.ConfigDict({"Mixed_3c": 1.0})
  return c
