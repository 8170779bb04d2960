r"""Synthetic demo, step 4: D3D, the RGB student distilled from the flow teacher.

  python -m d3d_jax.main --config=configs/synthetic_d3d.py \
      --workdir=/tmp/d3d_jax/demo/d3d \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/flow_teacher \
      --config.model.init_from.path=/tmp/d3d_jax/demo/rgb_init/export

Reproduces: D3D (Stroud et al., WACV 2020) Eq. 1-2 with lambda = 1 on the synthetic
motion dataset: the same RGB initialisation, network and schedule as the RGB
baseline, plus the squared error to the flow teacher's pre-softmax logits.
Expected (paper): above the RGB baseline, with no flow needed at inference; measured
here: on par with it (README, "The demo").

--config.objective.standardize_logits=True z-scores both logit vectors per clip first
(Sun et al. CVPR 2024). Trained from scratch on this dataset, the paper's raw Eq. 2 fell
far below the baseline (the student also regresses the teacher's per-clip confidence,
which follows the amount of flow) and standardised logits did not; continuing from
the RGB init, as here, both are on par with the baseline. Runtime: about a minute on a
2-core CPU.
"""

from configs.synthetic_common import continue_from_rgb_init, get_synthetic_config


def get_config():
  c = continue_from_rgb_init(get_synthetic_config(modality="rgb", objective="d3d_logits"))
  c.teacher.checkpoint = "/tmp/d3d_jax/demo/flow_teacher"
  c.objective.distill_weight = 1.0  # lambda of Eq. 1 (paper: 1)
  return c
