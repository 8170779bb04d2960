"""Corrupt JPEG frames: every variant is an error naming file, record, field and
frame (or a counted skip); checksummed records catch a frame that still decodes."""

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import dataset_info, input_config, input_pipeline, schema
from tests.data_pipelines import records

BAD_FRAME = 2


def _garbage_header(jpeg):  # SOI kept, the header after it overwritten.
  return jpeg[:2] + bytes(range(100, 140)) + jpeg[42:]


def _zeroed_scan_data(jpeg):  # Header intact: decodes, to wrong pixels.
  start = jpeg.index(b"\xff\xda")
  return jpeg[:start + 20] + bytes(len(jpeg) - start - 22) + jpeg[-2:]


def _truncated(jpeg):
  return jpeg[:len(jpeg) // 2]


def _example(label, damage=None, checksums=True):
  rng = np.random.default_rng(label)
  example = records.video_example(f"v{label}", label,
                                  *records.random_video(rng, t=4, h=16, w=16))
  frames = example.feature_lists.feature_list
  if damage is not None:
    step = frames[schema.RGB_KEY].feature[BAD_FRAME].bytes_list
    step.value[0] = damage(step.value[0])
  if not checksums:
    del frames[schema.RGB_CRC_KEY]
    del frames[schema.FLOW_CRC_KEY]
  return example


def _data(tmp_path, damage, checksums=True):
  """train: good(0), BAD(1), good(2) in one shard; test: good records."""
  records.write_label_map(tmp_path, 3)
  path = tmp_path / "train-00000-of-00001.tfrecord"
  records.write_records(path, [_example(0, checksums=checksums),
                               _example(1, damage, checksums),
                               _example(2, checksums=checksums)])
  records.write_records(tmp_path / "test-00000-of-00001.tfrecord",
                        [_example(0, checksums=checksums)])
  c = input_config.get_input_config()
  c.update(dict(data_dir=str(tmp_path), num_frames=4, stride=1, min_resize=0,
                crop_size=16, batch_size=1, eval_batch_size=1, shuffle_buffer=1,
                deterministic=True, prefetch=1, eval_split="train"))
  return path, c


@pytest.mark.parametrize("damage,reason", [
    (_garbage_header, "has a damaged JPEG header"),
    (_zeroed_scan_data, "does not match its checksum in image/crc32c"),
    (_truncated, "is not a complete JPEG"),
])
def test_a_corrupt_frame_is_an_error_naming_file_record_field_and_frame(
    tmp_path, damage, reason):
  path, c = _data(tmp_path, damage)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    list(input_pipeline.make_train_dataset(c, process_index=0, process_count=1).take(6))
  assert (f"Bad example in {path} (record 1): field image/encoded: frame {BAD_FRAME}"
          f"{' ' + reason}") in str(error.value)


@pytest.mark.parametrize("damage", [_garbage_header, _zeroed_scan_data, _truncated])
def test_skip_bad_examples_skips_every_corrupt_frame_variant(tmp_path, damage):
  _, c = _data(tmp_path, damage)
  c.skip_bad_examples = True
  ds = input_pipeline.make_eval_dataset(c, process_index=0, process_count=1)
  rows = {(int(i), bool(m)) for b in ds for i, m in zip(b["video_index"].numpy(),
                                                        b["mask"].numpy())}
  assert {i for i, m in rows if m} == {0, 2} and (1, False) in rows


def test_records_without_checksums_still_load_and_info_says_so(tmp_path):
  _, c = _data(tmp_path, None, checksums=False)
  batches = list(input_pipeline.make_train_dataset(c, process_index=0,
                                                   process_count=1).take(3))
  assert [b["rgb"].shape for b in batches] == [(1, 4, 16, 16, 3)] * 3
  assert not dataset_info.dataset_info(c).frame_checksums


def test_written_records_carry_a_crc32c_per_frame(tmp_path):
  _, c = _data(tmp_path, None)
  assert dataset_info.dataset_info(c).frame_checksums
  [first] = tf.data.TFRecordDataset(str(tmp_path / "test-00000-of-00001.tfrecord"))
  stored = schema.read_sequence_example(first.numpy())
  assert stored[schema.RGB_CRC_KEY] == [schema.frame_crc32c(f)
                                        for f in stored[schema.RGB_KEY]]
  assert schema.frame_crc32c(b"123456789") == 0xE3069283  # The CRC32C check value.
