r"""Synthetic demo, step 3: D3D, the RGB student distilled from the flow teacher.

  python -m d3d_jax.main --config=configs/synthetic_d3d.py \
      --workdir=/tmp/d3d_jax/demo/d3d \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/flow_teacher

Reproduces: D3D (Stroud et al., WACV 2020) Eq. 1-2 exactly as published, on the
synthetic motion dataset: the same network and schedule as the RGB baseline, plus
lambda = 1 (Sec. 5.3) times the squared error to the flow teacher's raw pre-softmax
logits, averaged over the classes and the batch (objective.reduction='mean', the scale
the paper's lambda values assume, Sec. 5.6). Expected and measured: README, "The demo".
Runtime: about 1-2 minutes on a 2-core CPU.

configs/synthetic_d3d_standardized.py is the variant with per-clip standardised logits.
"""

from configs.synthetic_common import get_synthetic_config


def get_config():
  c = get_synthetic_config(modality="rgb", objective="d3d_logits")
  c.teacher.checkpoint = "/tmp/d3d_jax/demo/flow_teacher"
  c.objective.distill_weight = 1.0  # lambda of Eq. 1 (paper: 1)
  c.objective.reduction = "mean"    # per-class mean of Eq. 2's squared error
  c.objective.standardize_logits = False
  return c
