"""The trainer: one config in, a trained, checkpointed, evaluated model out.

Sections, top to bottom: set-up (mesh, data, networks, objective, optimiser) ->
state (initialised shape-first, materialised sharded, or resumed from the workdir) ->
the jitted train step -> the train loop (metrics, checkpoints, preemption) ->
evaluation and export. Every objective family shares this loop: `d3d_jax.objectives`
says what is minimised, the teacher (if any) runs inside the same jitted step under
`stop_gradient` with BatchNorm in inference mode.
"""

import dataclasses
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

from d3d_jax import checkpointing, evaluation, optimizers
from d3d_jax import sharding as sharding_lib
from d3d_jax.models import INPUT_CHANNELS, build_call, build_from_config
from d3d_jax.objectives import ModelOutputs, build_objective, total_loss
from d3d_jax.teacher import load_teacher
from d3d_jax.weights import load_init_from
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
  schedule: optax.Schedule
  tx: optax.GradientTransformation


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
    teacher, teacher_variables = load_teacher(config, num_classes)
  schedule = optimizers.learning_rate_schedule(config.schedule, config.total_steps)
  return Experiment(
      config=config, workdir=workdir, mesh=sharding_lib.make_mesh(config.mesh),
      num_classes=num_classes, class_names=class_names, student=student,
      teacher=teacher, teacher_variables=teacher_variables, objective=objective,
      schedule=schedule, tx=optimizers.build_optimizer(config.optimizer, schedule))


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
                      opt_state=exp.tx.init(params), rng=train_rng)

  return init


def create_state(exp: Experiment, checkpointer: Optional[checkpointing.Checkpointer]):
  """(state, shardings): resumed from the workdir, else initialised (and init_from)."""
  config = exp.config
  init = _init_state_fn(exp)
  rng = jax.random.PRNGKey(config.seed)
  abstract = jax.eval_shape(init, rng)
  shardings = sharding_lib.state_shardings(abstract, exp.mesh, config.fsdp,
                                           config.fsdp_min_size)
  if checkpointer is not None and checkpointer.latest_step() is not None:
    return checkpointer.restore_latest(abstract, shardings), shardings
  with exp.mesh:
    state = jax.jit(init, out_shardings=shardings)(rng)
  if config.model.init_from.path:
    params, stats = load_init_from(config.model.init_from, jax.device_get(
        state.params["student"]), jax.device_get(state.batch_stats["student"]))
    state = state.replace(params=dict(state.params, student=params),
                          batch_stats=dict(state.batch_stats, student=stats))
    state = state.replace(opt_state=exp.tx.init(state.params))
    state = jax.device_put(state, shardings)
  return state, shardings


# ---------------------------------------------------------------------------------------
# The train step.


def make_train_step(exp: Experiment, shardings):
  config = exp.config
  student_modality = config.model.modality
  teacher_modality = config.teacher.model.modality
  objective, student, teacher = exp.objective, exp.student, exp.teacher
  extras = objective.extra_modules()

  def train_step(state: TrainState, teacher_variables, batch):
    rng = jax.random.fold_in(state.rng, state.step)
    teacher_out = None
    if teacher is not None:
      t_logits, t_endpoints = teacher.apply(teacher_variables, batch[teacher_modality],
                                            train=False)
      teacher_out = jax.lax.stop_gradient(ModelOutputs(t_logits, t_endpoints))

    def loss_fn(params):
      (logits, endpoints), updates = student.apply(
          {"params": params["student"], "batch_stats": state.batch_stats["student"]},
          batch[student_modality], train=True, mutable=["batch_stats"],
          rngs={"dropout": rng})
      def apply_extra(name, *args, **kwargs):
        return extras[name].apply({"params": params["extra"][name]}, *args,
                                  rngs={"dropout": jax.random.fold_in(rng, 1)}, **kwargs)
      terms = objective.loss_terms(ModelOutputs(logits, endpoints), teacher_out, batch,
                                   apply_extra if extras else None)
      return total_loss(terms), (terms, updates["batch_stats"], logits)

    (loss, (terms, new_stats, logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = exp.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": loss,
        "top1": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
        "grad_norm": optax.global_norm(grads),
        "learning_rate": exp.schedule(state.step),
    }
    metrics.update({f"loss/{name}": term.value for name, term in terms.items()})
    if teacher_out is not None:
      metrics["teacher/top1"] = jnp.mean(
          jnp.argmax(teacher_out.logits, -1) == batch["label"])
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              batch_stats=dict(state.batch_stats, student=new_stats))
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
  """Trains (resuming from `workdir` if it holds checkpoints) and exports the model."""
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
  train_step = make_train_step(exp, shardings)
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
      with exp.mesh, sharding_lib.logical_rules():
        state, metrics = train_step(state, teacher_variables, batch)
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
      if step % config.checkpoint.every_steps == 0 or step == config.total_steps:
        checkpointer.save(state)
      if (config.mode == "train_and_eval" and config.eval_every_steps
          and step % config.eval_every_steps == 0 and step < config.total_steps):
        evaluation.evaluate_train_state(exp, state, writer, step)
      if preempted.is_set:
        checkpointer.save(state, force=True)
        checkpointer.wait()
        logging.warning("Stopped at step %d after a termination signal.", step)
        break
  checkpointer.close()
  if step >= config.total_steps:
    checkpointing.export_model(workdir, state, build_call(config.model, exp.num_classes))
  writer.flush()
  return state
