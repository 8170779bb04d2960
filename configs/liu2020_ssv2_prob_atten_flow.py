r"""Liu et al. 2020, Table 3, the Prob-Distill teacher: flow Prob-Atten on SSv2.

  python -m d3d_jax.main --config=configs/liu2020_ssv2_prob_atten_flow.py \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ssv2_prob_atten_flow \
      --config.input.data_dir=gs://YOUR_BUCKET/ssv2_tfr

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 3
(20BN-Something-Something V2), the teacher of "Ours (Prob-Distill)": an I3D on TV-L1
flow (Kinetics flow_imagenet init) with a Prob-Atten head (Eq. 2 map from Mixed_4f
pooling Mixed_5c, Eq. 4; Gumbel-softmax samples at temperature 2 in training), trained
with CE + lambda_2 sum_t KL[A(t) || U] (Eq. 3, lambda_2 = 1 / (T H W)), as Table 1's
"Flow Prob-Atten" is on UCF101 (Sec. 3.4: "our teacher flow network is trained with the
same attention mechanism").

Paper number: none; Table 3 does not report the teacher (its plain "I3D Flow" row is
46.7 top-1 / 75.9 top-5). Its workdir is the teacher.checkpoint of
configs/liu2020_ssv2_prob_distill.py.

Something-Something V2 (Sec. 4.1: 174 classes, the official train / validation split,
top-1 / top-5 on validation; `top1@4x3`, `top5@4x3`): `input.random_flip` is False,
because a flip turns "left to right" classes into "right to left" ones. The videos are
12 fps; the paper's 24 Hz (`write_tfrecords --fps=24`) repeats every frame (nearest-frame
resampling), so 24 frames span 1 s, the paper's "temporal footprint" of I3D in Table 3,
and every other TV-L1 flow frame is ~0 (whether the authors' 24 Hz frames were the same
is not stated). Records: write_tfrecords on CSVs (path,label) made from the dataset's
JSON lists, --split=train / --split=validation, --min_resize=256.

Settings (Sec. 3.6, and what is chosen where the paper is silent: 30 epochs = 79,177
steps of 64 clips, x0.1 at 1/2 and 3/4): configs/liu2020_common.py. Runtime: about 18 h
on 4 GPUs (estimated for V100s; see configs/liu2020_common.py).
"""

from configs.liu2020_common import get_liu2020_config


def get_config():
  return get_liu2020_config(dataset="ssv2", modality="flow", head="prob_atten",
                            objective="attention_prior")
