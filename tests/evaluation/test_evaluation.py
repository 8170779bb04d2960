"""Multi-view evaluation: softmax averaged per video, padding ignored, metric names."""

import numpy as np
import pytest

from d3d_jax.evaluators import VideoScores


def test_views_are_averaged_per_video_and_padding_rows_are_ignored():
  scores = VideoScores(num_videos=3, num_classes=3)
  # video 0: two views that disagree; their average favours class 1.
  scores.add(np.array([[0.6, 0.4, 0.0], [0.0, 0.9, 0.1]]), video_index=[0, 0], label=[1, 1],
             mask=[True, True])
  # video 1 (label 2) and a padding row that would otherwise flip video 1.
  scores.add(np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]]), video_index=[1, 1], label=[2, 0],
             mask=[True, False])
  # video 2 (label 0) predicted class 2, with class 0 second.
  scores.add(np.array([[0.3, 0.1, 0.6]]), video_index=[2], label=[0], mask=[True])
  metrics, per_class = scores.metrics("@2x1", class_names=("a", "b", "c"))
  assert metrics["top1@2x1"] == pytest.approx(2 / 3)
  assert metrics["top5@2x1"] == pytest.approx(1.0)
  assert per_class == {"a": 0.0, "b": 1.0, "c": 1.0}
  assert metrics["mean_class_accuracy@2x1"] == pytest.approx(2 / 3)
  assert (metrics["num_videos"], metrics["num_views"]) == (3, 4)


def test_a_video_index_outside_the_split_is_an_error():
  scores = VideoScores(num_videos=2, num_classes=2)
  with pytest.raises(ValueError, match="video_index"):
    scores.add(np.ones((1, 2)) / 2, video_index=[5], label=[0], mask=[True])
