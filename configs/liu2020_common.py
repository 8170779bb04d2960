"""What the Attention Distillation configs share (Liu, Chen, Zhang, Li, Rehg, BMVC 2020,
"Attention Distillation for Learning Video Representations"), and which of the values
the paper gives.

Files (`get_liu2020_config(dataset, modality, head, objective)` builds them; a
``file.py:variant`` config takes the row as the argument of its get_config):

| file                                         | paper rows                        |
|----------------------------------------------|-----------------------------------|
| liu2020_ucf101.py:{i3d,soft_atten,soft_res,prob_atten}_{rgb,flow} | Table 1, all eight rows |
| liu2020_ucf101_prob_distill.py               | Table 2, "Ours (Prob-Distill)" and "Prob-Distill+Flow I3D*" |
| liu2020_ssv2.py:{i3d_rgb,i3d_flow,prob_atten_flow} | Table 3, "I3D RGB / Flow" and the Prob-Distill teacher |
| liu2020_ssv2_prob_distill.py                 | Table 3, "Ours (Prob-Distill)" and "Prob-Distill+Flow I3D" |

Other datasets of Tables 1-2 (HMDB51, EGTEA Gaze+, split 1 each) are the UCF101 files
with the dataset switched on the command line; `dataset_flags(name)` gives the flags
(data_dir, num_classes and the step counts, which depend on the training-set size):

  HMDB51:  --config.input.data_dir=gs://YOUR_BUCKET/hmdb51_split1_tfr
           --config.input.num_classes=51 --config.total_steps=2231
           --config.schedule.boundaries='(1115, 1673)'
  EGTEA:   --config.input.data_dir=gs://YOUR_BUCKET/egtea_split1_tfr
           --config.input.num_classes=106 --config.total_steps=5186
           --config.schedule.boundaries='(2593, 3889)'

(a Prob-Distill run also needs --config.teacher.checkpoint= that dataset's flow
Prob-Atten workdir).

GIVEN by the paper (Sec. 3.5-3.6, 4.1), and how each is expressed:
* I3D backbone (`model.name='i3d'`), initialised from the Kinetics models of Carreira &
  Zisserman (DeepMind kinetics-i3d): `model.init_from` reads the published TF checkpoint
  directly (format 'deepmind_i3d', scope 'RGB/inception_i3d/' or 'Flow/inception_i3d/'),
  the 400-class `Logits/` excluded (the datasets have other classes; README, "Pretrained
  weights"). The heads' attention convs are new modules (`S3DG.new_modules`).
* attention map from the 4th block, pooling the last Inception module of the 5th:
  `attention_source='Mixed_4f'` (the model default) pooling `Mixed_5c`;
* 24 consecutive frames at 24 Hz (`input.num_frames=24`, `stride=1`, records written with
  `--fps=24`), training crops 224 x 224 (`input.crop_size=224`), random flip, cropping
  and colour perturbation;
* SGD, momentum 0.9, initial learning rate 0.01 decayed by 10, weight decay 4e-5,
  BatchNorm on, dropout 0.7 (`model.options.dropout_rate`), batch 64 on 4 GPUs
  (`input.batch_size=64` is the GLOBAL batch; the mesh is data-parallel, so 16 clips per
  device on 4 devices);
* Eq. 8 with lambda_1 = 1 and lambda_2 = 1 / (T H W) of the map's grid: the defaults of
  `objective_config('attention_distill')` (and of 'attention_prior' for a Prob-Atten
  network alone, Eq. 3); KL per time slice summed over t (`kl_normalization='sum'`);
* metrics: mean class accuracy on split 1 of UCF101 / HMDB51 / EGTEA
  (`mean_class_accuracy@10x3` in our logs), top-1 / top-5 on the Something-Something V2
  validation set (`top1@4x3`, `top5@4x3`).

TAKEN from the first author's public code for the same attention design (the repository
"Forecasting-Human-Object-Interaction-in-FPV", 2020aptx4869lm), where the paper is silent:
* Gumbel-softmax temperature 2.0 in training, noise per feature channel, eps 1e-6: the
  model defaults (`gumbel_temperature`, `gumbel_per_channel`, `gumbel_eps`);
* the attention and classifier layers train at 10x the learning rate:
  `optimizer.groups.heads` (`^student/(Attention|Logits)/`, lr x10). This is that
  code's choice, NOT stated in the paper; train them at the base rate with
  --config.optimizer.groups.heads.lr_multiplier=1. The vanilla I3D rows get the same
  x10 on their classifier, so Table 1's rows differ only by the head;
* colour perturbation of strength 0.1 (that code's colour jitter 0.1), applied to every
  training clip: brightness delta 0.1 (ours is an additive delta in [0, 1] units, not
  torchvision's factor), contrast and saturation factors in [0.9, 1.1], no hue change.
The same code's other defaults (Nesterov, weight decay 1e-4, cosine schedule, label
smoothing 0.1, dropout 0.5) are NOT used: the paper states its own values.

NOT given by the paper or that code, so chosen here, each for a stated reason:
* checkpoint: `rgb_imagenet` / `flow_imagenet` of kinetics-i3d (ImageNet-inflated, then
  trained on Kinetics-400): the repository's default, and the pre-training (ImageNet +
  Kinetics) of the I3D paper's best UCF101 / HMDB51 fine-tuning results; `{rgb,flow}_scratch` (Kinetics only) is the
  other "Kinetics pre-trained model" the paper may mean;
* schedule: the paper decays "when the loss starts to saturate", with no step count.
  We train 40 epochs on UCF101 / HMDB51 / EGTEA (30 on Something-Something V2, ~18x the
  videos) and decay x0.1 at 1/2 and 3/4 of training (`step_boundaries`), so the last
  quarter runs at 1e-4: a Kinetics-initialised I3D's training loss on a ~10k-video
  dataset flattens within a few tens of epochs, and two decays are the usual count for
  "decay when it saturates" schedules. Watch `train/loss` and move the boundaries with
  --config.schedule.boundaries if it saturates elsewhere;
* BatchNorm statistics over groups of 16 clips (`bn_group_size=16`): each of the
  paper's 4 GPUs normalising its own 16 clips, as multi-GPU PyTorch training does
  without synchronised BatchNorm (the paper says only "enable batch norm");
* the weight of Eq. 3 for a Prob-Atten network trained alone (Table 1): the paper gives
  lambda_2 only in Eq. 8; the same 1 / (T H W) is used (`objective.prior_weight=None`);
* no warm-up, no label smoothing, no gradient clipping (the paper mentions none).

What the input options CANNOT express exactly (each a documented approximation):
* frames "down-sampled to 320x256": the tools keep the aspect ratio, resizing the short
  side to 256 (`write_tfrecords --min_resize=256`, `input.min_resize=256`), so a 4:3
  UCF101 / HMDB51 / EGTEA frame is 341x256 rather than the paper's 320x256 (which
  squeezes 4:3 frames to 5:4);
* testing on "full resolution clips (320x256)" with scores "aggregated from all clips":
  evaluation crops squares of `input.crop_size`; 3 crops along the long side
  (`num_test_crops=3`, left / centre / right 224 squares) cover the whole width and all
  but 16 rows at the top and bottom; the clips are `num_test_clips` evenly spaced
  24-frame clips (10 on UCF101 / HMDB51 / EGTEA: a 10 s video at 24 Hz without overlap;
  4 on Something-Something V2, whose videos are 2-6 s), not every consecutive clip; a
  video's views are aggregated by their mean softmax. The whole-video single pass
  (`eval_num_frames=0`) is the other option; it needs one static length per split
  (`eval_max_frames`), and the longest UCF101 video (~71 s) would make every view ~1,700
  frames.

Data: TFRecords with TV-L1 flow, split 1's lists as CSVs (path,label), e.g.

  python -m data_pipelines.write_tfrecords --input=ucf101_trainlist01.csv --fps=24 \
      --min_resize=256 --output_dir=gs://YOUR_BUCKET/ucf101_split1_tfr --split=train
  python -m data_pipelines.write_tfrecords --input=ucf101_testlist01.csv --fps=24 \
      --min_resize=256 --output_dir=gs://YOUR_BUCKET/ucf101_split1_tfr --split=test \
      --label_map=gs://YOUR_BUCKET/ucf101_split1_tfr/label_map.txt

Runtime (the paper's hardware, 4 GPUs, model not stated; estimated for 4 V100s in
float32 at ~30% of peak, ~20 clips/s per GPU for a 24-frame I3D training step, ~0.8 s
per step of 64 clips; the flow teacher's forward adds ~1/3): UCF101 ~1.5 h per run (2 h
for Prob-Distill), HMDB51 ~0.5 h, EGTEA ~1.2 h, Something-Something V2 ~18 h (24 h for
Prob-Distill), if the input pipeline keeps up (~2,000 decoded JPEG frames per second,
twice that with flow). Set --config.compute_dtype=float32 on GPUs without bfloat16.
"""

import ml_collections

from configs.base import get_base_config, model_config
from d3d_jax.evaluators import evaluator_config
from d3d_jax.objectives import objective_config
from d3d_jax.optimizers import group_config

# The dataset of each row. train_videos sets the step counts (40 or 30 epochs at batch
# 64); test clips per video: see the module docstring.
DATASETS = {
    "ucf101": dict(data_dir="gs://YOUR_BUCKET/ucf101_split1_tfr", num_classes=101,
                   train_split="train", eval_split="test", train_videos=9_537,
                   epochs=40, num_test_clips=10, random_flip=True),
    "hmdb51": dict(data_dir="gs://YOUR_BUCKET/hmdb51_split1_tfr", num_classes=51,
                   train_split="train", eval_split="test", train_videos=3_570,
                   epochs=40, num_test_clips=10, random_flip=True),
    "egtea": dict(data_dir="gs://YOUR_BUCKET/egtea_split1_tfr", num_classes=106,
                  train_split="train", eval_split="test", train_videos=8_299,
                  epochs=40, num_test_clips=10, random_flip=True),
    # Something-Something V2: flipping turns "left to right" into "right to left", so
    # no random flip (input.random_flip; the other labels would survive it, these not).
    "ssv2": dict(data_dir="gs://YOUR_BUCKET/ssv2_tfr", num_classes=174,
                 train_split="train", eval_split="validation", train_videos=168_913,
                 epochs=30, num_test_clips=4, random_flip=False),
}

# deepmind/kinetics-i3d, data/checkpoints/<name>/model.ckpt (TF checkpoint prefixes that
# ship with `git clone https://github.com/deepmind/kinetics-i3d`; a local path works too).
KINETICS_I3D = {
    "rgb": "gs://YOUR_BUCKET/kinetics-i3d/data/checkpoints/rgb_imagenet/model.ckpt",
    "flow": "gs://YOUR_BUCKET/kinetics-i3d/data/checkpoints/flow_imagenet/model.ckpt",
}
KINETICS_I3D_SCOPE = {"rgb": "RGB/inception_i3d/", "flow": "Flow/inception_i3d/"}

BATCH_SIZE = 64
HEADS = ("logits", "soft_atten", "soft_res", "prob_atten", "prob_distill")
# The objective each head trains with: plain CE for the vanilla and soft heads, Eq. 3's
# prior for a Prob-Atten network alone, Eq. 8 for Prob-Distill.
OBJECTIVE_OF_HEAD = {"logits": "ce", "soft_atten": "ce", "soft_res": "ce",
                     "prob_atten": "attention_prior", "prob_distill": "attention_distill"}


def total_steps(dataset: str) -> int:
  d = DATASETS[dataset]
  return d["epochs"] * d["train_videos"] // BATCH_SIZE


def step_boundaries(steps: int) -> tuple[int, int]:
  """The x0.1 decay points: 1/2 and 3/4 of training (a choice; see the docstring)."""
  return (steps // 2, steps * 3 // 4)


def dataset_flags(dataset: str) -> str:
  """The command-line flags that switch a UCF101 file to `dataset`."""
  d, steps = DATASETS[dataset], total_steps(dataset)
  return (f"--config.input.data_dir={d['data_dir']} "
          f"--config.input.num_classes={d['num_classes']} --config.total_steps={steps} "
          f"--config.schedule.boundaries='{step_boundaries(steps)}'")


def network_config(modality: str, head: str) -> ml_collections.ConfigDict:
  """An I3D section with the paper's dropout, the head, and per-GPU BatchNorm groups."""
  if head not in HEADS:
    raise ValueError(f"head must be one of {HEADS}, got {head!r}")
  m = model_config("i3d", modality)
  m.options = ml_collections.ConfigDict(dict(dropout_rate=0.7, bn_group_size=16))
  if head != "logits":
    # attention_source 'Mixed_4f' and gumbel_temperature 2.0 are the model defaults.
    m.options.head = head
  return m


def get_liu2020_config(dataset: str, modality: str, head: str,
                       objective: str) -> ml_collections.ConfigDict:
  """One row: `dataset` (DATASETS), the network's stream, its head, its objective."""
  if dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
  if objective != OBJECTIVE_OF_HEAD.get(head):
    raise ValueError(f"head {head!r} trains with objective "
                     f"{OBJECTIVE_OF_HEAD.get(head)!r}, got {objective!r}")
  if head == "prob_distill" and modality != "rgb":
    raise ValueError("Prob-Distill is the RGB student of a flow teacher")
  d = DATASETS[dataset]
  c = get_base_config()

  c.input.data_dir = d["data_dir"]
  c.input.train_split = d["train_split"]
  c.input.eval_split = d["eval_split"]
  c.input.num_classes = d["num_classes"]
  c.input.modalities = ("rgb", "flow") if head == "prob_distill" else (modality,)
  c.input.num_frames = 24            # "24 consecutive frames" at 24 Hz (Sec. 3.6)
  c.input.stride = 1
  c.input.min_resize = 256           # ~ "320 x 256" (see the docstring)
  c.input.crop_size = 224
  c.input.random_flip = d["random_flip"]
  c.input.color_jitter_prob = 1.0    # "color perturbation"; strength from the authors' code
  c.input.brightness = 0.1
  c.input.contrast = 0.1
  c.input.saturation = 0.1
  c.input.hue = 0.0
  c.input.batch_size = BATCH_SIZE    # global: 16 per device on the paper's 4 GPUs
  c.input.shuffle_buffer = 1024
  c.input.eval_num_frames = None     # 24-frame test clips, as in training
  c.input.num_test_clips = d["num_test_clips"]
  c.input.num_test_crops = 3         # 3 x 224 squares cover the frame's width
  c.input.eval_batch_size = 32

  c.model = network_config(modality, head)
  c.model.init_from.path = KINETICS_I3D[modality]
  c.model.init_from.format = "deepmind_i3d"
  c.model.init_from.scope = KINETICS_I3D_SCOPE[modality]
  # The 400 Kinetics classes are not the dataset's: our Logits/ stay at init and the
  # file's Logits tensors are dropped (the pattern also matches file names without
  # their scope, so it works when Prob-Distill's classifiers have other names).
  c.model.init_from.exclude = ("^Logits/",)

  c.objective = objective_config(objective)
  c.compute_dtype = "bfloat16"
  c.total_steps = total_steps(dataset)
  c.optimizer.name = "sgd"
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 4e-5
  # Attention maps and classifiers at 10x the learning rate: the authors' public code
  # ("Forecasting-Human-Object-Interaction-in-FPV"), not the paper.
  c.optimizer.groups.heads = group_config("^student/(Attention|Logits)/",
                                          lr_multiplier=10.0)
  c.schedule.name = "step"
  c.schedule.base_lr = 0.01
  c.schedule.boundaries = step_boundaries(c.total_steps)
  c.schedule.decay_factor = 0.1
  c.schedule.warmup_steps = 0
  c.checkpoint.every_steps = 2_000 if dataset == "ssv2" else 500
  c.log_every_steps = 50

  if head != "logits":
    c.evals.attention_maps = evaluator_config("attention_maps")
  return c


def set_teacher(c: ml_collections.ConfigDict, checkpoint: str) -> ml_collections.ConfigDict:
  """Prob-Distill's teacher: the flow Prob-Atten run of the same dataset (its workdir),
  and the evaluators that compare the student with it."""
  c.teacher.checkpoint = checkpoint
  c.teacher.model = network_config("flow", "prob_atten")
  c.evals.attention_maps = evaluator_config(
      "attention_maps", teacher_map="Attention/map", compared_map="Attention/motion")
  c.evals.teacher_student = evaluator_config("teacher_student_distance")
  return c
