r"""Synthetic demo: D3D's "3D CNN flow" (Sec. 4.1; Table 6 row "S3D-G with 3D CNN flow").

  python -m d3d_jax.main --config=configs/synthetic_cnn_flow.py \
      --workdir=/tmp/d3d_jax/demo/cnn_flow \
      --config.model.init_from.path=/tmp/d3d_jax/demo/flow_teacher/export

The demo's small S3D-G as both parts: an RGB trunk up to 3A (MaxPool3d_3a_3x3) with the
Simple decoder (Sec. 4.1) predicts flow, which feeds a flow S3D-G stream that starts
from the demo's flow teacher (configs/synthetic_flow_teacher.py; ``init_from.into``
'FlowStream'). 200 steps pretrain the front-end to reproduce the records' TV-L1 flow
(the stream frozen), then 400 steps train everything with the action loss. At test time
the network reads RGB only. Paper number (Kinetics-400, Table 6): 69.7 top-1, above the
TV-L1 temporal stream (67.3) and below the RGB S3D-G (74.0). Runtime: about 2 minutes
on 2 shared CPU cores (two S3D-G trunks per step).

Measured (seeds 0, 1, 2 via --config.seed / --config.input.seed; the stream from the
seed-0 flow teacher): top-1 65.9 / 69.5 / 57.8 (64.4 +- 4.9) on the 384 test clips,
against the demo's RGB baseline 29.7 +- 7.1, D3D 50.4 +- 10.3 and flow teacher 89.3. On
this motion-defined task the learned-flow path beats the RGB networks, unlike Kinetics
(Table 6). 25 steps into end-to-end training (step 225) the stream's cross-entropy
on the predicted flow is 2.5-2.8, chance level for 12 classes: the Simple decoder's
flow after 200 steps (flow loss 0.04-0.06) is not yet flow the stream recognises.
"""

from configs.synthetic_common import get_synthetic_config
from d3d_jax.objectives import objective_config
from d3d_jax.objectives.cnn_flow import STREAM_GROUP, stream_group


def get_config():
  c = get_synthetic_config(modality="rgb", objective="ce")
  c.input.modalities = ("rgb", "flow")
  c.model.name = "s3dg_cnn_flow"
  c.model.options.flow_decoder = "simple"
  c.model.init_from.into = "FlowStream"
  c.objective = objective_config("cnn_flow")
  c.objective.pretrain_steps = 200
  c.total_steps = 600
  c.optimizer.groups[STREAM_GROUP] = stream_group()
  return c
