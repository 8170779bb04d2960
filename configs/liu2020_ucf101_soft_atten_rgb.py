r"""Liu et al. 2020, Table 1, "RGB Soft-Atten": RGB soft attention on UCF101.

  python -m d3d_jax.main --config=configs/liu2020_ucf101_soft_atten_rgb.py \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ucf101_soft_atten_rgb \
      --config.input.data_dir=gs://YOUR_BUCKET/ucf101_split1_tfr

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 1
("Evaluations of attention modules"), row "RGB Soft-Atten": an I3D on RGB, 24 x 224 x
224 clips, initialised from the DeepMind Kinetics I3D (rgb_imagenet), with Soft-Atten
(`head='soft_atten'`): a soft map A = softmax(w_a * phi) per time slice (Eq. 1), phi =
Mixed_4f, pools Mixed_5c (attention pooling, Eq. 4). Loss: plain cross-entropy.

Paper number: 94.7 mean class accuracy on UCF101 split 1 (`mean_class_accuracy@10x3`).
The same row reports 70.8 on HMDB51 and 48.6 on EGTEA Gaze+ (split 1 each). Train those
with the dataset flags of configs/liu2020_common.py.

Settings (Sec. 3.6, and what is chosen where the paper is silent):
configs/liu2020_common.py.
Runtime: about 1.5 h on UCF101 (0.5 h HMDB51, 1.2 h EGTEA) on 4 GPUs (estimated for V100s,
see configs/liu2020_common.py).
"""

from configs.liu2020_common import get_liu2020_config


def get_config():
  return get_liu2020_config(dataset="ucf101", modality="rgb", head="soft_atten",
                            objective="ce")
