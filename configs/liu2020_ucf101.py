r"""Liu et al. 2020, Table 1 ("Evaluations of attention modules"): I3D with each attention
design, RGB and flow, on UCF101 split 1. One row per variant:

  python -m d3d_jax.main --config=configs/liu2020_ucf101.py:prob_atten_rgb \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ucf101_prob_atten_rgb \
      --config.input.data_dir=gs://YOUR_BUCKET/ucf101_split1_tfr

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 1. Each
variant is an I3D on RGB or TV-L1 flow (x, y), 24 x 224 x 224 clips, initialised from
the DeepMind Kinetics I3D (rgb_imagenet / flow_imagenet), with one head:

| variant          | row                | head: what it is                                  | loss | UCF101 | HMDB51 | EGTEA |
|------------------|--------------------|---------------------------------------------------|------|-------:|-------:|------:|
| i3d_rgb          | RGB I3D            | logits: Mixed_5c average-pooled, 1x1x1 logits     | CE   | 94.8 | 70.9 | 47.3 |
| i3d_flow         | Flow I3D           | logits                                            | CE   | 94.0 | 73.9 | 38.3 |
| soft_atten_rgb   | RGB Soft-Atten     | soft_atten: A = softmax(w_a * phi) per slice (Eq. 1), phi = Mixed_4f, pools Mixed_5c (Eq. 4) | CE | 94.7 | 70.8 | 48.6 |
| soft_atten_flow  | Flow Soft-Atten    | soft_atten                                        | CE   | 94.7 | 74.1 | 39.1 |
| soft_res_rgb     | RGB Soft-Res       | soft_res: Eq. 1 with the residual of Eq. 5 (the average pool added) | CE | 94.9 | 70.1 | 48.6 |
| soft_res_flow    | Flow Soft-Res      | soft_res                                          | CE   | 95.2 | 74.4 | 39.5 |
| prob_atten_rgb   | RGB Prob-Atten     | prob_atten: A ~ softmax(w_a * phi) (Eq. 2; a Gumbel-softmax sample at temperature 2 in training, p(A) at test) | CE + lambda_2 sum_t KL[A(t) \|\| U] (Eq. 3, 'attention_prior', lambda_2 = 1/(T H W)) | 95.1 | 71.3 | 49.1 |
| prob_atten_flow  | Flow Prob-Atten    | prob_atten (the teacher of configs/liu2020_ucf101_prob_distill.py) | as above | 94.9 | 74.2 | 40.4 |

Paper numbers: mean class accuracy on split 1 (`mean_class_accuracy@10x3`). HMDB51 and
EGTEA Gaze+ are this file with the dataset flags of configs/liu2020_common.py.

Settings (Sec. 3.6, and what is chosen where the paper is silent):
configs/liu2020_common.py. Runtime: about 1.5 h on UCF101 (0.5 h HMDB51, 1.2 h EGTEA) on
4 GPUs (estimated for V100s, see configs/liu2020_common.py).
"""

from configs.liu2020_common import OBJECTIVE_OF_HEAD, get_liu2020_config
from d3d_jax import paper_rows

# variant -> (head, modality); the head names the objective (OBJECTIVE_OF_HEAD).
VARIANTS = {f"{name}_{modality}": (head, modality)
            for name, head in (("i3d", "logits"), ("soft_atten", "soft_atten"),
                               ("soft_res", "soft_res"), ("prob_atten", "prob_atten"))
            for modality in ("rgb", "flow")}


def get_config(variant: str = "prob_atten_rgb"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/liu2020_ucf101.py:{variant}: the variants are {sorted(VARIANTS)}")
  head, modality = VARIANTS[variant]
  c = get_liu2020_config(dataset="ucf101", modality=modality, head=head,
                         objective=OBJECTIVE_OF_HEAD[head])
  # The row of each dataset column: the dataset flags pick one (input.num_classes).
  c.paper_rows = paper_rows.section(*(f"liu_t1_{variant}_{dataset}"
                                      for dataset in ("ucf101", "hmdb51", "egtea")))
  return c
