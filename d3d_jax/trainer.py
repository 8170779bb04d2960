"""The trainer: one config in, a trained, checkpointed, evaluated model out.

Sections, top to bottom: set-up (mesh, data, networks, objective, optimiser) ->
state (initialised shape-first, materialised sharded, or resumed from the workdir) ->
the jitted train step -> the train loop (metrics, checkpoints, preemption) ->
evaluation and export. Every objective family shares this loop: `d3d_jax.objectives`
says what is minimised, the teacher (if any) runs inside the same jitted step under
`stop_gradient` with BatchNorm in inference mode.
"""

import dataclasses
import functools
import os
import time
from typing import Any, Optional

from absl import logging
from clu import metric_writers, parameter_overview, periodic_actions
from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from d3d_jax import checkpointing, evaluation, optimizers, workdir_lease
from d3d_jax import sharding as sharding_lib
from d3d_jax.export import build_call_differences, stored_build_call
from d3d_jax.models import INPUT_CHANNELS, build_call, build_from_config
from d3d_jax.objectives import ModelOutputs, build_objective, phase_at, total_loss
from d3d_jax.teacher import load_teacher
from d3d_jax.weights import CheckpointMismatchError, load_init_from
from d3d_jax.train_state import TrainState
from data_pipelines import input_pipeline
from data_pipelines.dataset_info import dataset_info


@dataclasses.dataclass
class Experiment:
  """Everything built from the config before training starts."""

  config: ml_collections.ConfigDict
  workdir: str
  mesh: Any
  num_classes: int
  class_names: tuple
  student: nn.Module
  teacher: Optional[nn.Module]
  teacher_variables: Any
  objective: Any
  phases: tuple
  schedule: optax.Schedule
  txs: dict  # phase name -> the phase's optimiser

  def init_opt_state(self, params):
    return {name: tx.init(params) for name, tx in self.txs.items()}


def _check_modalities(config, available) -> None:
  """Fails fast when a network reads a stream the data does not provide."""
  needed = {("model.modality", config.model.modality)}
  if build_objective(config.objective).needs_teacher:
    needed.add(("teacher.model.modality", config.teacher.model.modality))
  for key, modality in sorted(needed):
    if modality not in tuple(config.input.modalities):
      raise ValueError(f"config.{key} is {modality!r} but config.input.modalities is "
                       f"{tuple(config.input.modalities)}")
    if modality not in available:
      raise ValueError(f"config.{key} is {modality!r} but the dataset in "
                       f"input.data_dir={config.input.data_dir!r} has only {available}")


def build_experiment(config, workdir: str) -> Experiment:
  """Reads the dataset's facts, checks the config against them, builds the rest."""
  if config.exact_resume and not config.input.deterministic:
    raise ValueError("config.exact_resume=True replays the data stream of an uninterrupted "
                     "run, which only config.input.deterministic=True makes reproducible: "
                     "set input.deterministic=True or exact_resume=False")
  info = dataset_info(config.input)
  _check_modalities(config, info.modalities)
  return build_experiment_for_classes(config, workdir, info.num_classes,
                                      tuple(info.class_names))


def build_experiment_for_classes(config, workdir: str, num_classes: int,
                                 class_names: tuple = ()) -> Experiment:
  """The networks, teacher, objective and optimiser for `num_classes` classes."""
  objective = build_objective(config.objective)
  student = build_from_config(config.model, num_classes, config.compute_dtype)
  teacher, teacher_variables = None, None
  if objective.needs_teacher:
    teacher, teacher_variables = load_teacher(config, num_classes,
                                              objective.teacher_extra_modules)
  phases = check_phases(objective.phases(), config.optimizer.groups)
  groups = config.optimizer.groups
  labels = lambda params: optimizers.parameter_labels(params, groups)
  txs = {phase.name: optimizers.build_phase_optimizer(
      config, labels, optimizers.frozen_groups(groups, phase.frozen)) for phase in phases}
  return Experiment(
      config=config, workdir=workdir, mesh=sharding_lib.make_mesh(config.mesh),
      num_classes=num_classes, class_names=class_names, student=student,
      teacher=teacher, teacher_variables=teacher_variables, objective=objective,
      phases=phases,
      schedule=optimizers.learning_rate_schedule(config.schedule, config.total_steps),
      txs=txs)


def check_phases(phases, groups) -> tuple:
  """The objective's phases, checked: unique names, positive lengths when several,
  frozen groups that exist."""
  names = [p.name for p in phases]
  if not phases or len(set(names)) != len(names):
    raise ValueError(f"an objective needs phases with distinct names, got {names}")
  if len(phases) > 1 and any(p.steps <= 0 for p in phases):
    raise ValueError(f"phases {names} repeat in order, so each needs steps > 0: "
                     f"{[(p.name, p.steps) for p in phases]}")
  for phase in phases:
    optimizers.frozen_groups(groups, phase.frozen)
  return tuple(phases)


# ---------------------------------------------------------------------------------------
# State.


def _dummy_clip(config, modality: str):
  i = config.input
  return jnp.zeros((1, i.num_frames, i.crop_size, i.crop_size, INPUT_CHANNELS[modality]))


def _init_state_fn(exp: Experiment):
  config = exp.config

  def init(rng):
    init_rng, extra_rng, train_rng = jax.random.split(rng, 3)
    x = _dummy_clip(config, config.model.modality)
    variables = nn.unbox(exp.student.init(init_rng, x, train=False))
    params = {"student": variables["params"]}
    batch_stats = {"student": variables.get("batch_stats", {})}
    extras = exp.objective.extra_modules()
    if extras:
      logits, endpoints = exp.student.apply(variables, x, train=False)
      outputs = ModelOutputs(logits, endpoints)
      params["extra"] = {
          name: nn.unbox(module.init(jax.random.fold_in(extra_rng, i), outputs))["params"]
          for i, (name, module) in enumerate(sorted(extras.items()))}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats,
                      opt_state=exp.init_opt_state(params), rng=train_rng,
                      phase=jnp.zeros((), jnp.int32))

  return init


def _load_init_from(exp: Experiment, state: TrainState):
  """The student's (params, batch_stats) with `model.init_from` loaded. An export of
  ours stores the `build_model` call it came from: when the import does not fit, the
  error first lists how that call differs from `config.model`, by config key (a fitting
  import may still differ, e.g. in num_classes with ``^Logits/`` excluded: logged)."""
  init_from = exp.config.model.init_from
  differences = []
  if init_from.format == "d3d_jax":
    stored = stored_build_call(init_from.path)
    if stored is not None:
      differences = build_call_differences(
          stored, build_call(exp.config.model, exp.num_classes), "model")
  try:
    params, stats = load_init_from(
        init_from, sharding_lib.host_copy(state.params["student"]),
        sharding_lib.host_copy(state.batch_stats["student"]),
        new_modules=exp.student.new_modules())
  except CheckpointMismatchError as error:
    if not differences:
      raise
    raise ValueError(
        f"model.init_from.path {init_from.path} was exported from another network than "
        f"`model` describes:\n" + "\n".join(differences) + f"\n{error}") from error
  if differences:
    logging.info("model.init_from: %s fits, though its network differs from `model` "
                 "in:\n%s", init_from.path, "\n".join(differences))
  return params, stats


# XLA options for compiling the state initialisation on CPU. It runs once a run, and is
# mostly random-number generation (a threefry hash per parameter), which XLA:CPU's full
# backend optimisation compiles slowly. Level 1 compiled a full-size S3D-G's init in
# 15.3 s instead of 22.8 s, and gave bit-identical parameters for every model family,
# head and block module (level 0 was faster still, 11.7 s, but changed float rounding
# in the truncated-normal transform). A level the user sets in XLA_FLAGS wins.
CPU_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def _init_compiler_options() -> Optional[dict]:
  if (jax.default_backend() != "cpu"
      or "xla_backend_optimization_level" in os.environ.get("XLA_FLAGS", "")):
    return None
  return CPU_INIT_COMPILER_OPTIONS


def create_state(exp: Experiment, checkpointer: Optional[checkpointing.Checkpointer]):
  """(state, shardings): resumed from the workdir, else initialised (and init_from)."""
  config = exp.config
  init = _init_state_fn(exp)
  rng = jax.random.PRNGKey(config.seed)
  state_shardings = functools.partial(sharding_lib.state_shardings, mesh=exp.mesh,
                                      fsdp=config.fsdp, fsdp_min_size=config.fsdp_min_size)
  if checkpointer is not None and checkpointer.latest_step() is not None:
    abstract = jax.eval_shape(init, rng)
    shardings = state_shardings(abstract)
    state = checkpointer.restore_latest(abstract, shardings)
    step, phase = int(jax.device_get(state.step)), int(jax.device_get(state.phase))
    if phase != phase_at(exp.phases, step):
      raise ValueError(
          f"the checkpoint at step {step} is in phase {exp.phases[phase].name!r}, but the "
          f"objective's phases {[(p.name, p.steps) for p in exp.phases]} put step {step} in "
          f"{exp.phases[phase_at(exp.phases, step)].name!r}: the phases changed since it "
          f"was written")
    return state, shardings

  def init_sharded(rng):  # One trace: the shardings follow from the traced shapes.
    state = init(rng)
    return jax.lax.with_sharding_constraint(state, state_shardings(state))

  with jax.set_mesh(exp.mesh):
    state = jax.jit(init_sharded).lower(rng).compile(
        compiler_options=_init_compiler_options())(rng)
  shardings = state_shardings(state)
  if config.model.init_from.path:
    params, stats = _load_init_from(exp, state)
    state = state.replace(params=dict(state.params, student=params),
                          batch_stats=dict(state.batch_stats, student=stats))
    state = state.replace(opt_state=exp.init_opt_state(state.params))
    state = jax.device_put(state, shardings)
  return state, shardings


# ---------------------------------------------------------------------------------------
# The train step.


def make_train_step(exp: Experiment, shardings, phase_index: int = 0):
  """The jitted train step of phase `phase_index`: frozen groups get no gradient, no
  update and inference-mode BatchNorm; only the phase's loss terms are minimised."""
  config = exp.config
  student_modality = config.model.modality
  teacher_modality = config.teacher.model.modality
  objective, teacher = exp.objective, exp.teacher
  phase = exp.phases[phase_index]
  extras = objective.extra_modules()
  labels = optimizers.parameter_labels(shardings.params, config.optimizer.groups)
  frozen = optimizers.frozen_groups(config.optimizer.groups, phase.frozen)
  frozen_mask = optimizers.frozen_mask(labels, frozen)
  norms = () if phase.frozen_norms_update else optimizers.frozen_norms(labels, frozen)
  student = exp.student if not norms else exp.student.clone(
      options=dataclasses.replace(exp.student.options, frozen_norms=norms))
  tx = exp.txs[phase.name]

  def train_step(state: TrainState, teacher_variables, batch):
    rng = jax.random.fold_in(state.rng, state.step)
    teacher_out = None
    if teacher is not None:
      t_logits, t_endpoints = teacher.apply(
          {k: v for k, v in teacher_variables.items() if k != "extra"},
          batch[teacher_modality], train=False)
      teacher_out = jax.lax.stop_gradient(ModelOutputs(t_logits, t_endpoints))

    def loss_fn(params):
      params = jax.tree_util.tree_map(
          lambda p, is_frozen: jax.lax.stop_gradient(p) if is_frozen else p,
          params, frozen_mask)
      (logits, endpoints), updates = student.apply(
          {"params": params["student"], "batch_stats": state.batch_stats["student"]},
          batch[student_modality], train=True, mutable=["batch_stats"],
          rngs={"dropout": rng})
      def apply_extra(name, *args, teacher=False, **kwargs):
        # teacher=True: the module with the teacher's frozen parameters (its export's).
        module_params = (jax.lax.stop_gradient(teacher_variables["extra"][name]) if teacher
                         else params["extra"][name])
        return extras[name].apply({"params": module_params}, *args,
                                  rngs={"dropout": jax.random.fold_in(rng, 2 if teacher else 1)},
                                  **kwargs)
      terms = objective.loss_terms(ModelOutputs(logits, endpoints), teacher_out, batch,
                                   apply_extra if extras else None,
                                   **({"step": state.step} if objective.needs_step else {}))
      if phase.terms is not None:
        missing = set(phase.terms) - set(terms)
        if missing:
          raise ValueError(f"phase {phase.name!r} minimises {sorted(missing)}, which the "
                           f"objective does not compute (terms: {sorted(terms)})")
        terms = {name: terms[name] for name in phase.terms}
      return total_loss(terms), (terms, updates["batch_stats"], logits)

    (loss, (terms, new_stats, logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, phase_opt_state = tx.update(grads, state.opt_state[phase.name], state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": loss,
        "top1": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": exp.schedule(state.step),
    }
    metrics.update({f"loss/{name}": term.value for name, term in terms.items()})
    if teacher_out is not None:
      metrics["teacher/top1"] = jnp.mean(
          jnp.argmax(teacher_out.logits, -1) == batch["label"])
    new_state = state.replace(
        step=state.step + 1, params=params,
        opt_state=dict(state.opt_state, **{phase.name: phase_opt_state}),
        batch_stats=dict(state.batch_stats, student=new_stats),
        phase=jnp.asarray(phase_at(exp.phases, state.step + 1), jnp.int32))
    return new_state, metrics

  replicated = sharding_lib.replicated(exp.mesh)
  batch_sharding = sharding_lib.batch_sharding(exp.mesh)
  return jax.jit(train_step, in_shardings=(shardings, replicated, batch_sharding),
                 out_shardings=(shardings, replicated), donate_argnums=(0,))


# ---------------------------------------------------------------------------------------
# Loop.


def _train_batches(config, start_step: int):
  """Host batches from the training pipeline, positioned for a (resumed) start step."""
  input_config = config.input
  if start_step and not config.exact_resume:
    input_config = ml_collections.ConfigDict(config.input.to_dict())
    input_config.seed = int(config.input.seed) + start_step
  dataset = input_pipeline.make_train_dataset(
      input_config, skip_batches=start_step if config.exact_resume else 0)
  return dataset.as_numpy_iterator()


def train(config, workdir: str) -> TrainState:
  """Trains (resuming from `workdir` if it holds checkpoints) and exports the model.

  Holds the workdir's lease throughout (`workdir_lease`) and refuses checkpoints of
  another config (`checkpointing.check_run_config`). A termination signal stops the
  run at a checkpoint, without evaluation or export: the returned state's step is
  then below `config.total_steps` (`is_complete`).
  """
  c = config.checkpoint
  with workdir_lease.workdir_lease(workdir, c.lease_heartbeat_seconds,
                                   c.lease_stale_seconds) as lease:
    checkpointing.check_run_config(workdir, config)
    return _train_holding_lease(config, workdir, lease)


def is_complete(config, state: TrainState) -> bool:
  """Whether `state` (returned by `train`) reached `config.total_steps`."""
  return int(jax.device_get(state.step)) >= config.total_steps


def _train_holding_lease(config, workdir: str, lease) -> TrainState:
  exp = build_experiment(config, workdir)
  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=False)
  checkpointer = checkpointing.Checkpointer(workdir, config.checkpoint)
  state, shardings = create_state(exp, checkpointer)
  start_step = int(jax.device_get(state.step))
  if start_step == 0:
    parameter_overview.log_parameter_overview(state.params["student"])
    writer.write_hparams({k: v for k, v in traverse_util.flatten_dict(
        config.to_dict(), sep=".").items() if isinstance(v, (int, float, str, bool))})
  train_steps = {}  # phase index -> its jitted step, compiled when first needed
  teacher_variables = (jax.device_put(exp.teacher_variables,
                                      sharding_lib.replicated(exp.mesh))
                       if exp.teacher is not None else None)
  batches = _train_batches(config, start_step)
  report = periodic_actions.ReportProgress(num_train_steps=config.total_steps, writer=writer)
  clips_per_step = config.input.batch_size
  last_log_time, last_log_step = time.time(), start_step
  step = start_step
  with checkpointing.PreemptionFlag() as preempted:
    while step < config.total_steps:
      batch = sharding_lib.global_batch(next(batches), exp.mesh)
      phase = phase_at(exp.phases, step)
      if phase not in train_steps:
        train_steps[phase] = make_train_step(exp, shardings, phase)
      with jax.set_mesh(exp.mesh), sharding_lib.logical_rules():
        state, metrics = train_steps[phase](state, teacher_variables, batch)
      step += 1
      report(step)
      if step % config.log_every_steps == 0 or step == config.total_steps:
        metrics = jax.device_get(metrics)
        if not np.isfinite(metrics["loss"]):
          raise FloatingPointError(f"loss is {metrics['loss']} at step {step}")
        elapsed = time.time() - last_log_time
        rate = (step - last_log_step) / max(elapsed, 1e-9)
        metrics.update(steps_per_sec=rate, clips_per_sec=rate * clips_per_step,
                       eta_minutes=(config.total_steps - step) / max(rate, 1e-9) / 60)
        writer.write_scalars(step, metrics)
        last_log_time, last_log_step = time.time(), step
      if lease is not None:
        lease.check()
      if step % config.checkpoint.every_steps == 0 or step == config.total_steps:
        checkpointer.save(state)
      stop = preempted.is_set_on_any_host()
      if (config.mode == "train_and_eval" and config.eval_every_steps and not stop
          and step % config.eval_every_steps == 0 and step < config.total_steps):
        evaluation.evaluate_train_state(exp, state, writer, step,
                                        stop=preempted.is_set_on_any_host)
        stop = preempted.is_set_on_any_host()
      if stop:
        checkpointer.save(state, force=True)
        checkpointer.wait()
        break
  checkpointer.close()
  if step >= config.total_steps:
    if lease is not None:
      lease.check()
    checkpointing.export_model(workdir, state, build_call(config.model, exp.num_classes),
                               exp.objective.exported_extra_modules)
  else:
    logging.warning("The run is INCOMPLETE: a termination signal stopped it at step %d of "
                    "%d, checkpointed; nothing evaluated or exported. Re-run the same "
                    "command to resume.", step, config.total_steps)
  writer.flush()
  return state
