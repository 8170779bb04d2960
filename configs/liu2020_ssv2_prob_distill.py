r"""Liu et al. 2020, Table 3, "Ours (Prob-Distill)": attention distillation on SSv2.

  python -m d3d_jax.main --config=configs/liu2020_ssv2_prob_distill.py \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ssv2_prob_distill \
      --config.input.data_dir=gs://YOUR_BUCKET/ssv2_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/liu2020_ssv2_prob_atten_flow

The teacher is the finished run of configs/liu2020_ssv2.py:prob_atten_flow (a flow I3D
with the same Prob-Atten head, Sec. 3.4); train it first and pass its workdir.

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 3
(20BN-Something-Something V2), row "Ours (Prob-Distill)": the RGB I3D of
configs/liu2020_ucf101_prob_distill.py (Kinetics rgb_imagenet init; motion and
appearance Prob-Atten maps, Eq. 7 mixture, `head='prob_distill'`) trained with Eq. 8,
lambda_1 = 1, lambda_2 = 1 / (T H W). Paper number: 49.9 top-1 / 79.1 top-5 (the RGB
I3D of configs/liu2020_ssv2.py:i3d_rgb: 47.3 / 76.1).

Evaluations: `multiview` (4 clips x 3 crops), `attention_maps` (the motion map against
the teacher's), `teacher_student` (logit distance and agreement with the teacher).

Late fusion, Table 3 row "Prob-Distill+Flow I3D": 54.6 top-1 / 83.0 top-5 ("Two Stream
I3D", RGB I3D + flow I3D: 53.7 / 82.5). The flow member is the flow I3D of
configs/liu2020_ssv2.py:i3d_flow (the row's name). There is NO command-line entry point
for an ensemble (`python -m d3d_jax.main` evaluates one network); the library function
`d3d_jax.evaluation.evaluate_members` evaluates one. Run these Python lines
(without the two-space indent) from the repository root:

  from configs import liu2020_ssv2, liu2020_ssv2_prob_distill
  from d3d_jax import evaluation, sharding
  from data_pipelines.dataset_info import dataset_info
  config = liu2020_ssv2_prob_distill.get_config()   # its input: both streams, 4x3 views
  info = dataset_info(config.input)
  members = [evaluation.load_member(workdir + "/export", c.model, info.num_classes,
                                    c.compute_dtype) for c, workdir in (
      (config, "gs://YOUR_BUCKET/workdirs/liu2020_ssv2_prob_distill"),
      (liu2020_ssv2.get_config("i3d_flow"),
       "gs://YOUR_BUCKET/workdirs/liu2020_ssv2_i3d_flow"))]
  metrics, _ = evaluation.evaluate_members(members, config, sharding.make_mesh(config.mesh),
                                           info)
  print(metrics["top1@4x3"], metrics["top5@4x3"])

For the two-stream row, make the first member the RGB I3D run (liu2020_ssv2.get_config("i3d_rgb")
and its workdir); keep `config` (the input section with both streams) as it is.

The dataset (174 classes, no flips, 12 fps resampled to 24 Hz, how to write the
records): configs/liu2020_ssv2.py.

Settings (Sec. 3.6, and what is chosen where the paper is silent: 30 epochs = 79,177
steps of 64 clips, x0.1 at 1/2 and 3/4): configs/liu2020_common.py. Runtime: about 24 h
on 4 GPUs (estimated for V100s; the teacher's forward pass adds about a third per step).
"""

from configs.liu2020_common import get_liu2020_config, set_teacher
from d3d_jax import paper_rows

TEACHER = "gs://YOUR_BUCKET/workdirs/liu2020_ssv2_prob_atten_flow"


def get_config():
  c = get_liu2020_config(dataset="ssv2", modality="rgb", head="prob_distill",
                         objective="attention_distill")
  c.objective.motion_weight = 1.0      # lambda_1 (Sec. 3.5)
  c.objective.appearance_weight = None  # lambda_2 = 1 / (T H W) of the map's grid
  c.paper_rows = paper_rows.section("liu_t3_prob_distill")
  return set_teacher(c, TEACHER)
