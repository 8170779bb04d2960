"""Evaluation: one pass over the eval split feeds every evaluator of ``config.evals``.

`d3d_jax.evaluators` holds the evaluators (multi-view accuracy, teacher-student
distance, attention maps); this module runs them. `make_outputs_fn` is the prediction
function the evaluators share: a jitted batch -> ``{'student': {'logits', ...},
'teacher': {...}}`` with the endpoints they ask for, as host-local rows. A network of
several members is an ensemble (D3D + S3D-G, RGB + flow late fusion): its logits are
the log of the members' mean softmax.

Orchestration, bottom of the file: `evaluate_members` runs the multi-view protocol on
one model or an ensemble; `evaluate_workdir` runs ``config.evals`` on a finished run's
export; `evaluate_train_state` runs them on the live train state during training.
"""

import dataclasses
import itertools
import json
from typing import Callable, Iterable, Mapping, Optional, Sequence

from absl import logging
import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import ml_collections
from clu import metric_writers

from d3d_jax import sharding as sharding_lib
from d3d_jax.checkpointing import fresh_export_dir
from d3d_jax.evaluators import EvalContext, MultiView, build_evaluators, evaluator_config
from d3d_jax.export import load_model_variables
from d3d_jax.models import INPUT_CHANNELS, build_from_config
from d3d_jax.models.attention import probability_mixture
from data_pipelines import atomic_file, input_pipeline, paths
from data_pipelines.dataset_info import dataset_info


@dataclasses.dataclass(frozen=True)
class EnsembleMember:
  """A network in eval mode: its module, variables and the input stream it reads."""

  model: object
  variables: Mapping
  modality: str


def make_outputs_fn(networks: Mapping[str, Sequence[EnsembleMember]],
                    endpoints: Mapping[str, Sequence[str]], mesh):
  """A function host batch -> ``{network: {'logits': ..., endpoint: ...}}``, host-local.

  `networks` maps a role ('student', 'teacher') to its members (one, or an ensemble);
  `endpoints` maps a role to the endpoint names to return (single networks only).
  """
  roles = tuple(networks)
  for role in roles:
    if len(networks[role]) > 1 and endpoints.get(role):
      raise ValueError(f"the {role} is an ensemble; its endpoints {endpoints[role]} are "
                       f"not defined")
  modalities = {role: tuple(m.modality for m in networks[role]) for role in roles}
  models = {role: tuple(m.model for m in networks[role]) for role in roles}

  @jax.jit
  def outputs(variables, inputs):
    result = {}
    for role in roles:
      applied = [model.apply(v, x, train=False)
                 for model, v, x in zip(models[role], variables[role], inputs[role])]
      if len(applied) == 1:
        logits, eps = applied[0]
        result[role] = {"logits": logits, **{n: eps[n] for n in endpoints.get(role, ())}}
      else:
        result[role] = {"logits": probability_mixture([logits for logits, _ in applied])}
    return result

  variables = {role: tuple(m.variables for m in networks[role]) for role in roles}
  needed = sorted({m for mods in modalities.values() for m in mods})

  def host_outputs(host_batch):
    batch = sharding_lib.global_batch({m: host_batch[m] for m in needed}, mesh)
    inputs = {role: tuple(batch[m] for m in modalities[role]) for role in roles}
    with jax.set_mesh(mesh), sharding_lib.logical_rules():
      result = outputs(variables, inputs)
    return jax.tree_util.tree_map(
        lambda x: multihost_utils.global_array_to_host_local_array(
            x, mesh, jax.sharding.PartitionSpec("data")), result)

  return host_outputs


def run_pass(evaluators: Mapping, outputs_fn, batches: Iterable,
             stop: Optional[Callable[[], bool]] = None) -> Optional[dict]:
  """Feeds every batch's outputs to every evaluator; their metrics, merged. When
  `stop()` turns true (a termination signal during a periodic evaluation) the pass is
  abandoned between batches and None returned: partial metrics are never reported."""
  for batch in batches:
    if stop is not None and stop():
      return None
    outputs = outputs_fn(batch)
    for evaluator in evaluators.values():
      evaluator.update(outputs, batch)
  metrics = {}
  for evaluator in evaluators.values():
    metrics.update(evaluator.result())
  return metrics


def write_per_class(workdir: str, name: str, per_class: Mapping[str, float]) -> str:
  """Writes ``workdir/eval/{name}_per_class_accuracy.json`` (host 0, atomically)."""
  path = str(paths.resolve(workdir) / "eval" / f"{name}_per_class_accuracy.json")
  if jax.process_index() == 0:
    atomic_file.write_json(path, dict(per_class))
  return path


# ---------------------------------------------------------------------------------------
# Orchestration: which models, which data, where the results go.


def load_member(export_dir: str, model_config, num_classes: int,
                compute_dtype: str) -> EnsembleMember:
  """The exported network of `export_dir` as an ensemble member (or a lone model)."""
  params, stats = load_model_variables(export_dir)
  return EnsembleMember(build_from_config(model_config, num_classes, compute_dtype),
                        {"params": params, "batch_stats": stats}, model_config.modality)


def _endpoint_names(member: EnsembleMember, input_config) -> tuple[str, ...]:
  clip = jnp.zeros((1, input_config.num_frames, input_config.crop_size,
                    input_config.crop_size, INPUT_CHANNELS[member.modality]))
  _, endpoints = jax.eval_shape(
      lambda: member.model.apply(member.variables, clip, train=False))
  return tuple(endpoints)


def evaluate_networks(config, student: Sequence[EnsembleMember], teacher, mesh,
                      evals=None, info=None, step: int = 0, workdir: str = "",
                      writer=None, max_batches: Optional[int] = None, extra_modules=None,
                      stop: Optional[Callable[[], bool]] = None):
  """Runs `evals` (default ``config.evals``) on the eval split: (metrics, evaluators),
  metrics None when `stop` abandoned the pass (`run_pass`).

  `teacher` is an `EnsembleMember`, None, or a function that loads one, called only
  when an evaluator compares with the teacher. `max_batches` stops the pass early
  (pictures of the first views; metrics then cover only those). `extra_modules`: the
  objective's training-only modules, name -> (module, params) (`EvalContext`).
  """
  info = info or dataset_info(config.input)
  evals = config.evals if evals is None else evals
  context = EvalContext(
      input_config=config.input, num_videos=info.num_examples[config.input.eval_split],
      num_classes=info.num_classes, class_names=tuple(info.class_names),
      student_endpoints=_endpoint_names(student[0], config.input) if len(student) == 1
      else (), student_modality=student[0].modality, step=step, workdir=workdir,
      writer=writer, extra_modules=extra_modules)
  evaluators = build_evaluators(evals, context)
  networks = {"student": tuple(student)}
  endpoints = {"student": sorted({n for e in evaluators.values() for n in e.endpoints()})}
  if any(e.needs_teacher for e in evaluators.values()):
    needing = sorted(n for n, e in evaluators.items() if e.needs_teacher)
    teacher = teacher() if callable(teacher) else teacher
    if teacher is None:
      raise ValueError(f"config.evals {needing} compare with the teacher, but no teacher "
                       f"is loaded: set teacher.checkpoint")
    networks["teacher"] = (teacher,)
    endpoints["teacher"] = sorted({n for e in evaluators.values() if e.needs_teacher
                                   for n in e.teacher_endpoints()})
  input_config = ml_collections.ConfigDict(config.input.to_dict())
  input_config.modalities = tuple(sorted(
      {m.modality for ms in networks.values() for m in ms}
      | {s for e in evaluators.values() for s in getattr(e, "input_streams", tuple)()}))
  dataset = input_pipeline.make_eval_dataset(input_config)
  batches = dataset.as_numpy_iterator()
  if max_batches is not None:
    batches = itertools.islice(batches, max_batches)
  metrics = run_pass(evaluators, make_outputs_fn(networks, endpoints, mesh), batches, stop)
  return metrics, evaluators


def evaluate_members(members, config, mesh, info=None):
  """Multi-view (metrics, per-class accuracy) of a model or an ensemble of models."""
  metrics, evaluators = evaluate_networks(
      config, members, None, mesh, info=info,
      evals=ml_collections.ConfigDict({"multiview": evaluator_config("multiview")}))
  return metrics, evaluators["multiview"].per_class


METRICS_FILE = "metrics.json"


def write_metrics(workdir: str, step: int, metrics: Mapping[str, float]) -> str:
  """Writes ``workdir/eval/metrics.json`` = {'step': step, 'metrics': metrics} (host 0,
  atomically): the newest evaluation's metrics, which `d3d_jax.tables` reads."""
  path = str(paths.resolve(workdir) / "eval" / METRICS_FILE)
  if jax.process_index() == 0:
    # default=float: evaluators may report NumPy scalars.
    record = json.loads(json.dumps({"step": int(step), "metrics": dict(metrics)},
                                   default=float))
    atomic_file.write_json(path, record)
  return path


def _write_results(workdir, metrics, evaluators, writer, step) -> None:
  for name, evaluator in evaluators.items():
    if isinstance(evaluator, MultiView):
      write_per_class(workdir, "model" if name == "multiview" else name,
                      evaluator.per_class)
  write_metrics(workdir, step, metrics)
  writer.write_scalars(step, {f"eval/{k}": v for k, v in metrics.items()})


def _teacher_member(config, num_classes):
  if not config.teacher.checkpoint:
    return None
  from d3d_jax.teacher import load_teacher  # pylint: disable=g-import-not-at-top
  model, variables = load_teacher(config, num_classes)
  return EnsembleMember(model, variables, config.teacher.model.modality)


def draw_attention(config, workdir: str, section, max_batches: int) -> list[str]:
  """Draws the attention maps of `workdir`'s export on the first `max_batches` eval
  batches with the ``attention_maps`` evaluator `section`; returns the PNG paths."""
  info = dataset_info(config.input)
  member = load_member(fresh_export_dir(workdir), config.model, info.num_classes,
                       config.compute_dtype)
  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=False)
  _, evaluators = evaluate_networks(
      config, [member], lambda: _teacher_member(config, info.num_classes),
      sharding_lib.make_mesh(config.mesh),
      evals=ml_collections.ConfigDict({"attention_maps": section}), info=info,
      step=config.total_steps, workdir=workdir, writer=writer, max_batches=max_batches)
  writer.flush()
  return evaluators["attention_maps"].written


def exported_extra_modules(config, export_dir: str) -> dict:
  """The training-only modules the objective exports (flow decoders of a probe), loaded
  from `export_dir`: name -> (module, params), for evaluators that read them."""
  from d3d_jax.export import load_extra_modules  # pylint: disable=g-import-not-at-top
  from d3d_jax.objectives import build_objective  # pylint: disable=g-import-not-at-top
  objective = build_objective(config.objective)
  names = tuple(objective.exported_extra_modules)
  if not names:
    return {}
  modules = objective.extra_modules()
  return {name: (modules[name], params)
          for name, params in load_extra_modules(export_dir, names).items()}


def evaluate_workdir(config, workdir: str, export_dir: Optional[str] = None) -> dict:
  """Runs ``config.evals`` on the exported model of `workdir` (and its teacher, when
  an evaluator compares with it). The export must be of the workdir's newest
  checkpoint (`checkpointing.fresh_export_dir`): a stale export is an error."""
  export_dir = export_dir or fresh_export_dir(workdir)
  info = dataset_info(config.input)
  mesh = sharding_lib.make_mesh(config.mesh)
  member = load_member(export_dir, config.model, info.num_classes, config.compute_dtype)
  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=False)
  metrics, evaluators = evaluate_networks(
      config, [member], lambda: _teacher_member(config, info.num_classes), mesh, info=info,
      step=config.total_steps, workdir=workdir, writer=writer,
      extra_modules=exported_extra_modules(config, export_dir))
  _write_results(workdir, metrics, evaluators, writer, config.total_steps)
  writer.flush()
  return metrics


def evaluate_train_state(exp, state, writer, step: int,
                         stop: Optional[Callable[[], bool]] = None) -> Optional[dict]:
  """Runs ``config.evals`` on the student of a live train state (`trainer.Experiment`,
  `TrainState`), with the experiment's teacher. `stop` (the trainer's preemption flag)
  abandons the pass: nothing is written and None returned."""
  member = EnsembleMember(
      exp.student, {"params": state.params["student"],
                    "batch_stats": state.batch_stats["student"]}, exp.config.model.modality)
  teacher = (EnsembleMember(exp.teacher, exp.teacher_variables,
                            exp.config.teacher.model.modality)
             if exp.teacher is not None else None)
  extras = {name: (module, state.params["extra"][name])
            for name, module in exp.objective.extra_modules().items()}
  metrics, evaluators = evaluate_networks(exp.config, [member], teacher, exp.mesh,
                                          step=step, workdir=exp.workdir, writer=writer,
                                          extra_modules=extras, stop=stop)
  if metrics is None:
    logging.warning("The evaluation at step %d was stopped by a termination signal; "
                    "nothing of it is reported.", step)
    return None
  _write_results(exp.workdir, metrics, evaluators, writer, step)
  return metrics
