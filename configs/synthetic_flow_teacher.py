r"""Synthetic demo, step 1: the flow teacher (S3D-G on TV-L1 flow, cross-entropy).

  python -m d3d_jax.main --config=configs/synthetic_flow_teacher.py \
      --workdir=/tmp/d3d_jax/demo/flow_teacher

Reproduces: the flow stream of the D3D story on the synthetic motion dataset (make it
with `python -m data_pipelines.synthetic --output_dir=/tmp/d3d_jax/synthetic_motion`
or let `python -m d3d_jax.demo` do everything). Expected: near-perfect top-1 (motion
defines the classes). Runtime: about 1-2 minutes on a 2-core CPU.
"""

from configs.synthetic_common import get_synthetic_config


def get_config():
  return get_synthetic_config(modality="flow", objective="ce")
