r"""Liu et al. 2020, Table 2, "Ours (Prob-Distill)": attention distillation on UCF101.

  python -m d3d_jax.main --config=configs/liu2020_ucf101_prob_distill.py \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ucf101_prob_distill \
      --config.input.data_dir=gs://YOUR_BUCKET/ucf101_split1_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/liu2020_ucf101_prob_atten_flow

The teacher is the finished run of configs/liu2020_ucf101.py:prob_atten_flow (Table 1,
"Flow Prob-Atten"); train it first and pass its workdir (TEACHER above).

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 2, row
"Ours (Prob-Distill)" (Sec. 3.5, 4.3): an RGB I3D (Kinetics rgb_imagenet init) with a
motion and an appearance Prob-Atten map (Eq. 2, both from Mixed_4f, each pooling
Mixed_5c, Eq. 4) whose two predictions are mixed with equal weights (Eq. 7,
`head='prob_distill'`), trained with Eq. 8 (objective 'attention_distill'):
CE + lambda_1 sum_t KL[A^M(t) || A~^M(t)] + lambda_2 sum_t KL[A^A(t) || U], lambda_1 = 1,
lambda_2 = 1 / (T H W), A~^M the frozen flow Prob-Atten teacher's map p(A). At test only
RGB is read. Paper numbers: 95.7 mean class accuracy on UCF101 split 1
(`mean_class_accuracy@10x3`), 72.0 on HMDB51 split 1 (switch the dataset as in
configs/liu2020_common.py, "HMDB51", and point teacher.checkpoint at the HMDB51 flow
Prob-Atten run).

Evaluations (`config.evals`): `multiview` (10 clips x 3 crops, the paper's metric);
`attention_maps` (map entropy, the KL of the student's motion map to the teacher's map,
pictures as the paper's Fig. 2 in <workdir>/eval/attention/); `teacher_student` (logit
distance, KL and agreement with the teacher).

Late fusion, Table 2 row "Prob-Distill+Flow I3D*": 97.4 UCF101 / 75.7 HMDB51 (and "Two
Stream I3D*", RGB I3D + flow I3D, 96.7 / 74.8). The row name says the flow member is the
24-frame flow I3D (configs/liu2020_ucf101.py:i3d_flow); the text calls it "a reference
flow model", so the flow Prob-Atten teacher is the other reading. There is NO command-
line entry point for an ensemble: `python -m d3d_jax.main` evaluates one network. The
ensemble evaluation is the library function `d3d_jax.evaluation.evaluate_members`
(members' softmaxes averaged per view, then views averaged per video), called from
Python on the two runs' exports. Run these lines (without the two-space indent) from
the repository root:

  from configs import liu2020_ucf101, liu2020_ucf101_prob_distill
  from d3d_jax import evaluation, sharding
  from data_pipelines.dataset_info import dataset_info
  config = liu2020_ucf101_prob_distill.get_config()   # its input: both streams, 10x3 views
  config.input.data_dir = "gs://YOUR_BUCKET/ucf101_split1_tfr"
  info = dataset_info(config.input)
  members = [evaluation.load_member(workdir + "/export", c.model, info.num_classes,
                                    c.compute_dtype) for c, workdir in (
      (config, "gs://YOUR_BUCKET/workdirs/liu2020_ucf101_prob_distill"),
      (liu2020_ucf101.get_config("i3d_flow"),
       "gs://YOUR_BUCKET/workdirs/liu2020_ucf101_i3d_flow"))]
  metrics, _ = evaluation.evaluate_members(members, config, sharding.make_mesh(config.mesh),
                                           info)
  print(metrics["mean_class_accuracy@10x3"])

For the two-stream row, make the first member the RGB I3D run (liu2020_ucf101.get_config("i3d_rgb")
and its workdir); keep `config` (the input section with both streams) as it is.

Settings (Sec. 3.6, and what is chosen where the paper is silent):
configs/liu2020_common.py. Runtime: about 2 h on UCF101 (0.7 h HMDB51) on 4 GPUs
(estimated for V100s; the teacher's forward pass adds about a third to each step).
"""

from configs.liu2020_common import get_liu2020_config, set_teacher
from d3d_jax import paper_rows

TEACHER = "gs://YOUR_BUCKET/workdirs/liu2020_ucf101_prob_atten_flow"


def get_config():
  c = get_liu2020_config(dataset="ucf101", modality="rgb", head="prob_distill",
                         objective="attention_distill")
  c.objective.motion_weight = 1.0      # lambda_1 (Sec. 3.5)
  c.objective.appearance_weight = None  # lambda_2 = 1 / (T H W) of the map's grid
  c.paper_rows = paper_rows.section("liu_t2_prob_distill_ucf101",
                                    "liu_t2_prob_distill_hmdb51")
  return set_teacher(c, TEACHER)
