"""`multiview`: multi-view video accuracy, softmax averaged over each video's views.

The eval dataset (`data_pipelines.input_pipeline.make_eval_dataset`) yields one row
per view (``num_test_clips`` temporal clips x ``num_test_crops`` spatial crops), with
``video_index``, ``label`` and a ``mask`` that is False on padding rows. Each host adds
its rows' softmax to a [num_videos, classes] table; the tables are summed across hosts,
so every video counts exactly once however the views were split. Reported metrics:
``top1@CxS``, ``top5@CxS`` and ``mean_class_accuracy@CxS`` (C clips x S crops; C is
``full`` for the whole-video protocol, ``input.eval_num_frames=0``), and per-class
accuracy, which the orchestration writes to a JSON file. An ensemble (D3D + S3D-G, RGB
+ flow late fusion) arrives as one network whose logits are the log of its members'
mean softmax, so the same bookkeeping applies.
"""

from typing import Sequence

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from d3d_jax.sharding import sum_across_hosts


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
    merged.prob_sum = sum_across_hosts(self.prob_sum)
    merged.view_count = sum_across_hosts(self.view_count)
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


class MultiView:
  """Accumulates the student's softmax per video; metrics at the end."""

  name = "multiview"
  needs_teacher = False

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict()

  def __init__(self, config, context):
    del config
    self.context = context
    self.scores = VideoScores(context.num_videos, context.num_classes)
    self.per_class = {}

  def endpoints(self) -> tuple[str, ...]:
    return ()

  def update(self, outputs, batch) -> None:
    probs = jax.nn.softmax(np.asarray(outputs["student"]["logits"], np.float64), axis=-1)
    self.scores.add(np.asarray(probs), batch["video_index"], batch["label"], batch["mask"])

  def result(self) -> dict:
    metrics, self.per_class = self.scores.merged_across_hosts().metrics(
        views_suffix(self.context.input_config), self.context.class_names)
    return metrics
