r"""Synthetic demo, step 3: D3D, the RGB student distilled from the flow teacher.

  python -m d3d_jax.main --config=configs/synthetic_d3d.py \
      --workdir=/tmp/d3d_jax/demo/d3d \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/flow_teacher

Reproduces: D3D (Stroud et al., WACV 2020) Eq. 1-2 with lambda = 1 on the synthetic
motion dataset: same network and schedule as the RGB baseline, plus the squared error
to the flow teacher's pre-softmax logits. Expected: clearly above the RGB baseline,
with no flow needed at inference. Runtime: about 2 minutes on a 2-core CPU.
"""

from configs.synthetic_common import get_synthetic_config


def get_config():
  c = get_synthetic_config(modality="rgb", objective="d3d_logits")
  c.teacher.checkpoint = "/tmp/d3d_jax/demo/flow_teacher"
  c.objective.distill_weight = 1.0  # lambda of Eq. 1 (paper: 1)
  return c
