r"""D3D Table 6 (ablations, Sec. 5.6) on Kinetics-400, one row per variant. TEACHER = the
flow S3D-G workdir (configs/kinetics400_s3dg_flow.py), or the RGB S3D-G workdir
(configs/kinetics400_s3dg_rgb.py) for `spatial_teacher`.

  python -m d3d_jax.main --config=configs/kinetics400_d3d_table6.py:layer4f \
      --workdir=gs://YOUR_BUCKET/workdirs/kinetics400_d3d_layer4f \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.teacher.checkpoint=gs://YOUR_BUCKET/workdirs/TEACHER

Reproduces: D3D (Stroud et al., WACV 2020) Table 6. Paper numbers: top-1 on the reduced
Kinetics-400 validation set (D3D itself, configs/kinetics400_d3d.py: 75.9):

| variant         | row                              | what changes                                        | top-1 |
|-----------------|----------------------------------|-----------------------------------------------------|------:|
| layer2c         | D3D distilled at layer 2C        | Eq. 2 on the Conv3d_2c_3x3 activations, lambda = 1  | 74.4 |
| layer4c         | D3D distilled at layer 4C        | Eq. 2 on the Mixed_4c activations, lambda = 1       | 74.5 |
| layer4f         | D3D distilled at layer 4F        | Eq. 2 on the Mixed_4f activations, lambda = 100     | 74.8 |
| no_action_loss  | D3D without action loss          | the distillation loss alone (ce_weight = 0)         | 58.8 |
| spatial_teacher | D3D distilled from spatial stream | the teacher is the RGB S3D-G, not the flow stream  | 74.3 |
| s3dg_flow       | S3D-G temporal stream            | S3D-G on TV-L1 flow, cross-entropy only (no teacher) | 67.3 |
| flow_loss       | S3D-G with flow loss             | no teacher; L_a + the Sec. 3.1 flow loss of a PWC decoder at 3A, trained jointly (Sec. 4.1) | 74.3 |
| cnn_flow        | S3D-G with 3D CNN flow           | no teacher; RGB -> S3D-G trunk to 3A + PWC decoder -> predicted flow -> flow S3D-G; front-end pretrained on TV-L1, then end-to-end with L_a (Sec. 4.1) | 69.7 |

`s3dg_flow` is configs/kinetics400_s3dg_flow.py (80k steps); `flow_loss` trains as long
as D3D (140k steps) and needs flow in the records only for its loss; neither uses
--config.teacher.checkpoint. Decoder: Sec. 4.1 describes both flow rows with the
"Simple" decoder, Sec. 5.6 says the Table 6 runs "predict at layer 3A and use the PWC
decoder"; these rows follow Sec. 5.6 (``--config.objective.decoder=simple`` /
``--config.model.options.flow_decoder=simple`` give Sec. 4.1's).

`cnn_flow` (models/cnn_flow.py, objectives/cnn_flow.py) reads only RGB at inference. Its
flow stream starts from the flow S3D-G (the paper: "S3D-G pretrained to predict actions
from optical flow"); the front-end starts from scratch (the paper does not say how it
was initialised; ``init_from`` fills one part) and is pretrained on TV-L1:

  python -m d3d_jax.main --config=configs/kinetics400_d3d_table6.py:cnn_flow \
      --workdir=gs://YOUR_BUCKET/workdirs/kinetics400_cnn_flow \
      --config.input.data_dir=gs://YOUR_BUCKET/kinetics400_tfr \
      --config.model.init_from.path=gs://YOUR_BUCKET/workdirs/k400_s3dg_flow/export

The paper gives neither phase's length; here the TV-L1 pretraining lasts as long as a
Sec. 5.2 probe (100k steps) and the end-to-end phase as long as D3D (140k): 240k steps.

The feature rows take the per-element mean of the squared error (`objective.reduction`
'mean'), the scale at which Sec. 5.6's lambdas make the distillation loss match the
cross-entropy. Everything else as configs/kinetics400_d3d.py (140k steps).
Runtime: roughly 1.5-2 days each on a TPU v4-64 slice.
"""

from configs import kinetics400_d3d, kinetics400_s3dg_flow
from configs.kinetics400_common import step_boundaries
from d3d_jax import paper_rows
from d3d_jax.objectives import objective_config
from d3d_jax.objectives.cnn_flow import STREAM_GROUP, stream_group

# variant -> the Table 6 endpoint and lambda of the `feature` objective (Sec. 5.6)
FEATURE_LAYERS = {"layer2c": ("Conv3d_2c_3x3", 1.0), "layer4c": ("Mixed_4c", 1.0),
                  "layer4f": ("Mixed_4f", 100.0)}
VARIANTS = (*FEATURE_LAYERS, "no_action_loss", "spatial_teacher", "s3dg_flow", "flow_loss",
            "cnn_flow")
# variant -> its Table 6 row (d3d_jax/paper_rows.py); s3dg_flow's config carries its own.
PAPER_ROWS = {"layer2c": "d3d_t6_layer2c", "layer4c": "d3d_t6_layer4c",
              "layer4f": "d3d_t6_layer4f", "no_action_loss": "d3d_t6_no_action_loss",
              "spatial_teacher": "d3d_t6_spatial_teacher", "flow_loss": "d3d_t6_flow_loss",
              "cnn_flow": "d3d_t6_cnn_flow"}


def get_config(variant: str = "layer4f"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/kinetics400_d3d_table6.py:{variant}: the variants are "
                     f"{list(VARIANTS)}")
  if variant == "s3dg_flow":
    return kinetics400_s3dg_flow.get_config()
  c = kinetics400_d3d.get_config()
  if variant in FEATURE_LAYERS:
    layer, weight = FEATURE_LAYERS[variant]
    c.objective = objective_config("feature")
    c.objective.feature_weights = {layer: weight}
  elif variant == "flow_loss":
    c.objective = objective_config("flow_loss")  # CE + a decoder at 3A (Sec. 4.1)
    c.objective.decoder = "pwc"                  # Sec. 5.6
  elif variant == "cnn_flow":
    c.model.name = "s3dg_cnn_flow"
    c.model.options.flow_decoder = "pwc"         # Sec. 5.6
    c.model.init_from.path = "gs://YOUR_BUCKET/workdirs/k400_s3dg_flow/export"
    c.model.init_from.into = "FlowStream"
    c.teacher.checkpoint = ""
    c.objective = objective_config("cnn_flow")
    c.objective.pretrain_steps = 100_000
    c.total_steps = c.objective.pretrain_steps + 140_000
    c.schedule.boundaries = step_boundaries(c.total_steps)
    c.optimizer.groups[STREAM_GROUP] = stream_group()
  elif variant == "no_action_loss":
    c.objective.ce_weight = 0.0  # L = lambda * L_d only
  else:
    c.teacher.model.modality = "rgb"
    c.input.modalities = ("rgb",)
  c.paper_rows = paper_rows.section(PAPER_ROWS[variant])
  return c
