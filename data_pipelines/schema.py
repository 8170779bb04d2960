"""The on-disk record format: one `tf.train.SequenceExample` per video.

This module is the single owner of the format. Every encoder and decoder of
frames and flow (NumPy side for the writing tools, TensorFlow side for the
input pipeline) lives here, so the two sides cannot drift apart.

Keys are DMVR-compatible (see DESIGN.md, "Data format"):

  context
    clip/label/index    int64   class index into the label map (sorted names)
    clip/label/string   bytes   class name (MediaPipe MediaSequence key)
    clip/label/text     bytes   class name again (DMVR's default key)
    video/id            bytes   unique id of the video inside its split
    video/filename      bytes   source file the record was made from
    video/num_frames    int64   number of RGB frames stored
    video/fps           float   frame rate of the stored frames
    image/height        int64   frame height in pixels
    image/width         int64   frame width in pixels
  feature lists
    image/encoded       one JPEG (RGB) per frame, one value per step
    flow/encoded        one JPEG per flow frame, one value per step; absent
                        when the records were written with `--flow none`
    image/crc32c        optional: the CRC32C (Castagnoli, as in GCS and
    flow/crc32c         TFRecord framing) of each step's JPEG bytes, one int64
                        per step. Written by our tools since the reliability
                        work; the pipeline verifies the frames it decodes
                        against it, so a corrupted frame that would still
                        decode (zeroed scan data) is a named error. Records
                        without it load as before (`dataset_info` reports
                        whether the records carry it).

Flow encoding. Flow frame i is the TV-L1 displacement from RGB frame i to
frame i + 1, so a video of T frames has T - 1 flow frames. The displacement
in pixels is clipped to [-20, 20] and mapped linearly to [0, 255]
(`round((d / 20 + 1) * 127.5)`); channel 0 holds x (positive = rightwards),
channel 1 holds y (positive = downwards), channel 2 is zero. Decoding maps
[0, 255] linearly to [-1, 1], i.e. displacement / 20, which is the model
input convention. Flow JPEGs are written without chroma subsampling (4:4:4):
with the usual 4:2:0 the x and y channels would bleed into each other
through the YCbCr conversion. They are decoded with the accurate integer
IDCT, which keeps TensorFlow and OpenCV decodes identical.

The TensorFlow side is imported lazily: the writer's worker processes use
only the NumPy helpers and should not pay TensorFlow's import time and
memory.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

# ---------------------------------------------------------------------------
# Keys.
LABEL_INDEX_KEY = 'clip/label/index'
LABEL_STRING_KEY = 'clip/label/string'
LABEL_TEXT_KEY = 'clip/label/text'
VIDEO_ID_KEY = 'video/id'
VIDEO_FILENAME_KEY = 'video/filename'
NUM_FRAMES_KEY = 'video/num_frames'
FPS_KEY = 'video/fps'
HEIGHT_KEY = 'image/height'
WIDTH_KEY = 'image/width'
RGB_KEY = 'image/encoded'
FLOW_KEY = 'flow/encoded'

# Which feature list holds each modality the pipeline can output.
MODALITY_KEYS = {'rgb': RGB_KEY, 'flow': FLOW_KEY}
RGB_CRC_KEY = 'image/crc32c'
FLOW_CRC_KEY = 'flow/crc32c'
CRC_KEYS = {'rgb': RGB_CRC_KEY, 'flow': FLOW_CRC_KEY}

# ---------------------------------------------------------------------------
# Flow quantisation constants.
FLOW_MAX_DISPLACEMENT = 20.0  # pixels; larger displacements are clipped
FLOW_QUANTISATION_STEP = 2 * FLOW_MAX_DISPLACEMENT / 255.0  # px per level

DEFAULT_RGB_JPEG_QUALITY = 90
DEFAULT_FLOW_JPEG_QUALITY = 95

# JPEG stream markers, used to detect truncated or non-JPEG frames before
# decoding (a decode error inside tf.data cannot name the file).
JPEG_START_MARKER = b'\xff\xd8'
JPEG_END_MARKER = b'\xff\xd9'


# ---------------------------------------------------------------------------
# NumPy side (writers, tests).


def encode_rgb_jpeg(frame: np.ndarray,
                    quality: int = DEFAULT_RGB_JPEG_QUALITY) -> bytes:
  """Encodes an RGB uint8 frame [H, W, 3] as a JPEG (standard 4:2:0)."""
  frame = _check_uint8_image(frame, 'RGB frame')
  ok, buf = cv2.imencode('.jpg', frame[..., ::-1],
                         [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
  if not ok:
    raise ValueError(f'OpenCV could not JPEG-encode a frame of shape '
                     f'{frame.shape}')
  return buf.tobytes()


def decode_rgb_jpeg(data: bytes) -> np.ndarray:
  """Decodes a JPEG into an RGB uint8 array [H, W, 3]."""
  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError('undecodable JPEG data')
  return image[..., ::-1].copy()


def quantize_flow(flow: np.ndarray) -> np.ndarray:
  """Maps displacement [H, W, 2] in pixels to the stored uint8 [H, W, 3].

  The error of a quantise/dequantise round trip is at most half a level,
  20 / 255 px, for displacements inside [-20, 20].
  """
  flow = np.asarray(flow, np.float32)
  if flow.ndim != 3 or flow.shape[-1] != 2:
    raise ValueError(f'flow must be [H, W, 2], got shape {flow.shape}')
  clipped = np.clip(flow, -FLOW_MAX_DISPLACEMENT, FLOW_MAX_DISPLACEMENT)
  levels = np.round((clipped / FLOW_MAX_DISPLACEMENT + 1.0) * 127.5)
  out = np.zeros(flow.shape[:2] + (3,), np.uint8)
  out[..., :2] = levels.astype(np.uint8)
  return out


def dequantize_flow(levels: np.ndarray) -> np.ndarray:
  """Inverse of `quantize_flow`: uint8 [..., >=2] -> displacement px [..., 2]."""
  levels = np.asarray(levels)[..., :2].astype(np.float32)
  return (levels / 127.5 - 1.0) * FLOW_MAX_DISPLACEMENT


def encode_flow_jpeg(flow: np.ndarray,
                     quality: int = DEFAULT_FLOW_JPEG_QUALITY) -> bytes:
  """Encodes displacement [H, W, 2] (pixels) as a 3-channel 4:4:4 JPEG."""
  image = quantize_flow(flow)
  ok, buf = cv2.imencode(
      '.jpg', image[..., ::-1],
      [cv2.IMWRITE_JPEG_QUALITY, int(quality),
       cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
  if not ok:
    raise ValueError(f'OpenCV could not JPEG-encode a flow field of shape '
                     f'{flow.shape}')
  return buf.tobytes()


def decode_flow_jpeg(data: bytes) -> np.ndarray:
  """Decodes a flow JPEG into displacement in pixels [H, W, 2]."""
  return dequantize_flow(decode_rgb_jpeg(data))


def _check_uint8_image(frame: np.ndarray, what: str) -> np.ndarray:
  frame = np.asarray(frame)
  if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
    raise ValueError(f'{what} must be uint8 [H, W, 3], got {frame.dtype} '
                     f'{frame.shape}')
  return np.ascontiguousarray(frame)


# ---------------------------------------------------------------------------
# Records.


def make_sequence_example(*, video_id: str, label_index: int, label_name: str,
                          rgb_jpegs: Sequence[bytes],
                          flow_jpegs: Sequence[bytes] | None, fps: float,
                          height: int, width: int,
                          filename: str = '') -> Any:
  """Builds the `tf.train.SequenceExample` for one video.

  `flow_jpegs` is None for RGB-only records; otherwise it must hold exactly
  one flow frame fewer than `rgb_jpegs`.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not rgb_jpegs:
    raise ValueError(f'video {video_id!r}: no RGB frames to write')
  if flow_jpegs is not None and len(flow_jpegs) != len(rgb_jpegs) - 1:
    raise ValueError(
        f'video {video_id!r}: {len(flow_jpegs)} flow frames for '
        f'{len(rgb_jpegs)} RGB frames; expected {len(rgb_jpegs) - 1}')
  ex = tf.train.SequenceExample()
  ctx = ex.context.feature
  ctx[LABEL_INDEX_KEY].int64_list.value.append(int(label_index))
  name = label_name.encode('utf-8')
  ctx[LABEL_STRING_KEY].bytes_list.value.append(name)
  ctx[LABEL_TEXT_KEY].bytes_list.value.append(name)
  ctx[VIDEO_ID_KEY].bytes_list.value.append(video_id.encode('utf-8'))
  ctx[VIDEO_FILENAME_KEY].bytes_list.value.append(filename.encode('utf-8'))
  ctx[NUM_FRAMES_KEY].int64_list.value.append(len(rgb_jpegs))
  ctx[FPS_KEY].float_list.value.append(float(fps))
  ctx[HEIGHT_KEY].int64_list.value.append(int(height))
  ctx[WIDTH_KEY].int64_list.value.append(int(width))
  lists = ex.feature_lists.feature_list
  for jpeg in rgb_jpegs:  # One value per step: DMVR's format.
    lists[RGB_KEY].feature.add().bytes_list.value.append(jpeg)
    lists[RGB_CRC_KEY].feature.add().int64_list.value.append(frame_crc32c(jpeg))
  for jpeg in flow_jpegs or ():
    lists[FLOW_KEY].feature.add().bytes_list.value.append(jpeg)
    lists[FLOW_CRC_KEY].feature.add().int64_list.value.append(frame_crc32c(jpeg))
  return ex


def frame_crc32c(encoded: bytes) -> int:
  """The CRC32C of one frame's encoded bytes (the value of ``*/crc32c``)."""
  import google_crc32c  # pylint: disable=g-import-not-at-top
  return google_crc32c.value(encoded)


def read_sequence_example(serialized: bytes) -> dict[str, Any]:
  """Parses a serialized record into plain Python values (tools and tests).

  Returns a dict with the context keys that are present (scalars: first
  value) and the feature lists as lists of bytes ([] when absent).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ex = tf.train.SequenceExample.FromString(serialized)
  out: dict[str, Any] = {}
  for key, feature in ex.context.feature.items():
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value) if kind else []
    out[key] = values[0] if len(values) == 1 else values
  for key in (RGB_KEY, FLOW_KEY, RGB_CRC_KEY, FLOW_CRC_KEY):
    steps = ex.feature_lists.feature_list[key].feature if (
        key in ex.feature_lists.feature_list) else []
    kind = 'int64_list' if key in (RGB_CRC_KEY, FLOW_CRC_KEY) else 'bytes_list'
    out[key] = [b for step in steps for b in getattr(step, kind).value]
  return out


# ---------------------------------------------------------------------------
# TensorFlow side (input pipeline).


def parse_spec():
  """(context_features, sequence_features) for `parse_single_sequence_example`.

  Everything is parsed leniently (VarLen / Ragged) so a missing key shows up
  as an empty value that the pipeline turns into an error naming the file
  and the field, rather than a parser error that names neither.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  context = {
      LABEL_INDEX_KEY: tf.io.VarLenFeature(tf.int64),
      LABEL_STRING_KEY: tf.io.VarLenFeature(tf.string),
      VIDEO_ID_KEY: tf.io.VarLenFeature(tf.string),
  }
  sequence = {
      RGB_KEY: tf.io.RaggedFeature(tf.string),
      FLOW_KEY: tf.io.RaggedFeature(tf.string),
      RGB_CRC_KEY: tf.io.RaggedFeature(tf.int64),
      FLOW_CRC_KEY: tf.io.RaggedFeature(tf.int64),
  }
  return context, sequence


def tf_decode_frames(encoded, modality: str):
  """Decodes JPEG strings [N] -> uint8 [N, H, W, C] (C = 3 RGB, 2 flow x/y).

  Flow uses the accurate integer IDCT (see the module docstring) and drops
  the zero third channel.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if modality == 'rgb':
    decode = lambda x: tf.io.decode_jpeg(x, channels=3)
    channels = 3
  elif modality == 'flow':
    decode = lambda x: tf.io.decode_jpeg(x, channels=3,
                                         dct_method='INTEGER_ACCURATE')[..., :2]
    channels = 2
  else:
    raise ValueError(f'unknown modality {modality!r}')
  return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec(
      [None, None, channels], tf.uint8))


def tf_to_model_range(values):
  """Stored 0..255 values (uint8 or float) -> float32 in [-1, 1].

  For RGB this is the model's input scaling; for flow it is displacement /
  20 (the inverse of the quantisation above).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.cast(values, tf.float32) / 127.5 - 1.0


# Why a frame cannot be used (`frame_problem`); FRAME_OK = 0 = none.
FRAME_OK, FRAME_INCOMPLETE, FRAME_BAD_HEADER, FRAME_BAD_CHECKSUM = range(4)
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic).
_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA,
                          0xCB, 0xCD, 0xCE, 0xCF))
_START_OF_SCAN = 0xDA


def jpeg_header_ok(encoded: bytes) -> bool:
  """Whether the JPEG's marker segments parse from SOI to the start of scan.

  Walks the header's segments (0xFF, a marker, a 2-byte length) and requires a
  frame header (SOF) before the scan: a damaged header, which TensorFlow's
  decoder reports as 'Unknown image file format' or 'Invalid JPEG data'
  without naming the record, is caught before decoding.
  """
  pos, size, seen_sof = 2, len(encoded), False
  while pos + 4 <= size:
    marker = encoded[pos + 1]
    length = (encoded[pos + 2] << 8) | encoded[pos + 3]
    if (encoded[pos] != 0xFF or marker < 0xC0 or marker == 0xFF
        or 0xD0 <= marker <= 0xD9 or length < 2):  # RSTn, SOI, EOI: not here.
      return False
    if marker == _START_OF_SCAN:
      return seen_sof
    seen_sof |= marker in _SOF_MARKERS
    pos += 2 + length
  return False


def frame_problem(encoded: bytes, crc32c: int) -> int:
  """FRAME_OK, or why the frame cannot be decoded faithfully (crc32c < 0: no
  stored checksum to compare with)."""
  if (len(encoded) < 4 or encoded[:2] != JPEG_START_MARKER
      or encoded[-2:] != JPEG_END_MARKER):
    return FRAME_INCOMPLETE
  if not jpeg_header_ok(encoded):
    return FRAME_BAD_HEADER
  if crc32c >= 0 and frame_crc32c(encoded) != crc32c:
    return FRAME_BAD_CHECKSUM
  return FRAME_OK


def tf_frame_problems(encoded, crc32c):
  """`frame_problem` of each frame: bytes [N], stored checksums [N] (-1 = none)
  -> int32 [N]. One host call per clip: the header walk and google-crc32c's C
  CRC cost a fraction of the frames' decode."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def problems(values, crcs):
    return np.array([frame_problem(v, int(c)) for v, c in zip(values, crcs)],
                    np.int32)

  result = tf.numpy_function(problems, [encoded, crc32c], tf.int32, stateful=False)
  return tf.reshape(result, tf.shape(encoded))
