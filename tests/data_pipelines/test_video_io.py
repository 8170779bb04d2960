"""PyAV decoding with frame-rate resampling and short-side resizing."""

import numpy as np
import pytest

from data_pipelines import video_io


@pytest.fixture(scope='module')
def counter_video(tmp_path_factory):
  """16 frames at 25 fps whose red channel encodes the frame index."""
  frames = np.zeros((16, 32, 48, 3), np.uint8)
  for t in range(16):
    frames[t, ..., 0] = t * 15
  path = str(tmp_path_factory.mktemp('video') / 'counter.mp4')
  video_io.write_video(path, frames, fps=25)
  return path


def _indices(decoded):
  return [int(round(v / 15)) for v in decoded.frames[:, 8, 8, 0]]


def test_decode_native_rate_and_resize(counter_video):
  decoded = video_io.decode_video(counter_video, fps=25, min_resize=16)
  assert decoded.frames.shape == (16, 16, 24, 3)
  assert decoded.fps == 25 and decoded.source_fps == 25
  assert _indices(decoded) == list(range(16))


def test_decode_resamples_frame_rate(counter_video):
  half = video_io.decode_video(counter_video, fps=12.5, min_resize=0)
  assert _indices(half) == list(range(0, 16, 2))
  double = video_io.decode_video(counter_video, fps=50, min_resize=0)
  assert len(double.frames) == 32  # same 0.64 s duration
  assert _indices(double)[::2] == list(range(16))


def test_decode_segment(counter_video):
  seg = video_io.decode_video(counter_video, fps=25, min_resize=0,
                              start_sec=0.2, end_sec=0.4)
  assert _indices(seg) == [5, 6, 7, 8, 9]


def test_unreadable_files_raise_with_path(tmp_path):
  bad = tmp_path / 'bad.mp4'
  bad.write_bytes(b'not a video at all' * 50)
  with pytest.raises(video_io.VideoDecodeError, match='bad.mp4'):
    video_io.decode_video(str(bad))
  with pytest.raises(video_io.VideoDecodeError, match='not found'):
    video_io.decode_video(str(tmp_path / 'missing.mp4'))
