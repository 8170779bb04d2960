r"""Liu et al. 2020, Table 1, "Flow Prob-Atten": flow probabilistic attention on UCF101.

  python -m d3d_jax.main --config=configs/liu2020_ucf101_prob_atten_flow.py \
      --workdir=gs://YOUR_BUCKET/workdirs/liu2020_ucf101_prob_atten_flow \
      --config.input.data_dir=gs://YOUR_BUCKET/ucf101_split1_tfr

Reproduces: Attention Distillation (Liu, Chen, Zhang, Li, Rehg, BMVC 2020), Table 1
("Evaluations of attention modules"), row "Flow Prob-Atten": an I3D on TV-L1 flow (x,
y), 24 x 224 x 224 clips, initialised from the DeepMind Kinetics I3D (flow_imagenet),
with Prob-Atten (`head='prob_atten'`): a probabilistic map A ~ softmax(w_a * phi) (Eq.
2; a Gumbel-softmax sample at temperature 2 in training, p(A) at test), phi = Mixed_4f,
pools Mixed_5c (Eq. 4). Loss: CE + lambda_2 sum_t KL[A(t) || U] (Eq. 3, objective
'attention_prior'), lambda_2 = 1 / (T H W) of the map's grid.

Paper number: 94.9 mean class accuracy on UCF101 split 1 (`mean_class_accuracy@10x3`).
The same row reports 74.2 on HMDB51 and 40.4 on EGTEA Gaze+ (split 1 each). Train those
with the dataset flags of configs/liu2020_common.py.

Settings (Sec. 3.6, and what is chosen where the paper is silent):
configs/liu2020_common.py.
Runtime: about 1.5 h on UCF101 (0.5 h HMDB51, 1.2 h EGTEA) on 4 GPUs (estimated for V100s,
see configs/liu2020_common.py).
"""

from configs.liu2020_common import get_liu2020_config


def get_config():
  return get_liu2020_config(dataset="ucf101", modality="flow", head="prob_atten",
                            objective="attention_prior")
