"""Reading and writing video files with PyAV (FFmpeg).

`decode_video` is what the TFRecord tool uses on user videos: it decodes the
first video stream, resamples it to a target frame rate (25 fps by default,
the rate I3D / Kinetics flow was computed at) by picking the nearest source
frame for every output timestamp, and resizes each kept frame so its short
side is `min_resize` pixels (256 by default, as in kinetics-i3d).

`write_video` encodes frames to a file (H.264 in MP4 by default); the
synthetic generator uses it so tests can run the tool on real .mp4 files.

Both take any user path (`data_pipelines.paths`: a local file or a URL such as
``gs://...``). PyAV (FFmpeg) opens only local files, so a URL is staged through
a local temporary file: downloaded before decoding, or encoded locally and then
uploaded in one piece (an object upload is atomic: readers never see half a
video). Messages name the user's path, never the temporary file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
from typing import Iterator

import av
import cv2
from etils import epath
import numpy as np

from data_pipelines import paths


class VideoDecodeError(Exception):
  """A video could not be decoded; the message names the file and the cause."""


@dataclasses.dataclass
class DecodedVideo:
  """Decoded frames and their timing.

  Attributes:
    frames: uint8 RGB [T, H, W, 3].
    fps: frame rate of `frames` (the target rate, or the source rate when
      no resampling was asked for).
    source_fps: the stream's average frame rate as reported by the container.
    warning: non-empty when decoding stopped early on a corrupt tail (the
      frames before it are kept); the tool lists it in the manifest.
  """
  frames: np.ndarray
  fps: float
  source_fps: float
  warning: str = ''


def resize_short_side(frame: np.ndarray, min_resize: int) -> np.ndarray:
  """Resizes so the short side is `min_resize` (0 keeps the frame as is)."""
  if not min_resize:
    return frame
  h, w = frame.shape[:2]
  scale = min_resize / min(h, w)
  if scale == 1.0:
    return frame
  new_h = max(1, int(round(h * scale)))
  new_w = max(1, int(round(w * scale)))
  interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
  return cv2.resize(frame, (new_w, new_h), interpolation=interp)


@contextlib.contextmanager
def _local_copy(path: epath.PathLike) -> Iterator[str]:
  """A local file with the contents of `path`: itself if local, else a copy.

  Raises:
    VideoDecodeError: `path` does not exist or cannot be downloaded.
  """
  source = paths.resolve(path)
  if not source.exists():
    raise VideoDecodeError(f'{path}: file not found')
  if not paths.is_url(source):
    yield os.fspath(source)
    return
  # Same suffix: FFmpeg guesses some containers from the extension.
  fd, local = tempfile.mkstemp(prefix='d3d_jax_video_', suffix=source.suffix)
  os.close(fd)
  try:
    try:
      source.copy(local, overwrite=True)
    except Exception as e:  # pylint: disable=broad-except
      raise VideoDecodeError(f'{path}: cannot download ({e})') from e
    yield local
  finally:
    os.remove(local)


def decode_video(path: epath.PathLike, *, fps: float | None = 25.0,
                 min_resize: int = 256, start_sec: float | None = None,
                 end_sec: float | None = None,
                 max_frames: int = 0) -> DecodedVideo:
  """Decodes a video file into RGB frames.

  Args:
    path: the video file (local or a URL, see the module docstring).
    fps: output frame rate; None or 0 keeps every decoded frame.
    min_resize: short side of the output frames in pixels; 0 keeps the size.
    start_sec: keep frames from this time on (seconds; None = start).
    end_sec: keep frames before this time (seconds; None = end).
    max_frames: stop after this many output frames (0 = no limit).

  Returns:
    A `DecodedVideo`.

  Raises:
    VideoDecodeError: the file is missing, not a video, corrupt, or yields no
      frames in the requested range.
  """
  with _local_copy(path) as local:
    return _decode_local(local, path, fps=fps, min_resize=min_resize,
                         start_sec=start_sec, end_sec=end_sec,
                         max_frames=max_frames)


def _decode_local(local: str, path: epath.PathLike, *, fps: float | None,
                  min_resize: int, start_sec: float | None,
                  end_sec: float | None, max_frames: int) -> DecodedVideo:
  """`decode_video` on the local file `local`; messages name `path`."""
  try:
    container = av.open(local)
  except (av.error.FFmpegError, OSError, ValueError) as e:
    raise VideoDecodeError(f'{path}: cannot open ({e})') from e
  with container:
    if not container.streams.video:
      raise VideoDecodeError(f'{path}: no video stream')
    stream = container.streams.video[0]
    stream.thread_type = 'AUTO'
    rate = stream.average_rate or stream.guessed_rate
    source_fps = float(rate) if rate else 0.0
    resample = bool(fps)
    step = 1.0 / fps if resample else 0.0
    out: list[np.ndarray] = []
    warning = ''
    # Nearest-frame resampling, streamed: decoded frame i is shown for
    # output timestamps in [(t[i-1] + t[i]) / 2, (t[i] + t[i+1]) / 2).
    pending = None  # (time, array) of the last decoded frame in range.
    origin = start_sec  # None until the first frame fixes the origin.

    def emit_until(boundary, array):
      # Output timestamp k is origin + k * step (no accumulated rounding).
      while (origin + len(out) * step < boundary - 1e-9 and
             not _full(out, max_frames)):
        out.append(array)

    try:
      for frame in container.decode(stream):
        t = frame.time
        if t is None:  # No timestamps: assume the nominal rate.
          t = frame.index / source_fps if source_fps else float(frame.index)
        if start_sec is not None and t < start_sec - 1e-6:
          continue
        if end_sec is not None and t >= end_sec:
          break
        array = resize_short_side(frame.to_ndarray(format='rgb24'),
                                  min_resize)
        if not resample:
          out.append(array)
        else:
          if origin is None:
            origin = t
          if pending is not None:
            emit_until((pending[0] + t) / 2, pending[1])
          pending = (t, array)
        if _full(out, max_frames):
          break
    except av.error.FFmpegError as e:
      if not out and pending is None:
        raise VideoDecodeError(f'{path}: decoding failed ({e})') from e
      # A corrupt tail: keep the frames that decoded cleanly, and say so.
      warning = f'decoding stopped early ({e})'
    if resample and pending is not None:
      # The last frame is shown for one source frame interval.
      end = pending[0] + (1.0 / source_fps if source_fps else step)
      if end_sec is not None:
        end = min(end, end_sec)
      emit_until(end, pending[1])
      if not out:  # A single frame shorter than one output step.
        out.append(pending[1])
  if not out:
    raise VideoDecodeError(f'{path}: no frames decoded in the requested range')
  return DecodedVideo(frames=np.stack(out),
                      fps=float(fps) if resample else source_fps,
                      source_fps=source_fps, warning=warning)


def _full(frames: list, max_frames: int) -> bool:
  return bool(max_frames) and len(frames) >= max_frames


def write_video(path: epath.PathLike, frames: np.ndarray, fps: float = 25.0,
                *, codec: str = 'libx264', crf: int = 18) -> None:
  """Encodes RGB uint8 frames [T, H, W, 3] into a video file.

  The container is chosen from the file extension. H.264 needs even frame
  sizes (yuv420p); odd sizes are rejected with a clear error. The parent
  folder must exist; a URL is encoded to a local temporary file and uploaded.
  """
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f'{path}: frames must be uint8 [T, H, W, 3], got '
                     f'{frames.dtype} {frames.shape}')
  height, width = frames.shape[1:3]
  if height % 2 or width % 2:
    raise ValueError(f'{path}: {codec} with yuv420p needs even frame sizes, '
                     f'got {height}x{width}')
  target = paths.resolve(path)
  if not paths.is_url(target):
    _encode(os.fspath(target), frames, fps, codec, crf)
    return
  with tempfile.TemporaryDirectory(prefix='d3d_jax_video_') as tmp:
    local = os.path.join(tmp, target.name)
    _encode(local, frames, fps, codec, crf)
    epath.Path(local).copy(target, overwrite=True)  # One upload: atomic.


def _encode(path: str, frames: np.ndarray, fps: float, codec: str,
            crf: int) -> None:
  """`write_video` to the local file `path` (frames already checked)."""
  height, width = frames.shape[1:3]
  rate = _as_fraction(fps)
  with av.open(path, mode='w') as container:
    stream = container.add_stream(codec, rate=rate)
    stream.width = width
    stream.height = height
    stream.pix_fmt = 'yuv420p'
    if codec in ('libx264', 'h264'):
      stream.options = {'crf': str(crf), 'preset': 'veryfast'}
    for array in frames:
      frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array),
                                         format='rgb24')
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _as_fraction(fps: float):
  from fractions import Fraction  # pylint: disable=g-import-not-at-top
  if math.isclose(fps, round(fps)):
    return Fraction(int(round(fps)), 1)
  return Fraction(fps).limit_denominator(1001)
