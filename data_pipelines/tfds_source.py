"""TFDS video datasets (`video` + `label` features) as a pipeline source.

This adapter lets the same sampling / decoding / augmentation graph read any
TFDS dataset whose examples hold a `tfds.features.Video` and a
`tfds.features.ClassLabel` (e.g. `ucf101`, or `synthetic_motion` from
`tfds_synthetic.py`), for RGB-only training and fine-tuning. Frames stay
encoded (`tfds.decode.SkipDecoding`) until the clip's frames are chosen, so
only sampled frames are decoded, as with TFRecords.

Host sharding is example-level and exact: `tfds.even_splits(split, n=
process_count)[process_index]`; a video's global index is the start of its
host's sub-split plus its position in it.
"""

from __future__ import annotations

import dataclasses
import functools

import tensorflow as tf
import tensorflow_datasets as tfds

from data_pipelines import bad_examples


@dataclasses.dataclass(frozen=True)
class TfdsInfo:
  """Class names and split sizes of a TFDS dataset."""
  name: str
  data_dir: str
  class_names: tuple[str, ...]

  def num_examples(self, split: str) -> int:
    """Examples in `split` (any TFDS split string, e.g. 'train[:10%]')."""
    return _builder(self.name, self.data_dir).info.splits[split].num_examples


@functools.lru_cache(maxsize=8)
def _builder(name: str, data_dir: str):
  # Importing the module registers the synthetic builder's name.
  from data_pipelines import tfds_synthetic  # pylint: disable=g-import-not-at-top,unused-import
  try:
    return tfds.builder(name, data_dir=data_dir or None)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'input.tfds_name: cannot load TFDS builder {name!r} '
                     f'(input.tfds_data_dir={data_dir!r}): {e}') from e


def tfds_info(name: str, data_dir: str, label_key: str) -> TfdsInfo:
  builder = _builder(name, data_dir)
  features = builder.info.features
  if label_key not in features:
    raise ValueError(f'input.tfds_label_key: {name} has no feature '
                     f'{label_key!r}; it has {sorted(features.keys())}')
  return TfdsInfo(name, data_dir, tuple(features[label_key].names))


def read_videos(config, split: str, *, process_index: int, process_count: int,
                training: bool, seed: int
                ) -> tuple[tf.data.Dataset, int, int]:
  """This host's videos as pipeline video dicts, plus (host count, max count).

  The dicts follow `tfrecord_source`: file, record, rgb (encoded frames),
  flow (empty), label, error ('' always: TFDS already validated types), and
  video_index.
  """
  builder = _builder(config.tfds_name, config.tfds_data_dir)
  subsplits = tfds.even_splits(split, n=process_count)
  sizes = [builder.info.splits[s].num_examples for s in subsplits]
  start = sum(sizes[:process_index])
  video_key, label_key = config.tfds_video_key, config.tfds_label_key
  if video_key not in builder.info.features:
    raise ValueError(f'input.tfds_video_key: {config.tfds_name} has no '
                     f'feature {video_key!r}')
  read_config = tfds.ReadConfig(shuffle_seed=seed,
                                interleave_cycle_length=config.cycle_length)
  ds = builder.as_dataset(
      split=subsplits[process_index], shuffle_files=training,
      decoders={video_key: tfds.decode.SkipDecoding()},
      read_config=read_config)
  name = f'tfds:{config.tfds_name}/{subsplits[process_index]}'
  num_classes = config.num_classes or builder.info.features[label_key
                                                           ].num_classes

  @tf.autograph.experimental.do_not_convert
  def to_video(index, example):
    label = tf.cast(example[label_key], tf.int32)
    ok = (label >= 0) & (label < num_classes)
    return {
        'file': tf.constant(name), 'record': index,
        'rgb': example[video_key], 'flow': tf.constant([], tf.string),
        'label': label,
        'error': tf.where(ok, '', bad_examples.describe(
            tf.constant(name), index, label_key, 'label outside '
            'input.num_classes')),
        'video_index': tf.cast(start + index, tf.int32),
    }

  return ds.enumerate().map(to_video), sizes[process_index], max(sizes)
