r"""D3D Table 1 (Stroud et al., WACV 2020, Sec. 5.2): the flow decoders at layer 3A of a
Kinetics-400 S3D-G, one row per variant. SOURCE = the finished S3D-G workdir of the row's
modality (configs/kinetics400_s3dg_rgb.py or configs/kinetics400_s3dg_flow.py).

  python -m d3d_jax.main --config=configs/kinetics400_flow_probe.py:pwc_rgb \
      --workdir=gs://YOUR_BUCKET/workdirs/k400_probe_pwc_rgb \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.model.init_from.path=gs://YOUR_BUCKET/workdirs/SOURCE/export

or, for Figure 4 (every layer, S3D-G vs D3D, frozen and ft), the sweep:

  python -m d3d_jax.probe_flow --config=configs/kinetics400_flow_probe.py:pwc_rgb \
      --workdirs=s3dg:gs://.../k400_s3dg_rgb,d3d:gs://.../k400_d3d --layers=all \
      --decoder=pwc --output_dir=gs://YOUR_BUCKET/probe/figure4

| variant     | Table 1 row (decoder, modality) | EPE  |
|-------------|----------------------------------|-----:|
| (any)       | All zeros, the `flow_epe_zeros` bracket | 2.92 |
| pwc_flow    | PWC, Flow                        | 0.63 |
| simple_rgb  | Simple, RGB                      | 2.93 |
| spatial_rgb | Spatial, RGB                     | 2.34 |
| pwc_rgb     | PWC, RGB                         | 2.08 |

The network is frozen (the paper's first setting: only the decoder trains; BatchNorm in
inference mode); ``--config.optimizer.groups={}`` gives the "ft" setting. Sec. 5.2: each
probe trains "on 2 GPUs with a batch-size of 6 for 100K iterations, and otherwise we use
the same hyperparameters as S3D-G" (configs/kinetics400_common.py; the learning rate
there is for batch 384, so here it is scaled linearly to batch 12: 0.1 * 12 / 384).
EPE is in input pixels per frame at the decoder's 32 x 28 x 28 grid (the paper shows
TV-L1 "downsampled to 28x28 px, which is the decoder output resolution"). The EPE comes
from `python -m d3d_jax.probe_flow` or ``--config.eval_every_steps`` (the decoder is in
the checkpoints, not in the export, so ``mode`` is 'train').
Runtime: a few hours on 2 GPUs (frozen backbone: forward only through S3D-G).
"""

import ml_collections

from configs.kinetics400_common import get_kinetics400_config
from d3d_jax import paper_rows
from d3d_jax.evaluators import evaluator_config
from d3d_jax.objectives import objective_config
from d3d_jax.objectives.flow_prediction import LAYER_3A, frozen_backbone_group

# variant -> (decoder, modality of the probed S3D-G)
ROWS = {"simple_rgb": ("simple", "rgb"), "spatial_rgb": ("spatial", "rgb"),
        "pwc_rgb": ("pwc", "rgb"), "pwc_flow": ("pwc", "flow")}
VARIANTS = tuple(ROWS)


def get_config(variant: str = "pwc_rgb"):
  if variant not in ROWS:
    raise ValueError(f"configs/kinetics400_flow_probe.py:{variant}: the variants are "
                     f"{list(VARIANTS)}")
  decoder, modality = ROWS[variant]
  c = get_kinetics400_config(modality=modality, objective="ce")
  c.input.modalities = ("rgb", "flow")
  c.input.batch_size = 12
  c.model.init_from.path = f"gs://YOUR_BUCKET/workdirs/k400_s3dg_{modality}/export"
  c.objective = objective_config("flow_probe")
  c.objective.endpoints = (LAYER_3A,)
  c.objective.decoder = decoder
  c.optimizer.groups = ml_collections.ConfigDict({"backbone": frozen_backbone_group()})
  c.total_steps = 100_000
  c.schedule.base_lr = 0.1 * 12 / 384
  c.schedule.boundaries = (75_000, 87_500)
  c.mode = "train"
  c.evals = ml_collections.ConfigDict({"flow_epe": evaluator_config("flow_epe")})
  c.paper_rows = paper_rows.section(f"d3d_t1_{variant}")
  return c
