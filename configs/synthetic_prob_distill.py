r"""Synthetic demo, attention distillation step 3: Prob-Distill, the RGB student.

  python -m d3d_jax.main --config=configs/synthetic_prob_distill.py \
      --workdir=/tmp/d3d_jax/demo/prob_distill \
      --config.teacher.checkpoint=/tmp/d3d_jax/demo/attention_flow_teacher

Reproduces: Liu et al. (BMVC 2020) "Ours (Prob-Distill)" (Tables 2-3) in miniature: an
RGB network with motion and appearance Prob-Atten heads whose predictions are mixed
(Eq. 7); loss Eq. 8 = CE + lambda_1 sum_t KL[A^M(t) || A~^M(t)] + lambda_2 sum_t
KL[A^A(t) || U], lambda_1 = 1, lambda_2 = 1/(T H W), A~^M the flow Prob-Atten teacher's
map. The paper's claim: Prob-Distill > RGB Prob-Atten. Measured: README, "The demo";
the attention pictures land in <workdir>/eval/attention/. Runtime: about 2-3 minutes on
a 2-core CPU.
"""

from configs import synthetic_attention_flow_teacher
from configs.synthetic_common import get_synthetic_attention_config
from d3d_jax.evaluators import evaluator_config


def get_config():
  c = get_synthetic_attention_config(modality="rgb", head="prob_distill",
                                     objective="attention_distill")
  c.teacher.checkpoint = "/tmp/d3d_jax/demo/attention_flow_teacher"
  c.teacher.model = synthetic_attention_flow_teacher.get_config().model
  c.evals.attention_maps = evaluator_config("attention_maps", teacher_map="Attention/map")
  c.evals.teacher_student = evaluator_config("teacher_student_distance")
  return c
