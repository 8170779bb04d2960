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

The feature rows take the per-element mean of the squared error (`objective.reduction`
'mean'), the scale at which Sec. 5.6's lambdas make the distillation loss match the
cross-entropy. Everything else as configs/kinetics400_d3d.py (140k steps).
Runtime: roughly 1.5-2 days each on a TPU v4-64 slice.
"""

from configs import kinetics400_d3d
from d3d_jax.objectives import objective_config

# variant -> the Table 6 endpoint and lambda of the `feature` objective (Sec. 5.6)
FEATURE_LAYERS = {"layer2c": ("Conv3d_2c_3x3", 1.0), "layer4c": ("Mixed_4c", 1.0),
                  "layer4f": ("Mixed_4f", 100.0)}
VARIANTS = (*FEATURE_LAYERS, "no_action_loss", "spatial_teacher")


def get_config(variant: str = "layer4f"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/kinetics400_d3d_table6.py:{variant}: the variants are "
                     f"{list(VARIANTS)}")
  c = kinetics400_d3d.get_config()
  if variant in FEATURE_LAYERS:
    layer, weight = FEATURE_LAYERS[variant]
    c.objective = objective_config("feature")
    c.objective.feature_weights = {layer: weight}
  elif variant == "no_action_loss":
    c.objective.ce_weight = 0.0  # L = lambda * L_d only
  else:
    c.teacher.model.modality = "rgb"
    c.input.modalities = ("rgb",)
  return c
