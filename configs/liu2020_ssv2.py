r"""Liu et al. 2020, Table 3: the I3D rows and the Prob-Distill teacher on
20BN-Something-Something V2. One network per variant:

  python -m d3d_jax.main --config=configs/liu2020_ssv2.py:i3d_rgb \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ssv2_i3d_rgb \
      --config.input.data_dir=gs://YOUR_BUCKET/ssv2_tfr

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 3. Each
variant is an I3D, 24 x 224 x 224 clips, initialised from the DeepMind Kinetics I3D
(rgb_imagenet / flow_imagenet):

| variant         | row                          | head, loss                                   | top-1 / top-5 |
|-----------------|------------------------------|----------------------------------------------|---------------|
| i3d_rgb         | I3D RGB                      | plain head, CE                               | 47.3 / 76.1 |
| i3d_flow        | I3D Flow                     | plain head, CE (the flow member of the late fusion "Prob-Distill+Flow I3D", 54.6 / 83.0) | 46.7 / 75.9 |
| prob_atten_flow | the teacher of "Ours (Prob-Distill)" | Prob-Atten (Eq. 2 map from Mixed_4f pooling Mixed_5c, Eq. 4), CE + lambda_2 sum_t KL[A(t) \|\| U] (Eq. 3), as Table 1's "Flow Prob-Atten" (Sec. 3.4: "our teacher flow network is trained with the same attention mechanism") | not reported |

RGB I3D + flow I3D form "Two Stream I3D" (53.7 / 82.5), evaluated as
configs/liu2020_ssv2_prob_distill.py describes for the late fusion.

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

from configs.liu2020_common import OBJECTIVE_OF_HEAD, get_liu2020_config
from d3d_jax import paper_rows

# variant -> (head, modality)
VARIANTS = {"i3d_rgb": ("logits", "rgb"), "i3d_flow": ("logits", "flow"),
            "prob_atten_flow": ("prob_atten", "flow")}
# variant -> its Table 3 rows (d3d_jax/paper_rows.py); the teacher has none.
PAPER_ROWS = {"i3d_rgb": ("liu_t3_i3d_rgb",), "i3d_flow": ("liu_t3_i3d_flow",),
              "prob_atten_flow": ()}


def get_config(variant: str = "i3d_rgb"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/liu2020_ssv2.py:{variant}: the variants are {sorted(VARIANTS)}")
  head, modality = VARIANTS[variant]
  c = get_liu2020_config(dataset="ssv2", modality=modality, head=head,
                         objective=OBJECTIVE_OF_HEAD[head])
  c.paper_rows = paper_rows.section(*PAPER_ROWS[variant])
  return c
