"""Metric names say the eval protocol: @CxS clips x crops, @fullxS whole videos."""

from d3d_jax.evaluators import views_suffix
from data_pipelines import input_config


def test_metric_suffix_names_clips_by_crops_or_the_whole_video():
  c = input_config.get_input_config()
  assert views_suffix(c) == '@1x1'
  c.num_test_clips, c.num_test_crops = 10, 3
  assert views_suffix(c) == '@10x3'
  c.num_test_clips, c.num_test_crops, c.eval_num_frames = 1, 1, 0
  assert views_suffix(c) == '@fullx1'
  c.num_test_crops = 3
  assert views_suffix(c) == '@fullx3'
