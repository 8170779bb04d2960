"""What the Kinetics-400 S3D-G / D3D configs share (D3D Sec. 5.3: "the same S3D-G
hyperparameters"), and which of them the papers give.

From the D3D text (Stroud et al., WACV 2020, Sec. 5.3): batch 6 per GPU on 64 GPUs
(a global batch of 384), 140k steps for D3D, lambda = 1, the teacher = the S3D-G
temporal stream on TV-L1 flow "using identical settings to those described in prior
work". From TF-slim's `nets/s3dg.py` / `s3dg_arg_scope` (the S3D-G code D3D used):
64x224x224 clips, RGB in [-1, 1], weight decay 1e-7, BatchNorm decay 0.999 and eps 1e-3
without gamma, dropout keep 0.8. From the I3D / S3D-G papers: the networks start from
ImageNet Inception-v1 inflated into 3-D (I3D Sec. 2.2), and test on the whole video,
centre crop, in one convolutional pass.

NOT given by the D3D text or the slim code (the S3D-G paper's own training section is not
restated in D3D), so chosen here, each for a stated reason:
* optimiser: SGD with momentum 0.9, the optimiser of I3D / S3D-G's Google training;
* base learning rate 0.1 at batch 384: the usual linear-scaling value for SGD on
  Inception-v1 from an ImageNet start (0.1 per 256 clips, rounded);
* schedule: x0.1 steps at 3/4 and 7/8 of training (`step_boundaries`), the step shape
  of the Inception / I3D training recipes, so the last eighth runs at 1e-3;
* no warm-up: neither text mentions one and the runs start from ImageNet weights, not
  from scratch; set `schedule.warmup_steps` to add one;
* the teacher's and the RGB baseline's length, 80k steps (~136 epochs of the 226k
  training videos at batch 384): not in the D3D text; D3D's student trains 140k.
Data: Kinetics-400 TFRecords with TV-L1 flow written by
`python -m data_pipelines.write_tfrecords`.
"""

import ml_collections

from configs.base import get_base_config
from d3d_jax.objectives import objective_config

KINETICS400_DATA_DIR = "gs://YOUR_BUCKET/kinetics400_tfr"
# `python -m d3d_jax.convert --from=slim_inception_v1 ...` (README, "Pretrained weights").
IMAGENET_INIT = {
    "rgb": "gs://YOUR_BUCKET/weights/s3dg_rgb_imagenet",
    "flow": "gs://YOUR_BUCKET/weights/s3dg_flow_imagenet",
}


def step_boundaries(total_steps: int) -> tuple[int, int]:
  """The x0.1 decay points: 3/4 and 7/8 of training (a choice; see the docstring)."""
  return (total_steps * 3 // 4, total_steps * 7 // 8)


def get_kinetics400_config(modality: str, objective: str) -> ml_collections.ConfigDict:
  c = get_base_config()
  c.input.data_dir = KINETICS400_DATA_DIR
  c.input.train_split = "train"
  c.input.eval_split = "validation"
  c.input.modalities = ("rgb", "flow") if objective != "ce" else (modality,)
  c.input.num_classes = 400
  c.input.num_frames = 64
  c.input.stride = 1
  c.input.min_resize = 256
  c.input.crop_size = 224
  c.input.random_flip = True
  c.input.batch_size = 384
  c.input.shuffle_buffer = 1024
  # Test protocol of I3D / S3D-G: the whole video (Kinetics clips are at most 10 s at
  # 25 fps = 250 frames; shorter ones loop, see input_config.py), the 224 centre crop,
  # one convolutional pass; reported as top1@fullx1. One video per device.
  c.input.eval_num_frames = 0
  c.input.eval_max_frames = 250
  c.input.num_test_clips = 1
  c.input.num_test_crops = 1
  c.input.eval_batch_size = 8

  c.model.name = "s3dg"
  c.model.modality = modality
  # bn_group_size 6: BatchNorm statistics over 6 clips, as the reference's 6 clips per
  # GPU with per-replica statistics (any mesh; the global batch stays sharded).
  c.model.options = ml_collections.ConfigDict(
      dict(dropout_rate=0.2, dtype="bfloat16", bn_group_size=6))
  c.model.init_from.path = IMAGENET_INIT[modality]
  c.teacher.model.name = "s3dg"
  c.teacher.model.modality = "flow"
  c.teacher.model.options = ml_collections.ConfigDict(dict(dtype="bfloat16"))

  c.objective = objective_config(objective)
  c.compute_dtype = "bfloat16"
  c.total_steps = 80_000
  c.optimizer.name = "sgd"
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 1e-7
  c.schedule.name = "step"
  c.schedule.base_lr = 0.1
  c.schedule.boundaries = step_boundaries(c.total_steps)
  c.schedule.decay_factor = 0.1
  c.schedule.warmup_steps = 0
  c.checkpoint.every_steps = 2_000
  c.log_every_steps = 100
  return c
