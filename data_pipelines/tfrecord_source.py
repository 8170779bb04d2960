"""TFRecord shards of a split -> this host's stream of parsed videos.

Responsibilities:
  * list the shards of a split (`input.file_pattern`) and count records
    (from `manifest.json` when it covers the files, else by reading them);
  * per-host sharding: file-level (`files[process_index::process_count]`)
    when there are at least as many files as hosts, else example-level
    (every host reads every file in a fixed order and keeps every
    process_count-th record);
  * read each file with an integrity check: a truncated or corrupt record
    is reported with the file name (TensorFlow's own DataLossError names
    neither file nor field), see `_read_file`;
  * parse each SequenceExample into the pipeline's video dict (below), with
    checks that name the file, record and field.

A parsed video is a dict of tensors:
  file         string  shard path (for messages)
  record       int64   record index inside the shard
  rgb          string  [N]   encoded RGB frames ([] if absent)
  flow         string  [M]   encoded flow frames ([] if absent)
  label        int32   class index (-1 if absent)
  error        string  '' or the first problem found
and, for evaluation, video_index int32: the position of the record in the
split (files in sorted order, records in file order), identical on every
host whatever the sharding.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from data_pipelines import bad_examples
from data_pipelines import paths
from data_pipelines import schema

# TFRecord framing: uint64 length, uint32 CRC of the length, the data,
# uint32 CRC of the data.
_RECORD_OVERHEAD_BYTES = 16
MANIFEST_FILENAME = 'manifest.json'


class DataFilesError(ValueError):
  """The files of a split are missing or unreadable (message names them)."""


def split_files(file_pattern: str, data_dir: str, split: str) -> list[str]:
  """Sorted shard paths of one split; an error names the pattern and key."""
  pattern = file_pattern.format(data_dir=data_dir.rstrip('/'), split=split)
  files = sorted(tf.io.gfile.glob(pattern))
  if not files:
    raise DataFilesError(
        f'No files match {pattern!r} (input.data_dir={data_dir!r}, '
        f'input.file_pattern={file_pattern!r}, split {split!r}).')
  return files


def file_sizes(files: Sequence[str]) -> list[int]:
  return [tf.io.gfile.stat(f).length for f in files]


@functools.lru_cache(maxsize=64)
def _manifest_counts(directory: str) -> dict[str, int]:
  """Records per shard name, from `directory/manifest.json` ({} if none)."""
  path = paths.resolve(directory) / MANIFEST_FILENAME
  if not path.exists():
    return {}
  try:
    manifest = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise DataFilesError(f'{path}: not valid JSON ({e})') from e
  counts = {}
  for entry in manifest.get('splits', {}).values():
    counts.update(entry.get('shards', {}))
  return counts


def _manifest_count(file: str) -> int | None:
  """Records of shard `file` per the manifest.json next to it, if listed."""
  shard = paths.resolve(file)  # Local or gs://: parent and name alike.
  return _manifest_counts(os.fspath(shard.parent)).get(shard.name)


def manifest_total(files: Sequence[str]) -> int | None:
  """Total records of `files` if manifest.json lists them all, else None."""
  total = 0
  for path in files:
    known = _manifest_count(path)
    if known is None:
      return None
    total += int(known)
  return total


def count_records(files: Sequence[str], *, skip_bad: bool) -> list[int]:
  """Records per file: from manifest.json next to the files, else by reading.

  Reading stops at a truncated or corrupt record: that is an error naming
  the file, or (skip_bad) a warning and the count of the good records.
  """
  counts = []
  for path in files:
    known = _manifest_count(path)
    if known is not None:
      counts.append(int(known))
      continue
    n = 0
    try:
      for _ in tf.data.TFRecordDataset(path):
        n += 1
    except tf.errors.DataLossError as e:
      message = (f'{path}: truncated or corrupt record after {n} good '
                 f'records (field: TFRecord framing): {e.message}')
      if not skip_bad:
        raise DataFilesError(message) from e
      logging.warning('Skipping the rest of a file: %s', message)
    counts.append(n)
  return counts


@dataclasses.dataclass(frozen=True)
class HostShard:
  """Which part of a split this host reads.

  Attributes:
    file_indices: indices (into the split's sorted files) this host reads.
    example_level: True when every host reads all files and keeps records
      at positions process_index, process_index + process_count, ...
    process_index: this host.
    process_count: number of hosts.
  """
  file_indices: tuple[int, ...]
  example_level: bool
  process_index: int
  process_count: int


def host_shard(num_files: int, process_index: int,
               process_count: int) -> HostShard:
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} not in [0, '
                     f'{process_count})')
  if num_files >= process_count:
    return HostShard(tuple(range(process_index, num_files, process_count)),
                     False, process_index, process_count)
  return HostShard(tuple(range(num_files)), True, process_index,
                   process_count)


def host_num_videos(counts: Sequence[int], shard: HostShard) -> int:
  """Videos a host reads, for any host described by `shard`'s rule."""
  if shard.example_level:
    total = sum(counts)
    return len(range(shard.process_index, total, shard.process_count))
  return sum(counts[i] for i in shard.file_indices)


def max_host_num_videos(counts: Sequence[int], process_count: int) -> int:
  """The largest number of videos any host reads (sizes eval padding)."""
  return max(host_num_videos(counts, host_shard(len(counts), i,
                                                process_count))
             for i in range(process_count))


# ---------------------------------------------------------------------------
# Reading.


def _read_file(path: tf.Tensor, size: tf.Tensor, policy: bad_examples
               .BadExamplePolicy) -> tf.data.Dataset:
  """Records of one file as (file, record_index, serialized).

  The reader stops at the first truncated or corrupt record (after
  `ignore_errors`); a sentinel after the last record compares the bytes
  consumed with the file size, so a short read becomes an error naming the
  file (strict) or a logged skip of the rest of the file.
  """
  records = tf.data.TFRecordDataset(path).ignore_errors().enumerate()
  sentinel = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64),
                                           tf.constant('')))

  @tf.autograph.experimental.do_not_convert
  def account(state, item):
    consumed, good = state
    index, record = item
    is_sentinel = index < 0
    consumed += tf.where(
        is_sentinel, tf.constant(0, tf.int64),
        tf.cast(tf.strings.length(record), tf.int64) + _RECORD_OVERHEAD_BYTES)
    good += tf.where(is_sentinel, tf.constant(0, tf.int64),
                     tf.constant(1, tf.int64))
    error = tf.where(
        is_sentinel & (consumed != size),
        tf.strings.join([
            'Bad example in ', path, ': field TFRecord framing: truncated or '
            'corrupt record after ', tf.strings.as_string(good),
            ' good records (read ', tf.strings.as_string(consumed), ' of ',
            tf.strings.as_string(size), ' bytes); the rest of the file is '
            'unreadable']), '')
    return (consumed, good), (index, record, error)

  @tf.autograph.experimental.do_not_convert
  def check_sentinel(index, record, error):
    del record
    ok = policy.apply(error)
    return (index >= 0) & ok

  @tf.autograph.experimental.do_not_convert
  def drop_error(index, record, error):
    del error
    return path, index, record

  return (records.concatenate(sentinel)
          .scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
                account)
          .filter(check_sentinel)
          .map(drop_error))


def read_records(files: Sequence[str], sizes: Sequence[int],
                 policy: bad_examples.BadExamplePolicy, *, cycle_length: int,
                 parallel: bool, deterministic: bool,
                 files_dataset: tf.data.Dataset | None = None
                 ) -> tf.data.Dataset:
  """Interleaves `_read_file` over files -> (file, record_index, serialized).

  `files_dataset` (of (path, size) pairs) overrides the file order, e.g. a
  shuffled and repeated list for training.
  """
  if files_dataset is None:
    files_dataset = tf.data.Dataset.from_tensor_slices(
        (list(files), np.asarray(sizes, np.int64)))

  @tf.autograph.experimental.do_not_convert
  def read(path, size):
    return _read_file(path, size, policy)
  if not parallel:
    return files_dataset.interleave(read, cycle_length=cycle_length)
  return files_dataset.interleave(
      read, cycle_length=cycle_length, num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=deterministic)


# ---------------------------------------------------------------------------
# Parsing.


def parse_video(file: tf.Tensor, record: tf.Tensor, serialized: tf.Tensor, *,
                modalities: Sequence[str], num_classes: int,
                class_names: Sequence[str] = ()) -> dict[str, tf.Tensor]:
  """Parses one SequenceExample into the video dict (module docstring).

  Checks: the requested modalities' feature lists are present and hold one
  value per step (DMVR's format; all frames packed into one step is the
  classic 'Number of values != expected' mistake), as many frame checksums
  as frames when the record has them, the label is present, single and in
  [0, num_classes), and, given the label map's `class_names`, the record's
  own `clip/label/string` (when present) names the same class as its index.
  """
  context_spec, sequence_spec = schema.parse_spec()
  context, sequence = tf.io.parse_single_sequence_example(
      serialized, context_features=context_spec,
      sequence_features=sequence_spec)
  labels = context[schema.LABEL_INDEX_KEY].values
  video = {'file': file, 'record': record}
  checks = []
  for modality, key in schema.MODALITY_KEYS.items():
    steps = sequence[key]
    values_per_step = steps.row_lengths()
    video[modality] = steps.flat_values
    crcs = sequence[schema.CRC_KEYS[modality]].flat_values
    video[f'{modality}_crc32c'] = crcs
    if modality in modalities:
      checks.append((tf.size(values_per_step) > 0, bad_examples.describe(
          file, record, key, 'missing or empty feature list' + (
              ' (records written with --flow none?)' if modality == 'flow'
              else ''))))
      checks.append((tf.reduce_all(values_per_step == 1),
                     bad_examples.describe(
                         file, record, key,
                         'each step must hold exactly one encoded frame')))
      checks.append((
          (tf.size(crcs) == 0) | (tf.size(crcs) == tf.size(video[modality])),
          bad_examples.describe(file, record, schema.CRC_KEYS[modality], tf.strings.join([
              'holds ', tf.strings.as_string(tf.size(crcs)), ' checksums for ',
              tf.strings.as_string(tf.size(video[modality])), ' frames']))))
  num_labels = tf.size(labels)
  label = tf.cond(num_labels > 0, lambda: labels[0],
                  lambda: tf.constant(-1, tf.int64))
  checks.append((num_labels > 0, bad_examples.describe(
      file, record, schema.LABEL_INDEX_KEY, 'missing')))
  checks.append((num_labels <= 1, bad_examples.describe(
      file, record, schema.LABEL_INDEX_KEY,
      'holds several labels; multi-label records are not supported')))
  checks.append(((label >= 0) & (label < num_classes), bad_examples.describe(
      file, record, schema.LABEL_INDEX_KEY, tf.strings.join([
          'label ', tf.strings.as_string(label), ' is outside [0, ',
          str(num_classes), ') (input.num_classes / the label map)']))))
  if class_names:
    strings = context[schema.LABEL_STRING_KEY].values
    in_map = tf.gather(tf.constant(list(class_names)),
                       tf.clip_by_value(label, 0, len(class_names) - 1))
    record_name = tf.cond(tf.size(strings) > 0, lambda: strings[0], lambda: in_map)
    checks.append((tf.equal(record_name, in_map), bad_examples.describe(
        file, record, schema.LABEL_STRING_KEY, tf.strings.join([
            'the record names class ', tf.strings.as_string(label), ' ',
            record_name, ' but the label map names index ',
            tf.strings.as_string(label), ' ', in_map,
            ' (a label map reordered or from other records?)']))))
  video['label'] = tf.cast(label, tf.int32)
  video['error'] = bad_examples.first_error(*checks)
  return video


def read_first_record(files: Sequence[str]) -> tuple[str, bytes] | None:
  """(file, serialized) of the first record of the first non-empty file."""
  for path in files:
    for record in tf.data.TFRecordDataset(path).take(1):
      return path, record.numpy()
  return None
