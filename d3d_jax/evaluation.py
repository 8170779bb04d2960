"""Multi-view video evaluation: softmax averaged over each video's views.

The eval dataset (`data_pipelines.input_pipeline.make_eval_dataset`) yields one row
per view (``num_test_clips`` temporal clips x ``num_test_crops`` spatial crops), with
``video_index``, ``label`` and a ``mask`` that is False on padding rows. Each host adds
its rows' softmax to a [num_videos, classes] table; the tables are summed across hosts,
so every video counts exactly once however the views were split. Reported metrics:
``top1@CxS``, ``top5@CxS`` and ``mean_class_accuracy@CxS`` (C clips x S crops; C is
``full`` for the whole-video protocol, ``input.eval_num_frames=0``), and
per-class accuracy for a JSON file. An ensemble (D3D + S3D-G, RGB + flow late fusion)
averages the members' softmax before the same bookkeeping.

Orchestration, bottom of the file: `evaluate_members` runs the eval split through one
model or an ensemble; `evaluate_workdir` evaluates a finished run's export;
`evaluate_train_state` evaluates the student of a live train state during training.
"""

import dataclasses
from typing import Callable, Iterable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
import ml_collections
from clu import metric_writers

from d3d_jax import sharding as sharding_lib
from d3d_jax.checkpointing import EXPORT_DIR
from d3d_jax.export import load_model_variables
from d3d_jax.models import build_from_config
from data_pipelines import atomic_file, input_pipeline, paths
from data_pipelines.dataset_info import dataset_info


def views_suffix(input_config) -> str:
  """The eval protocol in metric names: ``@CxS`` (C clips of ``input.eval_num_frames``
  frames x S crops) or ``@fullxS`` (each whole video, ``input.eval_num_frames=0``)."""
  clips = "full" if input_config.eval_num_frames == 0 else input_config.num_test_clips
  return f"@{clips}x{input_config.num_test_crops}"


class VideoScores:
  """Sums of per-view softmax and view counts per video."""

  def __init__(self, num_videos: int, num_classes: int):
    self.prob_sum = np.zeros((num_videos, num_classes), np.float64)
    self.view_count = np.zeros((num_videos,), np.int64)
    self.labels = np.full((num_videos,), -1, np.int64)

  def add(self, probs, video_index, label, mask) -> None:
    keep = np.asarray(mask).astype(bool)
    index = np.asarray(video_index)[keep]
    if index.size and (index.min() < 0 or index.max() >= len(self.view_count)):
      raise ValueError(f"eval video_index {index.min()}..{index.max()} outside the split's "
                       f"{len(self.view_count)} videos")
    np.add.at(self.prob_sum, index, np.asarray(probs, np.float64)[keep])
    np.add.at(self.view_count, index, 1)
    self.labels[index] = np.asarray(label)[keep]

  def merged_across_hosts(self) -> "VideoScores":
    if jax.process_count() == 1:
      return self
    merged = VideoScores(*self.prob_sum.shape)
    merged.prob_sum = np.asarray(multihost_utils.process_allgather(self.prob_sum)).sum(0)
    merged.view_count = np.asarray(multihost_utils.process_allgather(self.view_count)).sum(0)
    merged.labels = np.asarray(multihost_utils.process_allgather(self.labels)).max(0)
    return merged

  def metrics(self, suffix: str, class_names: Sequence[str] = ()) -> tuple[dict, dict]:
    """(scalar metrics, per-class accuracy) over the videos that have views."""
    seen = self.view_count > 0
    probs = self.prob_sum[seen] / self.view_count[seen, None]
    labels = self.labels[seen]
    top5 = np.argsort(-probs, axis=1)[:, :5]
    correct1 = top5[:, 0] == labels
    correct5 = (top5 == labels[:, None]).any(axis=1)
    per_class = {}
    for c in range(self.prob_sum.shape[1]):
      in_class = labels == c
      if in_class.any():
        name = class_names[c] if c < len(class_names) else str(c)
        per_class[name] = float(correct1[in_class].mean())
    metrics = {
        f"top1{suffix}": float(correct1.mean()) if len(labels) else 0.0,
        f"top5{suffix}": float(correct5.mean()) if len(labels) else 0.0,
        f"mean_class_accuracy{suffix}": float(np.mean(list(per_class.values())))
        if per_class else 0.0,
        "num_videos": int(seen.sum()),
        "num_views": int(self.view_count.sum()),
    }
    return metrics, per_class


@dataclasses.dataclass(frozen=True)
class EnsembleMember:
  """A network in eval mode: its module, variables and the input stream it reads."""

  model: object
  variables: Mapping
  modality: str


def make_predict_fn(members: Sequence[EnsembleMember], mesh) -> Callable:
  """A jitted function batch -> softmax averaged over `members` (one member = a model)."""
  modalities = tuple(m.modality for m in members)
  models = tuple(m.model for m in members)

  @jax.jit
  def predict(variables, inputs):
    probs = [jax.nn.softmax(model.apply(v, x, train=False)[0], axis=-1)
             for model, v, x in zip(models, variables, inputs)]
    return jnp.mean(jnp.stack(probs), axis=0)

  variables = tuple(m.variables for m in members)

  def predict_host_rows(host_batch):
    batch = sharding_lib.global_batch({m: host_batch[m] for m in set(modalities)}, mesh)
    with mesh, sharding_lib.logical_rules():
      probs = predict(variables, tuple(batch[m] for m in modalities))
    return multihost_utils.global_array_to_host_local_array(
        probs, mesh, jax.sharding.PartitionSpec("data"))

  return predict_host_rows


def evaluate(predict: Callable, batches: Iterable[Mapping[str, np.ndarray]], *,
             num_videos: int, num_classes: int, suffix: str,
             class_names: Sequence[str] = ()) -> tuple[dict, dict]:
  """Runs `predict` over the eval batches and returns (metrics, per-class accuracy)."""
  scores = VideoScores(num_videos, num_classes)
  for batch in batches:
    probs = np.asarray(predict(batch))
    scores.add(probs, batch["video_index"], batch["label"], batch["mask"])
  return scores.merged_across_hosts().metrics(suffix, class_names)


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


def evaluate_members(members, config, mesh, info=None):
  """Multi-view metrics of a model or an ensemble of models on `input.eval_split`."""
  info = info or dataset_info(config.input)
  modalities = tuple(sorted({m.modality for m in members}))
  input_config = ml_collections.ConfigDict(config.input.to_dict())
  input_config.modalities = modalities
  predict = make_predict_fn(members, mesh)
  dataset = input_pipeline.make_eval_dataset(input_config)
  return evaluate(
      predict, dataset.as_numpy_iterator(),
      num_videos=info.num_examples[config.input.eval_split], num_classes=info.num_classes,
      suffix=views_suffix(config.input), class_names=info.class_names)


def evaluate_workdir(config, workdir: str, export_dir: Optional[str] = None) -> dict:
  """Evaluates the exported model of `workdir` with the multi-view protocol."""
  info = dataset_info(config.input)
  mesh = sharding_lib.make_mesh(config.mesh)
  member = load_member(export_dir or str(paths.resolve(workdir) / EXPORT_DIR), config.model,
                       info.num_classes, config.compute_dtype)
  metrics, per_class = evaluate_members([member], config, mesh, info)
  write_per_class(workdir, "model", per_class)
  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=False)
  writer.write_scalars(config.total_steps, {f"eval/{k}": v for k, v in metrics.items()})
  writer.flush()
  return metrics


def evaluate_train_state(exp, state, writer, step: int) -> dict:
  """Evaluates the student of a live train state (`trainer.Experiment`, `TrainState`)."""
  member = EnsembleMember(
      exp.student, {"params": state.params["student"],
                    "batch_stats": state.batch_stats["student"]}, exp.config.model.modality)
  metrics, _ = evaluate_members([member], exp.config, exp.mesh)
  writer.write_scalars(step, {f"eval/{k}": v for k, v in metrics.items()})
  return metrics
