r"""W3 (Perez-Rua et al., ECCV 2020) on Something-Something V1: Tables 5, 6, 7 and 8 as
variants of one file. One network per variant:

  python -m d3d_jax.main --config=configs/w3_ssv1.py:w3_stage1 \
      --workdir=gs://YOUR_BUCKET/workdirs/w3_ssv1_w3_stage1 \
      --config.input.data_dir=gs://YOUR_BUCKET/ssv1_tfr
  python -m d3d_jax.main --config=configs/w3_ssv1.py:w3 \
      --workdir=gs://YOUR_BUCKET/workdirs/w3_ssv1_w3 \
      --config.input.data_dir=gs://YOUR_BUCKET/ssv1_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/w3_ssv1_w3_stage1

A variant with MFR (Eq. 9) is stage 2: its teacher is the finished workdir of the
variant named in the "stage 1" column (same network), given as
``--config.teacher.checkpoint``. Top-1 on the SSv1 validation set, 1 clip, centre crop
224 (`top1@1x1`):

| variant            | paper row                                   | stage 1          | top-1 |
|--------------------|---------------------------------------------|------------------|-------|
| tsm                | Table 6 / 7 "TSM" (16 frames; 65.0 GFLOPs)   | -                | 47.2 |
| w3_stage1          | Table 5 "w/o MFR"; Table 7 "+ W3 w/o MFR"   | -                | 50.3 / 50.2 |
| w3                 | Tables 5-7 "Full" / "+ W3" (67.1 GFLOPs)    | w3_stage1        | 52.6 |
| w3_wo_afr_stage1   | stage 1 of "w/o AFR"                        | -                | - |
| w3_wo_afr          | Table 5 "w/o AFR"                           | w3_wo_afr_stage1 | 50.1 |
| w3_wo_sa_stage1    | stage 1 of "w/o SA"                         | -                | - |
| w3_wo_sa           | Table 5 "w/o SA"                            | w3_wo_sa_stage1  | 49.8 (a) |
| w3_wo_ta_stage1    | stage 1 of "w/o TA"                         | -                | - |
| w3_wo_ta           | Table 5 "w/o TA"                            | w3_wo_ta_stage1  | 47.2 |
| cbam               | Tables 6-7 "+ CBAM" (66.5 GFLOPs)           | -                | 49.1 |
| cbam_mfr           | Table 7 "+ CBAM w/ MFR"                     | cbam             | 50.5 |
| tsm_8f             | Table 8 "TSM", R50, 8 frames                | -                | 46.2 |
| w3_stage1_8f       | Table 8 "TSM + W3 w/o MFR", 8 frames        | -                | 47.2 |
| i3d_32f            | Table 8 "I3D", 32 frames (b)                | -                | 34.9 |
| i3d_w3_32f         | Table 8 "I3D + W3 w/o MFR", 32 frames (b)   | -                | 35.3 |
| i3d_64f            | Table 8 "I3D", 64 frames (b)                | -                | 36.4 |
| i3d_w3_64f         | Table 8 "I3D + W3 w/o MFR", 64 frames (b)   | -                | 36.6 |

(a) The paper's Table 5 as extracted reads "19.8" for w/o SA; the text ("temporal
attention turns out to be more important than spatial attention", w/o TA = 47.2) makes
49.8 the likely value. (b) The paper's I3D is a 3-D ResNet-18; ours is the Inception-v1
I3D of this codebase (`i3d`, Kinetics-400 initialised), a substitute, so these rows
compare W3's gain, not the absolute numbers. The 3-D ResNet-18 is not implemented.
Table 6's Non-Local row is not implemented either.

What the paper gives (Sec. 3, 4.2): TSM ResNet-50 (`tsm_resnet50`: residual shift 1/8
each way) initialised from ImageNet (torchvision's ResNet-50, `model.init_from` format
'torchvision_resnet', its 1000-class fc excluded); 16 frames (8 in Table 8), 224 crops;
W3 at every residual block; refinement from the 4 stages; MFR from stage 1; test on 1
clip and the centre 224 crop; "the same training setting as [29]" (TSM). Where it is
silent (see d3d_jax/models/w3.py and d3d_jax/objectives/w3.py for the module and loss
defaults: r = 16, depthwise temporal convs, ReLU between them, lambda = 1):

* the TSM training recipe, from TSM's public Something-Something command (recalled,
  not verified here): SGD momentum 0.9, lr 0.01 at batch 64, weight decay 5e-4,
  50 epochs with x0.1 at epochs 20 and 40, dropout 0.5, no flip (a flip turns
  "left to right" into "right to left"); 86,017 training videos -> 1,344 steps per
  epoch;
* TSM samples one frame per segment of the video (16 segments); our pipeline samples
  consecutive frames, so ``input.stride=2`` at the SSv1 frame rate (12 fps) makes 16
  frames span ~2.7 s, most of a 2-6 s clip;
* the MFR stage starts from ImageNet weights like stage 1 (the paper trains "an
  identical architecture"; it does not say from where).

Data: SSv1 comes as JPEG frames with CSV label lists; make TFRecords with
`data_pipelines.write_tfrecords` from videos re-encoded from the frames (CSV
path,label; 174 classes; --split=train / --split=validation, --min_resize=256), or
leave it to the paper-tables issue. Runtime (8 V100-class GPUs, float32, estimated):
~1 day per 16-frame TSM-R50 run of 50 epochs, about 2 days for a full W3 (two stages).
"""

import ml_collections

from configs.base import get_base_config, model_config
from d3d_jax import paper_rows
from d3d_jax.objectives import objective_config

TRAIN_VIDEOS, EPOCHS, BATCH = 86_017, 50, 64
STEPS_PER_EPOCH = -(-TRAIN_VIDEOS // BATCH)
IMAGENET_RESNET50 = "gs://YOUR_BUCKET/weights/resnet50_imagenet.npz"
KINETICS_I3D = "gs://YOUR_BUCKET/weights/kinetics-i3d/rgb_imagenet/model.ckpt"

# variant -> (backbone, frames, block module, its options, refinement, stage-1 variant
# or None (then no MFR)).
W3 = "w3"
VARIANTS = {
    "tsm": ("tsm_resnet50", 16, None, {}, False, None),
    "w3_stage1": ("tsm_resnet50", 16, W3, {}, True, None),
    "w3": ("tsm_resnet50", 16, W3, {}, True, "w3_stage1"),
    "w3_wo_afr_stage1": ("tsm_resnet50", 16, W3, {}, False, None),
    "w3_wo_afr": ("tsm_resnet50", 16, W3, {}, False, "w3_wo_afr_stage1"),
    "w3_wo_sa_stage1": ("tsm_resnet50", 16, W3, {"spatial": False}, False, None),
    "w3_wo_sa": ("tsm_resnet50", 16, W3, {"spatial": False}, False, "w3_wo_sa_stage1"),
    "w3_wo_ta_stage1": ("tsm_resnet50", 16, W3, {"temporal": False}, True, None),
    "w3_wo_ta": ("tsm_resnet50", 16, W3, {"temporal": False}, True, "w3_wo_ta_stage1"),
    "cbam": ("tsm_resnet50", 16, "cbam", {}, False, None),
    "cbam_mfr": ("tsm_resnet50", 16, "cbam", {}, False, "cbam"),
    "tsm_8f": ("tsm_resnet50", 8, None, {}, False, None),
    "w3_stage1_8f": ("tsm_resnet50", 8, W3, {}, True, None),
    "i3d_32f": ("i3d", 32, None, {}, False, None),
    "i3d_w3_32f": ("i3d", 32, W3, {}, True, None),
    "i3d_64f": ("i3d", 64, None, {}, False, None),
    "i3d_w3_64f": ("i3d", 64, W3, {}, True, None),
}
# variant -> its rows of Tables 5-8 (d3d_jax/paper_rows.py); stage-1 runs of the
# ablations have none.
PAPER_ROWS = {
    "tsm": ("w3_t6_tsm", "w3_t7_tsm"),
    "w3_stage1": ("w3_t5_wo_mfr", "w3_t7_w3_wo_mfr"),
    "w3": ("w3_t5_full", "w3_t6_w3", "w3_t7_w3"),
    "w3_wo_afr": ("w3_t5_wo_afr",), "w3_wo_sa": ("w3_t5_wo_sa",),
    "w3_wo_ta": ("w3_t5_wo_ta",),
    "cbam": ("w3_t6_cbam", "w3_t7_cbam"), "cbam_mfr": ("w3_t7_cbam_mfr",),
    "tsm_8f": ("w3_t8_tsm_8f",), "w3_stage1_8f": ("w3_t8_tsm_w3_8f",),
    "i3d_32f": ("w3_t8_i3d_32f",), "i3d_w3_32f": ("w3_t8_i3d_w3_32f",),
    "i3d_64f": ("w3_t8_i3d_64f",), "i3d_w3_64f": ("w3_t8_i3d_w3_64f",),
}


def _network(backbone, block_module, module_options, refinement):
  m = model_config(backbone, "rgb")
  m.options = ml_collections.ConfigDict({"dropout_rate": 0.5})
  if block_module:
    m.options.block_module = block_module
    if module_options:
      m.options.block_module_options = dict(module_options)
  if refinement:
    m.options.attention_refinement = True
  if backbone == "tsm_resnet50":
    m.init_from = ml_collections.ConfigDict(dict(
        path=IMAGENET_RESNET50, format="torchvision_resnet", exclude=("^fc/",), scope=""))
  else:
    m.init_from = ml_collections.ConfigDict(dict(
        path=KINETICS_I3D, format="deepmind_i3d", exclude=("^Logits/",),
        scope="RGB/inception_i3d/"))
  return m


def get_config(variant: str = "w3"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/w3_ssv1.py:{variant}: the variants are {sorted(VARIANTS)}")
  backbone, frames, block_module, module_options, refinement, stage1 = VARIANTS[variant]
  c = get_base_config()
  c.input.data_dir = "gs://YOUR_BUCKET/ssv1_tfr"
  c.input.modalities = ("rgb",)
  c.input.num_classes = 174
  c.input.train_split, c.input.eval_split = "train", "validation"
  c.input.num_frames = frames
  c.input.stride = 2
  c.input.min_resize = 256
  c.input.crop_size = 224
  c.input.multi_scale_crop = True   # TSM's multi-scale corner cropping
  c.input.random_flip = False
  c.input.batch_size = BATCH
  c.input.num_test_clips = 1
  c.input.num_test_crops = 1
  c.model = _network(backbone, block_module, module_options, refinement)
  if stage1 is None:
    c.objective = objective_config("ce")
  else:
    c.objective = objective_config("w3_mfr")
    c.objective.feature_weights = ml_collections.ConfigDict(
        {"AttentionRefinement" if refinement else _final_features(backbone): 1.0})
    c.teacher.checkpoint = f"gs://YOUR_BUCKET/workdirs/w3_ssv1_{stage1}"
    c.teacher.model = model_config(backbone, "rgb")
    c.teacher.model.options = ml_collections.ConfigDict(c.model.options.to_dict())
  c.total_steps = EPOCHS * STEPS_PER_EPOCH
  c.optimizer.name = "sgd"
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 5e-4
  c.schedule.name = "step"
  c.schedule.base_lr = 0.01
  c.schedule.boundaries = (20 * STEPS_PER_EPOCH, 40 * STEPS_PER_EPOCH)
  c.compute_dtype = "bfloat16"
  c.paper_rows = paper_rows.section(*PAPER_ROWS.get(variant, ()))
  return c


def _final_features(backbone: str) -> str:
  """The final features MFR distils without the refinement (y = x in Eq. 8)."""
  return "layer4" if backbone == "tsm_resnet50" else "Mixed_5c"
