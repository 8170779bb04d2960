"""What the synthetic generative-KD configs share (Wang et al., AAAI 2024, in miniature).

GKD compresses RGB into RGB: a full 3-D I3D teacher into a Top-heavy I3D student (2-D
below `switch_block`), both on RGB. The demo's synthetic videos are used as they are:
their classes are defined by motion (data_pipelines/synthetic.py), so a student whose
lower layers are 2-D loses exactly what the 3-D teacher sees, a real capacity gap
(UCF101's is 91.9 vs 64.1 top-1); no optical flow is read by any row.

Networks: the small S3D-G of the other synthetic rows (depth 0.25, ending at Mixed_3c,
8 x 4 x 4 x 120 there) as an I3D teacher (3-D throughout, conv1 7x7x7) and a
Top-I3D student that is 2-D in its stem (conv1 1x7x7, which with its temporal stride 2
sees every other frame alone) and 3-D from Conv3d_2c_3x3 on (`STUDENT_SWITCH_BLOCK`).
The paper's Top-I3D switches later, at Mixed_4d (2-D in 7 of its 12 conv layers and
blocks). Here a later switch makes the student blind, not smaller: this network's
blocks from Mixed_3b on see a 4 x 4 grid of 8-pixel cells, and the objects move 4-6
pixels per time step there, so a student that is 3-D only from Mixed_3b or Mixed_3c
on stays at chance (measured, seed 0, 480 steps: 11.5 % and 11.7 %, chance 8.3 %;
training cross-entropy still about 1.9 at step 480 against 1.1 below), so there is
nothing for a teacher to compress into. Switching at Conv3d_2c_3x3 (an 8 x 8 grid) it
learns (47.4 %, seed 0) and stays well below the I3D teacher (67.4 %): a real
compression gap for the distillation rows to close. It is smaller and, above all,
cheaper: 102,572 parameters against the teacher's 116,684, and 42.7 against 94.4
MFLOPs per 16 x 32 x 32 clip (XLA's cost analysis), as conv1 7x7x7 at full
resolution is the teacher's most expensive layer. The attention module and CVAE sit
on Mixed_3c (the final endpoint, as Mixed_5c at full size); the code's time
upsampling to 1024 is kept; GroupNorm takes 4 groups
(30 channels each; the code's GN(32) on 1024 channels has 32) and the CVAE's hidden
width is 128, about the channel count (120; the code: 1024 = C).

Optimisation: every row trains the network for the same number of steps with Adam at
a constant 1e-3 (constant like the paper's student; 1e-3 since 3e-3 leaves RGB students
at chance for a while, configs/synthetic_common.py). The GKD rows alternate one epoch
(48 steps) of CVAE updates with one epoch of network updates, as the authors' code, so
they take twice the steps; the CVAE has Adam 1e-3 with betas (0.8, 0.999) (the paper's
1e-4 is for 200 epochs).
"""

import ml_collections

from configs.synthetic_common import get_synthetic_config
from d3d_jax.objectives import objective_config
from d3d_jax.optimizers import group_config

# Where the demo's Top-I3D student turns 3-D (the paper's: Mixed_4d; see above).
STUDENT_SWITCH_BLOCK = "Conv3d_2c_3x3"
NETWORK_STEPS = 480           # 10 epochs of 48 steps (768 videos, batch 16)
STEPS_PER_EPOCH = 48
TEACHER_DIR = "/tmp/d3d_jax/demo/gkd_teacher"
TEACHER_ATT_DIR = "/tmp/d3d_jax/demo/gkd_teacher_att"
GKD_OBJECTIVES = ("gkd", "gkd_representation")


def network_config(network: str, attention: bool) -> ml_collections.ConfigDict:
  """The synthetic I3D teacher ('i3d') or Top-I3D student ('top_i3d')."""
  m = get_synthetic_config("rgb", "ce").model
  if network == "i3d":
    m.name = "i3d"
  elif network == "top_i3d":
    m.name = "top_heavy_i3d"
    m.options.switch_block = STUDENT_SWITCH_BLOCK
  else:
    raise ValueError(f"network must be 'i3d' or 'top_i3d', got {network!r}")
  m.options.dropout_rate = 0.2
  if attention:
    m.options.head = "feature_attention"
    m.options.feature_attention_groups = 4
  return m


def get_synthetic_gkd_config(network: str, objective: str,
                             teacher: str = "") -> ml_collections.ConfigDict:
  """One row: the network, its objective, and (distilled rows) the teacher's workdir."""
  c = get_synthetic_config(modality="rgb", objective="ce")
  c.model = network_config(network, attention=objective in GKD_OBJECTIVES)
  c.objective = objective_config(objective)
  c.input.modalities = ("rgb",)
  c.schedule.name = "constant"
  c.schedule.base_lr = 1e-3
  c.schedule.warmup_steps = 0
  c.total_steps = NETWORK_STEPS
  if objective in GKD_OBJECTIVES:
    c.objective.feature_endpoint = "Mixed_3c"
    c.objective.cvae_hidden = 128
    c.objective.cvae_groups = 4
    c.objective.cvae_stage_steps = c.objective.network_stage_steps = STEPS_PER_EPOCH
    c.total_steps = 2 * NETWORK_STEPS
    adam = ml_collections.ConfigDict(c.optimizer.to_dict())
    adam.update(b1=0.8, b2=0.999)
    c.optimizer.groups.cvae = group_config("^extra/cvae/", optimizer=adam)
  if objective == "attention_transfer":  # the four MMRazor layers, as far as this net goes
    c.objective.feature_weights = ml_collections.ConfigDict(
        {"Conv3d_2c_3x3": 100.0, "Mixed_3b": 100.0, "Mixed_3c": 100.0})
  if teacher:
    c.teacher.checkpoint = teacher
    c.teacher.model = network_config("i3d", attention=objective == "gkd")
  return c
