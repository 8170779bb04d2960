"""The record format: frame and flow codecs, SequenceExample round trip."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import schema
from data_pipelines import tf_setup

tf_setup.hide_accelerators()


def _smooth_image(rng, h=48, w=64):
  noise = rng.uniform(0, 255, size=(h // 8, w // 8, 3)).astype(np.float32)
  return np.clip(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC),
                 0, 255).astype(np.uint8)


def test_rgb_jpeg_round_trip_within_jpeg_tolerance():
  rng = np.random.default_rng(0)
  frame = _smooth_image(rng)
  data = schema.encode_rgb_jpeg(frame, quality=90)
  decoded_cv = schema.decode_rgb_jpeg(data)
  decoded_tf = schema.tf_decode_frames(tf.constant([data]), 'rgb')[0].numpy()
  for decoded in (decoded_cv, decoded_tf):
    mse = np.mean((decoded.astype(float) - frame.astype(float)) ** 2)
    # JPEG tolerance: quality 90 (4:2:0) on a smooth random image gives
    # about 35 dB PSNR and a mean error of about 3 levels (of 255).
    assert 10 * np.log10(255**2 / mse) > 32
    assert np.abs(decoded.astype(int) - frame.astype(int)).mean() < 4


def test_flow_quantisation_error_is_within_one_step():
  rng = np.random.default_rng(1)
  flow = rng.uniform(-25, 25, size=(16, 16, 2)).astype(np.float32)
  levels = schema.quantize_flow(flow)
  assert levels.dtype == np.uint8 and levels.shape == (16, 16, 3)
  assert np.all(levels[..., 2] == 0)
  restored = schema.dequantize_flow(levels)
  expected = np.clip(flow, -20, 20)
  # Per component within 20 / 127.5 px (one quantisation step); rounding
  # actually gives half a step.
  assert np.abs(restored - expected).max() <= 20 / 127.5
  assert np.abs(restored - expected).max() <= 20 / 255 + 1e-5
  # Zero motion is stored as 127/128 (the midpoint 127.5).
  assert np.all(np.abs(schema.dequantize_flow(
      schema.quantize_flow(np.zeros((2, 2, 2))))) <= 20 / 255 + 1e-5)


def test_flow_jpeg_round_trip_tf_matches_opencv():
  rng = np.random.default_rng(2)
  flow = cv2.GaussianBlur(rng.normal(0, 6, (48, 64, 2)).astype(np.float32),
                          (0, 0), 3) * 3
  data = schema.encode_flow_jpeg(flow, quality=95)
  px = schema.decode_flow_jpeg(data)
  # Lossy JPEG (4:4:4, quality 95) on smooth flow, on top of quantisation:
  # within 5 quantisation steps (0.78 px) per component, 1 step (0.16 px)
  # on average.
  err = np.abs(px - np.clip(flow, -20, 20))
  assert err.max() <= 5 * 40 / 255
  assert err.mean() <= 40 / 255
  model = schema.tf_to_model_range(
      schema.tf_decode_frames(tf.constant([data]), 'flow'))[0].numpy()
  # The model input is displacement / 20, identical to OpenCV's decode.
  np.testing.assert_allclose(model * 20, px, atol=1e-4)


def test_sequence_example_round_trip():
  rng = np.random.default_rng(3)
  rgb = [schema.encode_rgb_jpeg(_smooth_image(rng, 16, 16)) for _ in range(3)]
  flow = [schema.encode_flow_jpeg(np.zeros((16, 16, 2))) for _ in range(2)]
  ex = schema.make_sequence_example(
      video_id='v1', label_index=2, label_name='jump', rgb_jpegs=rgb,
      flow_jpegs=flow, fps=25.0, height=16, width=16, filename='a.mp4')
  back = schema.read_sequence_example(ex.SerializeToString())
  assert back[schema.LABEL_INDEX_KEY] == 2
  assert back[schema.LABEL_STRING_KEY] == b'jump'
  assert back[schema.LABEL_TEXT_KEY] == b'jump'
  assert back[schema.VIDEO_ID_KEY] == b'v1'
  assert back[schema.NUM_FRAMES_KEY] == 3
  assert back[schema.RGB_KEY] == rgb and back[schema.FLOW_KEY] == flow
  with pytest.raises(ValueError, match='expected 2'):
    schema.make_sequence_example(
        video_id='v1', label_index=0, label_name='x', rgb_jpegs=rgb,
        flow_jpegs=flow[:1], fps=25.0, height=16, width=16)


def test_frame_checks_name_what_is_wrong_with_a_frame():
  data = schema.encode_rgb_jpeg(np.zeros((8, 8, 3), np.uint8))
  crc = schema.frame_crc32c(data)
  frames = [data, data[:-10], b'not a jpeg', b'', data[:2] + bytes(40) + data[42:],
            data[:-3] + b'\x00' + data[-2:], data]
  crcs = [crc, -1, -1, -1, -1, crc, -1]
  problems = schema.tf_frame_problems(tf.constant(frames), tf.constant(crcs, tf.int64))
  assert problems.numpy().tolist() == [
      schema.FRAME_OK, schema.FRAME_INCOMPLETE, schema.FRAME_INCOMPLETE,
      schema.FRAME_INCOMPLETE, schema.FRAME_BAD_HEADER, schema.FRAME_BAD_CHECKSUM,
      schema.FRAME_OK]
