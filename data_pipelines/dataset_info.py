"""What a dataset holds, read before training starts (fail fast).

`dataset_info(config.input)` returns the class names (from the label map),
the number of classes, the number of videos per split, and the modalities
the records actually contain, and raises a clear error when the config asks
for something the data cannot give (flow from RGB-only records, a
num_classes that disagrees with the label map, a pattern matching no files).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

from absl import logging
import ml_collections

from data_pipelines import input_config as input_config_lib
from data_pipelines import label_map as label_map_lib
from data_pipelines import paths
from data_pipelines import schema
from data_pipelines import tfds_source
from data_pipelines import tfrecord_source


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """Facts about the data behind a `config.input`.

  Attributes:
    num_classes: number of classes (== len(class_names)).
    class_names: class name of each label index.
    num_examples: videos per split, for the train and eval splits; None for
      the train split of TFRecords without a manifest.json (counting would
      read the whole split).
    modalities: streams present in the records of every split checked,
      subset of ('rgb', 'flow').
    files: shard paths per split (TFRecords; empty for TFDS).
    label_map_path: the label map file read ('' for TFDS).
    frame_checksums: whether the records carry per-frame CRC32C keys
      (`schema`'s ``image/crc32c``), which the pipeline then verifies; judged
      from the first record of every split.
  """
  num_classes: int
  class_names: tuple[str, ...]
  num_examples: dict[str, int | None]
  modalities: tuple[str, ...]
  files: dict[str, tuple[str, ...]]
  label_map_path: str
  frame_checksums: bool = False

  def __getitem__(self, key: str) -> Any:  # info['num_classes'] also works.
    return getattr(self, key)


def _record_modalities(path: str, serialized: bytes) -> tuple[str, ...]:
  record = schema.read_sequence_example(serialized)
  present = tuple(m for m, key in schema.MODALITY_KEYS.items() if record[key])
  logging.info('%s holds %s', path, present)
  return present


def _config_key(config: ml_collections.ConfigDict) -> tuple[Any, ...]:
  fields = ('source', 'data_dir', 'file_pattern', 'label_map', 'tfds_name',
            'tfds_data_dir', 'tfds_label_key', 'train_split', 'eval_split',
            'modalities', 'num_classes', 'skip_bad_examples')
  return tuple((f, tuple(config[f]) if isinstance(config[f], (list, tuple))
                else config[f]) for f in fields)


def dataset_info(config: ml_collections.ConfigDict) -> DatasetInfo:
  """Reads the label map, counts and modalities; checks the config against them.

  Raises:
    ValueError: naming the `input.<field>` and file at fault.
  """
  input_config_lib.validate(config)
  return _dataset_info(_config_key(config))


@functools.lru_cache(maxsize=16)
def _dataset_info(key: tuple[Any, ...]) -> DatasetInfo:
  c = dict(key)
  if c['source'] == 'tfds':
    info = tfds_source.tfds_info(c['tfds_name'], c['tfds_data_dir'],
                                 c['tfds_label_key'])
    names = info.class_names
    _check_num_classes(c['num_classes'], names, f'TFDS {c["tfds_name"]}')
    return DatasetInfo(
        num_classes=len(names), class_names=names,
        num_examples={s: info.num_examples(s) for s in
                      (c['train_split'], c['eval_split'])},
        modalities=('rgb',), files={}, label_map_path='')

  map_path = c['label_map'] or os.fspath(
      paths.resolve(c['data_dir']) / label_map_lib.LABEL_MAP_FILENAME)
  try:
    names = tuple(label_map_lib.read_label_map(map_path))
  except label_map_lib.LabelMapError as e:
    raise ValueError(f'input.label_map: {e}') from e
  _check_num_classes(c['num_classes'], names, map_path)

  files, num_examples, present, checksums = {}, {}, None, True
  for split in dict.fromkeys((c['train_split'], c['eval_split'])):
    split_files = tfrecord_source.split_files(c['file_pattern'],
                                              c['data_dir'], split)
    files[split] = tuple(split_files)
    if split == c['eval_split']:
      num_examples[split] = sum(tfrecord_source.count_records(
          split_files, skip_bad=c['skip_bad_examples']))
    else:
      num_examples[split] = tfrecord_source.manifest_total(split_files)
    first = tfrecord_source.read_first_record(split_files)
    if first is None:
      field = 'eval_split' if split == c['eval_split'] else 'train_split'
      raise ValueError(f'input.{field}: all {len(split_files)} files of split '
                       f'{split!r} are empty (e.g. {split_files[0]})')
    split_modalities = _record_modalities(*first)
    checksums &= bool(schema.read_sequence_example(first[1])[schema.RGB_CRC_KEY])
    _check_label_strings(split_files, names, map_path)
    for modality in c['modalities']:
      if modality not in split_modalities:
        raise ValueError(
            f'input.modalities asks for {modality!r}, but {first[0]} has no '
            f'{schema.MODALITY_KEYS[modality]} feature list'
            + (' (written with --flow none?)' if modality == 'flow' else '')
            + f'; it holds {list(split_modalities)}.')
    present = split_modalities if present is None else tuple(
        m for m in present if m in split_modalities)
  logging.info('Records %s per-frame CRC32C checksums', 'carry' if checksums
               else 'do not carry')
  return DatasetInfo(num_classes=len(names), class_names=names,
                     num_examples=num_examples, modalities=present,
                     files=files, label_map_path=map_path,
                     frame_checksums=checksums)


def _check_label_strings(files, names: tuple[str, ...], map_path: str) -> None:
  """The first record of each shard names its class as the label map does.

  A reordered or foreign label map would otherwise silently rename every
  class; the pipeline checks every record the same way while it reads.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  firsts = tf.data.Dataset.from_tensor_slices(list(files)).interleave(
      lambda f: tf.data.TFRecordDataset(f).take(1).map(lambda r: (f, r)),
      cycle_length=16, num_parallel_calls=16, deterministic=True)
  firsts = firsts.apply(tf.data.experimental.ignore_errors())  # Damaged shards:
  for file, serialized in firsts.as_numpy_iterator():           # named later.
    record = schema.read_sequence_example(serialized)
    index, name = record.get(schema.LABEL_INDEX_KEY), record.get(schema.LABEL_STRING_KEY)
    if not isinstance(index, int) or not isinstance(name, bytes):
      continue  # Missing or several: the pipeline names those.
    if 0 <= index < len(names) and names[index] != name.decode('utf-8', 'replace'):
      raise ValueError(
          f'{file.decode()} (record 0): field {schema.LABEL_STRING_KEY}: the record '
          f'names class {index} {name.decode("utf-8", "replace")!r} but the label map '
          f'{map_path} names index {index} {names[index]!r} (a label map reordered or '
          f'from other records?)')


def _check_num_classes(num_classes: int | None, names: tuple[str, ...],
                       where: str) -> None:
  if num_classes is not None and num_classes != len(names):
    raise ValueError(f'input.num_classes is {num_classes} but {where} has '
                     f'{len(names)} classes')

