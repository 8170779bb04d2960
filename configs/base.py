"""Shared defaults of every experiment config; each field is documented here once.

Experiment files call `get_base_config()` and override what their paper row needs.
Run any of them with

  python -m d3d_jax.main --config=configs/<file>.py --workdir=DIR [--config.a.b=value]

Re-running with the same --workdir resumes from its latest checkpoint. Configs are
locked: an override of a key that does not exist is an error naming the key.
"""

import ml_collections

from d3d_jax.evaluators import evaluator_config
from d3d_jax.objectives import objective_config
from data_pipelines import input_config


def model_config(name: str = "s3dg", modality: str = "rgb") -> ml_collections.ConfigDict:
  """One network: a `d3d_jax.models.build_model` preset, its input stream and options."""
  m = ml_collections.ConfigDict()
  # A preset of d3d_jax.models.MODELS: i3d, s3dg, s3d, i2d, top_heavy_i3d, bottom_heavy_i3d.
  m.name = name
  # Which input stream the network reads: 'rgb' (3 channels) or 'flow' (2 channels).
  m.modality = modality
  # Overrides of S3DG / ConvOptions attributes passed to build_model, e.g.
  # depth_multiplier, min_depth, final_endpoint, dropout_rate, padding ('SAME' |
  # 'symmetric'), lowering ('auto' | 'native' | 'folded'), bn_scale, dtype.
  m.options = ml_collections.ConfigDict()
  # Start from published or previously trained weights (d3d_jax.weights):
  # path '' = random init; format 'd3d_jax' (our exports) or a published format;
  # exclude: regexes of parameter paths to keep at init (e.g. '^Logits/'); the model's
  # own new modules (attention heads) need no entry: the model declares them;
  # scope: which network of a file holding several ('' = the only one, e.g.
  # 'RGB/inception_i3d/' of DeepMind's two-stream checkpoints); into: the submodule of
  # our network the file's network fills ('' = the whole network; 'FlowStream' = the
  # flow stream of 's3dg_cnn_flow', which starts from a flow S3D-G export).
  m.init_from = ml_collections.ConfigDict(dict(path="", format="d3d_jax", exclude=(),
                                                scope="", into=""))
  return m


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # 'train', 'eval' (latest checkpoint of the workdir) or 'train_and_eval'.
  c.mode = "train_and_eval"
  # Seed of parameter init, dropout and (unless input.seed is set apart) data order.
  c.seed = 0

  # ---- Data (data_pipelines/input_config.py documents every field) ----
  c.input = input_config.get_input_config()

  # ---- The network being trained (the student in distillation) ----
  c.model = model_config()

  # ---- The frozen teacher (distillation objectives only) ----
  c.teacher = ml_collections.ConfigDict()
  # A finished run's workdir (its export/ is used; a run without an export, or
  # whose export is older than its newest checkpoint, is an error: there is no
  # fallback to a checkpoint) or an export directory. Required by objectives that
  # need a teacher. The teacher network is rebuilt from the build_model call stored
  # in the export; teacher.model must agree with it (every difference is listed in
  # one error), except compute-only options (dtype, lowering), which this section sets.
  c.teacher.checkpoint = ""
  c.teacher.model = model_config("s3dg", "flow")

  # ---- What is minimised (d3d_jax/objectives) ----
  # The objective's own section, with its paper's defaults: each objective's
  # `default_config` documents its fields. Experiments replace it whole, e.g.
  # c.objective = objective_config("d3d_logits"), then set the paper row's values.
  c.objective = objective_config("ce")

  # ---- Optimisation ----
  c.total_steps = 1000
  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "sgd"            # 'sgd' | 'adam' | 'adamw'
  c.optimizer.momentum = 0.9          # sgd
  c.optimizer.nesterov = False        # sgd
  c.optimizer.b1 = 0.9                # adam
  c.optimizer.b2 = 0.999              # adam
  c.optimizer.eps = 1e-8              # adam
  # L2 weight decay added to the gradient (slim's regulariser: 1e-7 for S3D-G / I3D).
  # Never applied to BatchNorm parameters or biases.
  c.optimizer.weight_decay = 1e-7
  c.optimizer.grad_clip_norm = 0.0    # global-norm clipping; 0 = off
  # Parameter groups: name -> d3d_jax.optimizers.group_config(pattern, lr_multiplier,
  # frozen, optimizer, schedule); the first group whose regex matches a parameter path
  # ('student/Mixed_4b/...', 'extra/<module>/...') takes it, the rest follow the
  # sections above. E.g. heads at 10x the learning rate, or a frozen backbone.
  c.optimizer.groups = ml_collections.ConfigDict()
  c.schedule = ml_collections.ConfigDict()
  c.schedule.name = "cosine"          # 'cosine' (with linear warmup) | 'step' | 'constant'
  c.schedule.base_lr = 0.1
  c.schedule.warmup_steps = 0
  c.schedule.boundaries = ()          # 'step': steps at which lr *= decay_factor
  c.schedule.decay_factor = 0.1
  # Compute dtype of the networks: 'float32' (CPU) or 'bfloat16' (TPU / GPU).
  c.compute_dtype = "float32"

  # ---- Devices ----
  # Mesh axes and sizes (-1 = all remaining devices). The batch is split over 'data'.
  c.mesh = (("data", -1), ("model", 1))
  # FSDP-style parameter sharding over 'data' (largest divisible dim of each
  # parameter of at least fsdp_min_size elements); False = replicated parameters.
  c.fsdp = False
  c.fsdp_min_size = 2 ** 16

  # ---- Checkpoints, logs, evaluation ----
  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every_steps = 500
  c.checkpoint.keep = 3
  c.checkpoint.async_save = True
  # One live run per workdir (d3d_jax/workdir_lease.py): the holder rewrites the
  # lease's heartbeat this often; a lease whose heartbeat is older than
  # lease_stale_seconds (or whose holder's pid on this host is gone) is taken over.
  c.checkpoint.lease_heartbeat_seconds = 30.0
  c.checkpoint.lease_stale_seconds = 300.0
  # Resume checkpoints written under a config that differs in keys other than
  # checkpoint.RESUMABLE_CHANGES (total_steps, logging, checkpoint and eval cadence,
  # data_dir); False = such a resume is an error listing every changed key.
  c.checkpoint.allow_config_change = False
  c.log_every_steps = 50
  # Evaluate every this many steps during train_and_eval (0 = only at the end).
  c.eval_every_steps = 0
  # What evaluation measures: name -> d3d_jax.evaluators.evaluator_config(type, ...),
  # type 'multiview' (accuracy over input.num_test_clips x num_test_crops views),
  # 'teacher_student_distance' (logit MSE, KL, agreement with the teacher) or
  # 'attention_maps' (map entropy, KL to the teacher's map, pictures).
  c.evals = ml_collections.ConfigDict({"multiview": evaluator_config("multiview")})
  # Skip already-consumed batches on resume so a resumed run sees the same data as an
  # uninterrupted one (needs input.deterministic); the skip runs on parsed records
  # before decoding. False: the data seed folds in the step instead (no skip at all).
  c.exact_resume = False

  # ---- What the run reproduces ----
  # The paper table rows this config reproduces (d3d_jax/paper_rows.py `section`),
  # recorded in run_config.json; `python -m d3d_jax.tables` reads them. Empty = none.
  c.paper_rows = ml_collections.ConfigDict()
  return c
