"""Helpers that write small TFRecord files through data_pipelines.schema."""

import numpy as np
import tensorflow as tf

from data_pipelines import label_map
from data_pipelines import schema


def write_records(path, examples):
  """Writes serialized examples (bytes or SequenceExample) to `path`."""
  with tf.io.TFRecordWriter(str(path)) as w:
    for ex in examples:
      w.write(ex if isinstance(ex, bytes) else ex.SerializeToString())


def video_example(video_id, label, rgb, flow=None, label_name=None,
                  fps=25.0):
  """A SequenceExample from uint8 RGB [T,H,W,3] and flow px [T-1,H,W,2]."""
  return schema.make_sequence_example(
      video_id=video_id, label_index=label,
      label_name=label_name or f'class{label:03d}',
      rgb_jpegs=[schema.encode_rgb_jpeg(f, 95) for f in rgb],
      flow_jpegs=None if flow is None else [
          schema.encode_flow_jpeg(f, 95) for f in flow],
      fps=fps, height=rgb.shape[1], width=rgb.shape[2])


def random_video(rng, t=6, h=24, w=32, with_flow=True):
  rgb = rng.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
  flow = rng.uniform(-5, 5, size=(t - 1, h, w, 2)).astype(np.float32) if (
      with_flow) else None
  return rgb, flow


def write_label_map(data_dir, num_classes):
  label_map.write_label_map(str(data_dir / label_map.LABEL_MAP_FILENAME),
                            [f'class{i:03d}' for i in range(num_classes)])
