"""A label map that disagrees with the records' class names is an error naming the
file, record, index and both strings: at start-up and for every record read."""

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import dataset_info, input_config, input_pipeline, label_map
from tests.data_pipelines import records


def _data(tmp_path, names_in_map, train_names):
  """Records labelled (index, name) per `train_names`; label map `names_in_map`."""
  label_map.write_label_map(str(tmp_path / label_map.LABEL_MAP_FILENAME), names_in_map)
  rng = np.random.default_rng(0)
  examples = [records.video_example(f"v{i}", index, *records.random_video(rng, t=4, h=16,
                                                                          w=16),
                                    label_name=name)
              for i, (index, name) in enumerate(train_names)]
  path = tmp_path / "train-00000-of-00001.tfrecord"
  records.write_records(path, examples)
  records.write_records(tmp_path / "test-00000-of-00001.tfrecord", examples[:1])
  c = input_config.get_input_config()
  c.update(dict(data_dir=str(tmp_path), num_frames=4, stride=1, min_resize=0,
                crop_size=16, batch_size=1, shuffle_buffer=1, deterministic=True,
                prefetch=1))
  return path, c


def test_a_reordered_label_map_fails_at_start_up_naming_both_strings(tmp_path):
  path, c = _data(tmp_path, ["walk", "run", "jump"],
                  [(0, "jump"), (1, "run"), (2, "walk")])
  with pytest.raises(ValueError) as error:
    dataset_info.dataset_info(c)
  assert str(error.value) == (
      f"{path} (record 0): field clip/label/string: the record names class 0 'jump' but "
      f"the label map {tmp_path / 'label_map.txt'} names index 0 'walk' (a label map "
      f"reordered or from other records?)")


def test_every_record_is_checked_while_reading(tmp_path):
  # The first record of the shard agrees; the third does not.
  path, c = _data(tmp_path, ["jump", "run", "walk"],
                  [(0, "jump"), (1, "run"), (2, "crawl")])
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    list(input_pipeline.make_train_dataset(c, process_index=0, process_count=1).take(6))
  assert (f"Bad example in {path} (record 2): field clip/label/string: the record names "
          f"class 2 crawl but the label map names index 2 walk") in str(error.value)
