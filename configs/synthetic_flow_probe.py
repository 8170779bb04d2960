r"""Synthetic demo: optical-flow probing of a finished run (D3D Sec. 3.2, Figure 4).

  python -m d3d_jax.probe_flow --workdirs=rgb:/tmp/d3d_jax/demo/rgb_baseline_seed0,\
d3d:/tmp/d3d_jax/demo/d3d_paper_seed0 --layers=all --decoder=pwc \
      --output_dir=/tmp/d3d_jax/demo/probe_seed0

One probe run by hand (ft setting, PWC at 3A; the decoders are exported beside the
network, so ``--config.mode=train_and_eval`` measures the export's EPE at the end and
``--config.eval_every_steps=50`` logs it while training):

  python -m d3d_jax.main --config=configs/synthetic_flow_probe.py \
      --workdir=/tmp/d3d_jax/demo/probe_by_hand \
      --config.model.init_from.path=/tmp/d3d_jax/demo/rgb_baseline_seed0/export

The training recipe of each probe run: `d3d_jax.probe_flow` takes the network (model
preset, options, modality) from each workdir's export and starts from its weights
(``model.init_from``); this file gives the data, the schedule and the evaluator. The
"frozen" setting adds `frozen_backbone_group` and trains the decoders of every layer in
one run; "ft" trains one layer's decoder with the whole network. Reproduces, in
miniature, the paper's claim (Figure 4): lower EPE for D3D than for S3D-G, strongest in
early layers, and a smaller gap after fine-tuning. Runtime: see the README section
"Optical-flow probing" (a few minutes per sweep on a 2-core CPU).

The paper trains each probe for 100k steps at batch 6 on 2 GPUs "with the same
hyperparameters as S3D-G" (Sec. 5.2); at demo scale: 200 Adam steps at 1e-3 (the
demo's optimiser), and the PWC decoder's widths scaled by the demo network's 0.25.
"""

import ml_collections

from configs.synthetic_common import get_synthetic_config
from d3d_jax.evaluators import evaluator_config
from d3d_jax.objectives import objective_config


def get_config():
  c = get_synthetic_config(modality="rgb", objective="ce")
  c.input.modalities = ("rgb", "flow")
  c.objective = objective_config("flow_probe")
  # PWC's C_L = 128, 128, 96, 64, 32 scaled like the demo network (depth_multiplier
  # 0.25): at full width the PWC decoders cost ~100 GFLOP per step, minutes on a CPU.
  c.objective.pwc_channels = (32, 32, 24, 16, 8, 3)
  c.total_steps = 200
  c.schedule.base_lr = 1e-3
  c.schedule.warmup_steps = 10
  c.checkpoint.every_steps = 200
  # `probe_flow` measures EPE on the train state (which also keeps example clips).
  c.mode = "train"
  c.evals = ml_collections.ConfigDict({"flow_epe": evaluator_config("flow_epe")})
  return c
