"""tf.data input pipelines for training and evaluation (the trainer's API).

  train_ds = make_train_dataset(config.input)        # infinite
  eval_ds = make_eval_dataset(config.input)          # finite, padded
  info = dataset_info(config.input)                  # fail fast

Training batches (host batch B = input.batch_size // process_count):
  rgb    float32 [B, T, S, S, 3]  in [-1, 1]            (if 'rgb' requested)
  flow   float32 [B, T, S, S, 2]  displacement / 20, clipped to [-1, 1],
                                  channel 0 = x (right), 1 = y (down)
  label  int32   [B]
with T = input.num_frames, S = input.crop_size. RGB and flow of a clip share
the temporal window, crop and flip.

Evaluation batches (host rows R = input.eval_batch_size // process_count):
one row per VIEW (input.num_test_clips x input.num_test_crops views per
video, view-major within a video), with rgb / flow / label as above but
T = input.eval_num_frames (None = num_frames; 0 = the whole video, one
clip of input.eval_max_frames frames, see input_config.py), plus
  video_index int32 [R]  index of the video in the split (files in sorted
                         order, records in file order; same on every host)
  view_index  int32 [R]  clip * num_test_crops + crop
  mask        bool  [R]  False for padding rows (and for videos skipped as
                         bad with input.skip_bad_examples)
The dataset is finite and every host yields the same number of batches
(`eval_num_batches`): each host pads its rows up to that count, so a
multi-host eval loop never hangs, and every (video, view) pair appears in
exactly one row with mask=True across all hosts. Padding rows have zero
pixels, label 0, video_index -1 and view_index -1: always multiply by (or
select with) `mask` before accumulating, e.g. per-video logits via a
segment-sum over video_index of mask-weighted rows.

Stages (DMVR's order): list shards -> per-host shard -> interleave files
(with integrity check) -> [cache] -> repeat + shuffle (train) -> parse and
check -> sample frame indices -> decode only those frames -> shared
resize/crop/flip of RGB and flow -> colour jitter (RGB) -> batch ->
prefetch. Randomness is stateless, seeded from input.seed, the host index
and the element's position, so input.deterministic=True reproduces batches.
"""

from __future__ import annotations

import dataclasses
import math

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from data_pipelines import bad_examples
from data_pipelines import clip_preprocessing
from data_pipelines import dataset_info as dataset_info_lib
from data_pipelines import input_config as input_config_lib
from data_pipelines import tf_setup
from data_pipelines import tfds_source
from data_pipelines import tfrecord_source

tf_setup.hide_accelerators()

DatasetInfo = dataset_info_lib.DatasetInfo
dataset_info = dataset_info_lib.dataset_info

_AUTOTUNE = tf.data.AUTOTUNE


def _processes(process_index: int | None,
               process_count: int | None) -> tuple[int, int]:
  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_index = jax.process_index() if process_index is None else (
        process_index)
    process_count = jax.process_count() if process_count is None else (
        process_count)
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} is not in [0, '
                     f'{process_count})')
  return process_index, process_count


def _host_batch(global_batch: int, process_count: int, field: str) -> int:
  if global_batch % process_count:
    raise ValueError(f'input.{field} ({global_batch}) must be divisible by '
                     f'the number of processes ({process_count})')
  return global_batch // process_count


def _options(config: ml_collections.ConfigDict) -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = bool(config.deterministic)
  options.experimental_optimization.map_parallelization = True
  options.experimental_optimization.parallel_batch = True
  return options


def _parallel(config: ml_collections.ConfigDict) -> int:
  return _AUTOTUNE if config.num_parallel_calls == -1 else int(
      config.num_parallel_calls)


def _prefetch(config: ml_collections.ConfigDict) -> int:
  return _AUTOTUNE if config.prefetch == -1 else int(config.prefetch)


def _clip_options(config) -> clip_preprocessing.ClipOptions:
  opts = clip_preprocessing.ClipOptions.from_config(config)
  if config.source == 'tfds':
    # TFDS videos may store PNG frames; decode_jpeg reads both.
    opts = dataclasses.replace(opts, check_jpeg_markers=False)
  return opts


def _num_classes(config, info: DatasetInfo) -> int:
  return config.num_classes or info.num_classes


def _split_files(config, info: DatasetInfo, split: str) -> list[str]:
  if split in info.files:
    return list(info.files[split])
  return tfrecord_source.split_files(config.file_pattern, config.data_dir,
                                     split)


def _seed(config, process_index: int, stream: int) -> int:
  """A distinct int seed per (input.seed, host, purpose)."""
  return int(np.random.SeedSequence(
      [int(config.seed), process_index, stream]).generate_state(1)[0])


# ---------------------------------------------------------------------------
# Training.


def _train_records(config, files: list[str], shard, policy, process_index
                   ) -> tf.data.Dataset:
  """Infinite, shuffled (file, record, serialized) for this host."""
  sizes = tfrecord_source.file_sizes(files)
  cycle = max(1, min(config.cycle_length, len(shard.file_indices)))
  if shard.example_level:
    # Every host must see the records in the same order before sharding.
    records = tfrecord_source.read_records(
        files, sizes, policy, cycle_length=cycle, parallel=True,
        deterministic=True).shard(shard.process_count, shard.process_index)
    if config.cache:
      records = records.cache()
    records = records.repeat()
  else:
    host_files = [files[i] for i in shard.file_indices]
    host_sizes = [sizes[i] for i in shard.file_indices]
    file_ds = tf.data.Dataset.from_tensor_slices(
        (host_files, np.asarray(host_sizes, np.int64)))
    if config.cache:
      records = tfrecord_source.read_records(
          host_files, host_sizes, policy, cycle_length=cycle, parallel=True,
          deterministic=config.deterministic, files_dataset=file_ds
      ).cache().repeat()
    else:
      file_ds = file_ds.shuffle(len(host_files),
                                seed=_seed(config, process_index, 1),
                                reshuffle_each_iteration=True).repeat()
      records = tfrecord_source.read_records(
          host_files, host_sizes, policy, cycle_length=cycle, parallel=True,
          deterministic=config.deterministic, files_dataset=file_ds)
  return records.shuffle(config.shuffle_buffer,
                         seed=_seed(config, process_index, 2),
                         reshuffle_each_iteration=True)


def _train_videos(config, info: DatasetInfo, process_index: int,
                  process_count: int, policy) -> tf.data.Dataset:
  split = config.train_split
  num_classes = _num_classes(config, info)
  if config.source == 'tfds':
    videos, _, _ = tfds_source.read_videos(
        config, split, process_index=process_index,
        process_count=process_count, training=True,
        seed=_seed(config, process_index, 1))
    if config.cache:
      videos = videos.cache()
    return videos.repeat().shuffle(config.shuffle_buffer,
                                   seed=_seed(config, process_index, 2),
                                   reshuffle_each_iteration=True)
  files = _split_files(config, info, split)
  shard = tfrecord_source.host_shard(len(files), process_index, process_count)
  logging.info('train: host %d/%d reads %s of %d files of %r', process_index,
               process_count, 'all (example-level sharding)'
               if shard.example_level else len(shard.file_indices),
               len(files), split)
  records = _train_records(config, files, shard, policy, process_index)
  modalities = tuple(config.modalities)

  @tf.autograph.experimental.do_not_convert
  def parse(file, record, serialized):
    return tfrecord_source.parse_video(file, record, serialized,
                                       modalities=modalities,
                                       num_classes=num_classes,
                                       class_names=info.class_names)

  return records.map(parse, num_parallel_calls=_parallel(config),
                     deterministic=config.deterministic)


def make_train_dataset(input_config: ml_collections.ConfigDict, *,
                       process_index: int | None = None,
                       process_count: int | None = None,
                       skip_batches: int = 0) -> tf.data.Dataset:
  """Infinite training batches for this host (see the module docstring).

  Args:
    input_config: the `config.input` section (input_config.py).
    process_index: this host (default jax.process_index()).
    process_count: number of hosts (default jax.process_count()).
    skip_batches: batches already consumed (an exact resume). The batches that
      follow are those an uninterrupted dataset yields after as many. Each clip's
      augmentation seed is its position in the video stream, so the skip is
      done on the parsed records before any frame is decoded: resuming at step
      100k costs a pass over 100k x batch records, not their JPEG decoding. With
      `skip_bad_examples` a record may yield no clip, so the skip then counts
      decoded batches (the slow, still exact, way).
  """
  config = input_config
  input_config_lib.validate(config)
  process_index, process_count = _processes(process_index, process_count)
  host_batch = _host_batch(config.batch_size, process_count, 'batch_size')
  info = dataset_info(config)
  opts = _clip_options(config)
  policy = bad_examples.BadExamplePolicy(config.skip_bad_examples, 'train')
  videos = _train_videos(config, info, process_index, process_count, policy)
  base_seed = tf.constant(_seed(config, process_index, 3) % (2**62),
                          tf.int64)

  @tf.autograph.experimental.do_not_convert
  def to_clip(position, video):
    seed = tf.stack([base_seed, position])
    return clip_preprocessing.train_clip(video, seed, opts, policy)

  positioned = videos.enumerate()
  if skip_batches and not config.skip_bad_examples:
    positioned = positioned.skip(skip_batches * host_batch)
  clips = positioned.map(to_clip, num_parallel_calls=_parallel(config),
                         deterministic=config.deterministic)
  if config.skip_bad_examples:

    @tf.autograph.experimental.do_not_convert
    def is_ok(clip):
      return clip['ok']

    clips = clips.filter(is_ok)

  @tf.autograph.experimental.do_not_convert
  def drop_ok(clip):
    return {k: v for k, v in clip.items() if k != 'ok'}

  clips = clips.map(drop_ok)
  batches = clips.batch(host_batch, drop_remainder=True)
  if skip_batches and config.skip_bad_examples:
    batches = batches.skip(skip_batches)
  return batches.prefetch(_prefetch(config)).with_options(_options(config))


# ---------------------------------------------------------------------------
# Evaluation.


@dataclasses.dataclass(frozen=True)
class _EvalVideos:
  dataset: tf.data.Dataset  # video dicts with video_index
  host_videos: int
  max_host_videos: int


def _eval_videos(config, info: DatasetInfo, split: str, process_index: int,
                 process_count: int, policy) -> _EvalVideos:
  num_classes = _num_classes(config, info)
  if config.source == 'tfds':
    videos, host, most = tfds_source.read_videos(
        config, split, process_index=process_index,
        process_count=process_count, training=False, seed=config.seed)
    return _EvalVideos(videos, host, most)
  files = _split_files(config, info, split)
  counts = tfrecord_source.count_records(files,
                                         skip_bad=config.skip_bad_examples)
  sizes = tfrecord_source.file_sizes(files)
  shard = tfrecord_source.host_shard(len(files), process_index, process_count)
  modalities = tuple(config.modalities)
  if shard.example_level:
    records = tfrecord_source.read_records(
        files, sizes, policy, cycle_length=1, parallel=False,
        deterministic=True).enumerate().shard(process_count, process_index)

    @tf.autograph.experimental.do_not_convert
    def with_index(position, item):
      file, record, serialized = item
      return file, record, serialized, position
  else:
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    idx = list(shard.file_indices)
    file_ds = tf.data.Dataset.from_tensor_slices(
        ([files[i] for i in idx], np.asarray([sizes[i] for i in idx],
                                             np.int64)))
    offset_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant([files[i] for i in idx]),
            tf.constant([offsets[i] for i in idx], tf.int64)), -1)
    records = tfrecord_source.read_records(
        files, sizes, policy, cycle_length=max(1, min(config.cycle_length,
                                                      len(idx))),
        parallel=True, deterministic=config.deterministic,
        files_dataset=file_ds)

    @tf.autograph.experimental.do_not_convert
    def with_index(file, record, serialized):
      return file, record, serialized, offset_table.lookup(file) + record

  @tf.autograph.experimental.do_not_convert
  def parse(*args):
    file, record, serialized, index = with_index(*args)
    video = tfrecord_source.parse_video(file, record, serialized,
                                        modalities=modalities,
                                        num_classes=num_classes,
                                        class_names=info.class_names)
    video['video_index'] = tf.cast(index, tf.int32)
    return video

  videos = records.map(parse, num_parallel_calls=_parallel(config),
                       deterministic=config.deterministic)
  return _EvalVideos(videos, tfrecord_source.host_num_videos(counts, shard),
                     tfrecord_source.max_host_num_videos(counts,
                                                         process_count))


def _batches_for_busiest_host(max_host_videos: int, num_views: int,
                              host_rows: int) -> int:
  """Batches every host yields: enough rows for the busiest host."""
  return max(1, math.ceil(max_host_videos * num_views / host_rows))


def make_eval_dataset(input_config: ml_collections.ConfigDict, *,
                      split: str | None = None,
                      process_index: int | None = None,
                      process_count: int | None = None) -> tf.data.Dataset:
  """Finite, padded evaluation batches, one row per view (module docstring).

  Args:
    input_config: the `config.input` section.
    split: split to evaluate (default input.eval_split).
    process_index: this host (default jax.process_index()).
    process_count: number of hosts (default jax.process_count()).
  """
  config = input_config
  input_config_lib.validate(config)
  process_index, process_count = _processes(process_index, process_count)
  host_rows = _host_batch(config.eval_batch_size, process_count,
                          'eval_batch_size')
  split = split or config.eval_split
  info = dataset_info(config)
  opts = _clip_options(config)
  policy = bad_examples.BadExamplePolicy(config.skip_bad_examples, 'eval')
  videos = _eval_videos(config, info, split, process_index, process_count,
                        policy)
  num_views = opts.num_views
  batches = _batches_for_busiest_host(videos.max_host_videos, num_views,
                                      host_rows)
  logging.info('eval %r: host %d/%d has %d videos x %d views; %d batches of '
               '%d rows (%d padding rows)', split, process_index,
               process_count, videos.host_videos, num_views, batches,
               host_rows, batches * host_rows - videos.host_videos * num_views)
  if config.cache:
    videos = dataclasses.replace(videos, dataset=videos.dataset.cache())

  @tf.autograph.experimental.do_not_convert
  def to_rows(video):
    views = clip_preprocessing.eval_views(video, opts, policy)
    rows = {m: views[m] for m in opts.modalities}
    rows['label'] = tf.fill([num_views], video['label'])
    rows['video_index'] = tf.fill([num_views], video['video_index'])
    rows['view_index'] = tf.range(num_views, dtype=tf.int32)
    rows['mask'] = tf.fill([num_views], views['ok'])
    return rows

  rows = videos.dataset.map(to_rows, num_parallel_calls=_parallel(config),
                            deterministic=config.deterministic).unbatch()
  s, t = config.crop_size, input_config_lib.eval_frames(config)
  channels = {'rgb': 3, 'flow': 2}
  padding = {m: tf.zeros([t, s, s, channels[m]], tf.float32)
             for m in opts.modalities}
  padding.update(label=tf.constant(0, tf.int32),
                 video_index=tf.constant(-1, tf.int32),
                 view_index=tf.constant(-1, tf.int32),
                 mask=tf.constant(False))
  rows = rows.concatenate(tf.data.Dataset.from_tensors(padding).repeat())
  rows = rows.take(batches * host_rows)
  out = rows.batch(host_rows, drop_remainder=True)
  return out.prefetch(_prefetch(config)).with_options(_options(config))


def eval_num_batches(input_config: ml_collections.ConfigDict, *,
                     split: str | None = None,
                     process_count: int | None = None) -> int:
  """How many batches make_eval_dataset yields on every host."""
  config = input_config
  if process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_count = jax.process_count()
  host_rows = _host_batch(config.eval_batch_size, process_count,
                          'eval_batch_size')
  split = split or config.eval_split
  num_views = config.num_test_clips * config.num_test_crops
  info = dataset_info(config)
  if config.source == 'tfds':
    builder = tfds_source._builder(config.tfds_name, config.tfds_data_dir)  # pylint: disable=protected-access
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    most = max(builder.info.splits[s].num_examples
               for s in tfds.even_splits(split, n=process_count))
  else:
    counts = tfrecord_source.count_records(
        _split_files(config, info, split), skip_bad=config.skip_bad_examples)
    most = tfrecord_source.max_host_num_videos(counts, process_count)
  return _batches_for_busiest_host(most, num_views, host_rows)
