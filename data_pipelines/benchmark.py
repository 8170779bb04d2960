r"""Input pipeline throughput: clips/s for the training and evaluation settings.

  python -m data_pipelines.benchmark --data_dir=/data/ucf101_tfr \
      --num_frames=16 --crop_size=112 --min_resize=128 --batch_size=8

Without --data_dir it first writes a synthetic dataset (TFRecords with
TV-L1 flow, stored at --synthetic_height x --synthetic_width) into a
temporary folder, so the numbers can be reproduced anywhere. Printed:
clips/s and frames/s for training batches (random crop + flip, all
modalities) and views/s for evaluation batches (num_test_clips x
num_test_crops views per video), measured after a warm-up.
"""

from __future__ import annotations

if __name__ == '__main__':
  # Before TensorFlow is imported below: drop its C++ start-up noise from stderr.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()

import os
import shutil
import sys
import tempfile
import time
from typing import Sequence

from absl import app
from absl import flags

from data_pipelines import input_config
from data_pipelines import input_pipeline
from data_pipelines import synthetic

_DATA_DIR = flags.DEFINE_string(
    'data_dir', '', 'TFRecord folder (split shards + label_map.txt); empty = '
    'generate synthetic data.')
_TRAIN_SPLIT = flags.DEFINE_string('train_split', 'train', 'Training split.')
_EVAL_SPLIT = flags.DEFINE_string('eval_split', 'test', 'Evaluation split.')
_MODALITIES = flags.DEFINE_list('modalities', ['rgb', 'flow'], 'Streams.')
_NUM_FRAMES = flags.DEFINE_integer('num_frames', 16, 'Frames per clip.')
_STRIDE = flags.DEFINE_integer('stride', 1, 'Frame stride.')
_MIN_RESIZE = flags.DEFINE_integer('min_resize', 128, 'Short side resize.')
_CROP_SIZE = flags.DEFINE_integer('crop_size', 112, 'Crop size.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Training clips/batch.')
_EVAL_BATCH_SIZE = flags.DEFINE_integer('eval_batch_size', 8,
                                        'Evaluation views/batch.')
_NUM_TEST_CLIPS = flags.DEFINE_integer('num_test_clips', 2, 'Eval clips.')
_NUM_TEST_CROPS = flags.DEFINE_integer('num_test_crops', 3, 'Eval crops.')
_NUM_BATCHES = flags.DEFINE_integer('num_batches', 40, 'Timed batches.')
_WARMUP = flags.DEFINE_integer('warmup', 5, 'Untimed batches first.')
_SYN_VIDEOS = flags.DEFINE_integer('synthetic_videos_per_class', 2,
                                   'Synthetic videos per class and split.')
_SYN_CLASSES = flags.DEFINE_integer('synthetic_classes', 2,
                                    'Synthetic classes.')
_SYN_FRAMES = flags.DEFINE_integer('synthetic_frames', 24,
                                   'Synthetic frames per video.')
_SYN_HEIGHT = flags.DEFINE_integer('synthetic_height', 128,
                                   'Synthetic frame height.')
_SYN_WIDTH = flags.DEFINE_integer('synthetic_width', 170,
                                  'Synthetic frame width.')
_WORKERS = flags.DEFINE_integer('workers', os.cpu_count() or 1,
                                'Generator worker processes.')


def time_batches(dataset, num_batches: int, warmup: int,
                 rows_key: str = 'label') -> tuple[float, int]:
  """(seconds, rows) for `num_batches` batches after `warmup` batches.

  Stops early (and times what it got) when a finite dataset runs out.
  """
  iterator = iter(dataset)
  for _ in range(warmup):
    if next(iterator, None) is None:
      return 0.0, 0
  rows = 0
  start = time.perf_counter()
  for _ in range(num_batches):
    batch = next(iterator, None)
    if batch is None:
      break
    rows += int(batch[rows_key].shape[0])
  return time.perf_counter() - start, rows


def run(config, num_batches: int, warmup: int) -> dict[str, float]:
  """Clips/s for training and views/s for evaluation of `config`."""
  results = {}
  train = input_pipeline.make_train_dataset(config, process_index=0,
                                            process_count=1)
  seconds, clips = time_batches(train, num_batches, warmup)
  results['train_clips_per_s'] = clips / seconds
  results['train_frames_per_s'] = clips * config.num_frames / seconds
  evaluation = input_pipeline.make_eval_dataset(
      config.copy_and_resolve_references(), process_index=0, process_count=1)
  # Eval is finite: loop it if it is shorter than warmup + num_batches.
  seconds, views = time_batches(evaluation.repeat(), num_batches, warmup)
  results['eval_views_per_s'] = views / seconds
  return results


def main(argv: Sequence[str]) -> None:
  del argv
  tmp = None
  data_dir = _DATA_DIR.value
  if not data_dir:
    tmp = tempfile.mkdtemp(prefix='d3d_benchmark_')
    data_dir = tmp
    print(f'Generating synthetic data in {tmp} ...', file=sys.stderr)
    result = synthetic.generate_dataset(
        tmp, num_classes=_SYN_CLASSES.value,
        videos_per_class=_SYN_VIDEOS.value, num_frames=_SYN_FRAMES.value,
        height=_SYN_HEIGHT.value, width=_SYN_WIDTH.value,
        workers=_WORKERS.value, num_shards=2)
    print(f'  {result["seconds"]:.1f} s', file=sys.stderr)
  try:
    c = input_config.get_input_config()
    c.data_dir = data_dir
    c.train_split = _TRAIN_SPLIT.value
    c.eval_split = _EVAL_SPLIT.value
    c.modalities = tuple(_MODALITIES.value)
    c.num_frames = _NUM_FRAMES.value
    c.stride = _STRIDE.value
    c.min_resize = _MIN_RESIZE.value
    c.crop_size = _CROP_SIZE.value
    c.batch_size = _BATCH_SIZE.value
    c.eval_batch_size = _EVAL_BATCH_SIZE.value
    c.num_test_clips = _NUM_TEST_CLIPS.value
    c.num_test_crops = _NUM_TEST_CROPS.value
    results = run(c, _NUM_BATCHES.value, _WARMUP.value)
    shape = (f'{_NUM_FRAMES.value}x{_CROP_SIZE.value}x{_CROP_SIZE.value} '
             f'{"+".join(c.modalities)}')
    print(f'train {shape}: {results["train_clips_per_s"]:.1f} clips/s '
          f'({results["train_frames_per_s"]:.0f} frames/s), batch '
          f'{_BATCH_SIZE.value}')
    print(f'eval  {shape}: {results["eval_views_per_s"]:.1f} views/s '
          f'({_NUM_TEST_CLIPS.value}x{_NUM_TEST_CROPS.value} views per '
          f'video), batch {_EVAL_BATCH_SIZE.value}')
    print(f'({os.cpu_count()} CPUs visible)')
  finally:
    if tmp:
      shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
