r"""Synthetic demo, W3 stage 1: RGB S3D-G + W3 attention + feature refinement ("w/o MFR").

  python -m d3d_jax.main --config=configs/synthetic_w3.py \
      --workdir=/tmp/d3d_jax/demo/w3_stage1_seed0

Reproduces: W3 (Perez-Rua et al., ECCV 2020) without MFR, the "+ W3 w/o MFR" column of
Table 7 (TSM-R50, Something-Something V1: 50.2 top-1 vs TSM 47.2), in miniature: the
demo's RGB S3D-G (configs/synthetic_rgb_baseline.py, same data, schedule and seed) with
a W3 module on the output of every Inception block (Mixed_3b, Mixed_3c; Eq. 1-6) and
the attention-guided refinement of the final features (Eq. 7-8), trained with
cross-entropy. Its workdir is the teacher of stage 2 (configs/synthetic_w3_mfr.py).
Expected and measured: README, "W3 attention". Runtime: about 1-2 minutes on a 2-core
CPU (`python -m d3d_jax.demo --methods=w3` runs both stages for each seed).
"""

from configs.synthetic_common import get_synthetic_config


def get_synthetic_w3_config(objective: str):
  """The synthetic RGB config with W3 in every Inception block and the refinement."""
  c = get_synthetic_config(modality="rgb", objective=objective)
  c.input.modalities = ("rgb",)  # the MFR teacher is RGB too: no flow needed
  c.model.options.block_module = "w3"           # W3 in every Inception block (Sec. 3.3)
  c.model.options.attention_refinement = True   # Eq. 7-8
  c.teacher.model.modality = "rgb"
  c.teacher.model.options = c.model.options.to_dict()
  return c


def get_config():
  return get_synthetic_w3_config(objective="ce")
