"""Evaluation protocols: clips of input.eval_num_frames frames, or each whole video
(eval_num_frames=0) as one view, counted once per video by the multi-view scores."""

import numpy as np
import pytest

from d3d_jax.evaluators import VideoScores, views_suffix
from data_pipelines import input_config
from data_pipelines import input_pipeline

NUM_TEST_VIDEOS = 8  # the synthetic_dir fixture: 4 classes x 2 test videos of 8 frames
NUM_CLASSES = 4


def _config(data_dir, **overrides):
  c = input_config.get_input_config()
  c.data_dir = str(data_dir)
  c.update(dict(num_frames=4, stride=1, min_resize=0, crop_size=16,
                eval_batch_size=4, deterministic=True, prefetch=1,
                modalities=('rgb',)))
  c.update(overrides)
  return c


def _rows(config):
  """Every unmasked row of the eval split, as {key: [rows, ...]} in video order."""
  batches = list(input_pipeline.make_eval_dataset(
      config, process_index=0, process_count=1).as_numpy_iterator())
  rows = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
  keep = rows['mask']
  order = np.lexsort((rows['view_index'][keep], rows['video_index'][keep]))
  return {k: v[keep][order] for k, v in rows.items()}


def _scores(rows):
  """Counts what the evaluator counts (uniform softmax: only the bookkeeping)."""
  scores = VideoScores(NUM_TEST_VIDEOS, NUM_CLASSES)
  scores.add(np.full((len(rows['label']), NUM_CLASSES), 1 / NUM_CLASSES),
             rows['video_index'], rows['label'], rows['mask'])
  return scores


def test_whole_video_eval_counts_each_video_once_as_one_looped_view(synthetic_dir):
  # 8-frame videos, eval_max_frames 12: every row is the whole video, looped to 12.
  config = _config(synthetic_dir, eval_num_frames=0, eval_max_frames=12)
  whole = _rows(config)
  assert whole['rgb'].shape == (NUM_TEST_VIDEOS, 12, 16, 16, 3)
  np.testing.assert_array_equal(whole['video_index'], np.arange(NUM_TEST_VIDEOS))
  np.testing.assert_array_equal(whole['view_index'], 0)
  np.testing.assert_array_equal(whole['rgb'][:, 8:], whole['rgb'][:, :4])
  # The first 8 frames are the 8 frames of a plain 8-frame clip of the video.
  clips = _rows(_config(synthetic_dir, eval_num_frames=8))
  np.testing.assert_array_equal(whole['rgb'][:, :8], clips['rgb'])

  metrics, _ = _scores(whole).metrics(views_suffix(config))
  assert (metrics['num_videos'], metrics['num_views']) == (NUM_TEST_VIDEOS,
                                                           NUM_TEST_VIDEOS)
  assert {'top1@fullx1', 'top5@fullx1', 'mean_class_accuracy@fullx1'} <= set(metrics)


def test_a_video_longer_than_eval_max_frames_is_cut_to_its_centre(synthetic_dir):
  centre = _rows(_config(synthetic_dir, eval_num_frames=0, eval_max_frames=4))
  whole = _rows(_config(synthetic_dir, eval_num_frames=0, eval_max_frames=8))
  assert centre['rgb'].shape == (NUM_TEST_VIDEOS, 4, 16, 16, 3)
  # 8 frames, 4 kept: start (8 - 4) // 2 = 2.
  np.testing.assert_array_equal(centre['rgb'], whole['rgb'][:, 2:6])


def test_multi_clip_eval_still_counts_clips_x_crops_views_per_video(synthetic_dir):
  config = _config(synthetic_dir, min_resize=16, num_frames=4, eval_num_frames=3,
                   num_test_clips=2, num_test_crops=3)
  rows = _rows(config)
  assert rows['rgb'].shape == (NUM_TEST_VIDEOS * 6, 3, 16, 16, 3)
  np.testing.assert_array_equal(np.bincount(rows['video_index']), [6] * NUM_TEST_VIDEOS)
  metrics, _ = _scores(rows).metrics(views_suffix(config))
  assert (metrics['num_videos'], metrics['num_views']) == (NUM_TEST_VIDEOS,
                                                           NUM_TEST_VIDEOS * 6)
  assert 'top1@2x3' in metrics


def test_eval_frames_default_to_the_training_clip_length():
  c = input_config.get_input_config()
  assert c.eval_num_frames is None and input_config.eval_frames(c) == c.num_frames == 64
  c.eval_num_frames = 0
  assert input_config.eval_frames(c) == c.eval_max_frames == 250
  assert input_config.whole_video_eval(c)


@pytest.mark.parametrize('overrides, field', [
    (dict(eval_num_frames=0, num_test_clips=2), 'input.num_test_clips'),
    (dict(eval_num_frames=-1), 'input.eval_num_frames'),
    (dict(eval_max_frames=0), 'input.eval_max_frames'),
])
def test_bad_eval_protocol_settings_name_the_key(tmp_path, overrides, field):
  with pytest.raises(ValueError, match=field):
    input_config.validate(_config(tmp_path, **overrides))
