"""What the Kinetics-400 S3D-G / D3D configs share (D3D Sec. 5.3, S3D-G settings).

D3D trains "with the same S3D-G hyperparameters" (Xie et al. 2018): 64x224x224 clips at
25 fps, synchronous SGD with momentum 0.9, batch 6 per replica on 56-64 GPUs (a global
batch of ~384 here, for a pod), lr 0.1 decayed at 60k / 70k of 80k steps (S3D-G) or
140k steps (D3D), weight decay 1e-7, dropout keep 0.8, BN decay 0.999. Data: Kinetics-400
TFRecords with TV-L1 flow written by `python -m data_pipelines.write_tfrecords`.
"""

import ml_collections

from configs.base import get_base_config

KINETICS400_DATA_DIR = "gs://YOUR_BUCKET/kinetics400_tfr"


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
  c.input.eval_batch_size = 64
  c.input.shuffle_buffer = 1024
  c.input.num_test_clips = 1     # D3D reports single-clip centre-crop numbers (64 frames)
  c.input.num_test_crops = 1

  c.model.name = "s3dg"
  c.model.modality = modality
  c.model.options = ml_collections.ConfigDict(dict(dropout_rate=0.2, dtype="bfloat16"))
  c.teacher.model.name = "s3dg"
  c.teacher.model.modality = "flow"
  c.teacher.model.options = ml_collections.ConfigDict(dict(dtype="bfloat16"))

  c.objective.name = objective
  c.compute_dtype = "bfloat16"
  c.total_steps = 80_000
  c.optimizer.name = "sgd"
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 1e-7
  c.schedule.name = "step"
  c.schedule.base_lr = 0.1
  c.schedule.boundaries = (60_000, 70_000)
  c.schedule.decay_factor = 0.1
  c.schedule.warmup_steps = 1_000
  c.checkpoint.every_steps = 2_000
  c.log_every_steps = 100
  return c
