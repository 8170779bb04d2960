r"""Synthetic demo, attention distillation step 1: the flow Prob-Atten teacher.

  python -m d3d_jax.main --config=configs/synthetic_attention_flow_teacher.py \
      --workdir=/tmp/d3d_jax/demo/attention_flow_teacher

Reproduces: Liu et al. (BMVC 2020) Table 1's "Flow Prob-Atten" in miniature, the
teacher of Prob-Distill: a probabilistic attention map (Eq. 2, Gumbel samples in
training, p(A) at test) pools the features (Eq. 4); loss CE + lambda_2 sum_t KL[A(t)||U]
(Eq. 3, objective 'attention_prior'). Expected: near the plain flow teacher (motion
defines the classes). Measured: README, "The demo". Runtime: about 2 minutes on a
2-core CPU.
"""

from configs.synthetic_common import get_synthetic_attention_config


def get_config():
  return get_synthetic_attention_config(modality="flow", head="prob_atten",
                                        objective="attention_prior")
