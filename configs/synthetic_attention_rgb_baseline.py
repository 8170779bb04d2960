r"""Synthetic demo, attention distillation step 2: the RGB Prob-Atten baseline.

  python -m d3d_jax.main --config=configs/synthetic_attention_rgb_baseline.py \
      --workdir=/tmp/d3d_jax/demo/attention_rgb_baseline

Reproduces: Liu et al. (BMVC 2020) Table 1's "RGB Prob-Atten" in miniature: the
baseline Prob-Distill must beat (Sec. 4.3). The same network and objective as the flow
teacher (configs/synthetic_attention_flow_teacher.py), on RGB. Measured: README, "The
demo". Runtime: about 2 minutes on a 2-core CPU.
"""

from configs.synthetic_common import get_synthetic_attention_config


def get_config():
  return get_synthetic_attention_config(modality="rgb", head="prob_atten",
                                        objective="attention_prior")
