"""Parsed video -> model-ready clip (training) or views (evaluation).

The steps, in DMVR's order (sample before decode):
  1. temporal sampling (`temporal_sampling`): one shared set of frame
     indices for RGB and flow;
  2. check that every sampled frame is a complete JPEG whose header parses
     and, where the record stores them, matches its CRC32C
     (`schema.frame_problem`), so no decoder error ever goes unnamed; then
     decode only the sampled frames (each distinct frame once);
  3. stack RGB and flow channels into one uint8 tensor, so that
  4. resize + crop (+ flip) act on both identically (`spatial_transforms`);
  5. map to [-1, 1] (flow = displacement / 20, clipped), colour jitter on
     RGB only (`color_jitter`).

Problems found here (bad JPEG bytes named with their frame, RGB and flow
frames of different sizes) and the parse problems carried in `video['error']` go through the
`BadExamplePolicy`: an error naming the file, record and field, or a logged
skip (the clip is then returned with ok=False and dummy pixels).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
import tensorflow as tf

from data_pipelines import bad_examples
from data_pipelines import color_jitter
from data_pipelines import schema
from data_pipelines import spatial_transforms as st
from data_pipelines import temporal_sampling


@dataclasses.dataclass(frozen=True)
class ClipOptions:
  """The clip-shaping fields of `config.input` (see input_config.py)."""
  modalities: tuple[str, ...]
  num_frames: int
  stride: int
  min_resize: int
  crop_size: int
  multi_scale_crop: bool
  multi_scale_crop_scales: tuple[float, ...]
  multi_scale_max_distort: int
  random_flip: bool
  color_jitter_prob: float
  brightness: float
  contrast: float
  saturation: float
  hue: float
  num_test_clips: int
  num_test_crops: int
  eval_num_frames: int | None = None
  eval_max_frames: int = 250
  # Not a config field: False for sources whose frames may not be JPEG.
  check_jpeg_markers: bool = True

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'ClipOptions':
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
      if field.name not in config:
        continue
      value = config[field.name]
      values[field.name] = tuple(value) if isinstance(value, (list, tuple)
                                                      ) else value
    # Fixed stream order inside the clip tensor: RGB channels, then flow.
    values['modalities'] = tuple(m for m in ('rgb', 'flow')
                                 if m in values['modalities'])
    return cls(**values)

  @property
  def layout(self) -> st.ChannelLayout:
    return st.ChannelLayout.for_modalities(self.modalities)

  @property
  def num_views(self) -> int:
    return self.num_test_clips * self.num_test_crops

  @property
  def eval_frames(self) -> int:
    """Frames of an eval view (input_config.eval_frames: 0 = eval_max_frames)."""
    if self.eval_num_frames is None:
      return self.num_frames
    return self.eval_max_frames if self.eval_num_frames == 0 else (
        self.eval_num_frames)


def _frame_check(video: dict[str, tf.Tensor], modality: str,
                 indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """(all ok, message naming the first bad frame) for the frames at `indices`.

  Checked before decoding, so that no decoder error (which names no record)
  is raised: start / end markers, the header's marker segments, and, when the
  record carries them, the frames' CRC32C checksums (`schema.frame_problem`).
  """
  encoded = tf.gather(video[modality], indices)
  stored = video.get(f'{modality}_crc32c')
  expected = tf.fill(tf.shape(indices), tf.constant(-1, tf.int64))
  if stored is not None:
    expected = tf.cond(tf.size(stored) > 0, lambda: tf.gather(stored, indices),
                       lambda: expected)
  problems = schema.tf_frame_problems(encoded, expected)
  bad = tf.argmax(tf.cast(problems > 0, tf.int32))  # The first bad frame.
  reasons = tf.constant([
      '',
      ' is not a complete JPEG (missing start or end marker: truncated or corrupt)',
      ' has a damaged JPEG header (its marker segments do not parse up to the '
      'image data)',
      f' does not match its checksum in {schema.CRC_KEYS[modality]} (its bytes '
      'changed after writing)'])
  message = bad_examples.describe(
      video['file'], video['record'], schema.MODALITY_KEYS[modality],
      tf.strings.join(['frame ', tf.strings.as_string(tf.gather(indices, bad)),
                       tf.gather(reasons, problems[bad])]))
  return tf.reduce_all(problems == schema.FRAME_OK), message


def decode_clip(video: dict[str, tf.Tensor], indices: tf.Tensor,
                opts: ClipOptions, policy: bad_examples.BadExamplePolicy
                ) -> tuple[tf.Tensor, tf.Tensor]:
  """Decodes the frames at `indices` of every stream into [K, H, W, C] uint8.

  Returns (frames, ok). ok is False (and frames a 1x1 dummy) when the record
  is bad and the policy skips it; in strict mode a bad record raises.
  """
  video_error = video['error']
  checks = [(tf.equal(video_error, ''), video_error)]
  # Markers are only meaningful once the parse checks passed (the gather
  # needs the feature lists to exist).
  parse_ok = tf.equal(video_error, '')
  for modality in (opts.modalities if opts.check_jpeg_markers else ()):
    safe = tf.where(parse_ok, indices, tf.zeros_like(indices))
    ok_m, message = tf.cond(
        parse_ok & (tf.size(video[modality]) > 0),
        lambda m=modality, i=safe: _frame_check(video, m, i),
        lambda: (tf.constant(True), tf.constant('')))
    checks.append((ok_m, message))
  ok = policy.apply(bad_examples.first_error(*checks))
  unique, position = tf.unique(indices)
  channels = {'rgb': 3, 'flow': 2}

  def decode_all():
    return [tf.gather(schema.tf_decode_frames(tf.gather(video[m], unique), m),
                      position) for m in opts.modalities]

  def dummy():
    return [tf.zeros([tf.size(indices), 1, 1, channels[m]], tf.uint8)
            for m in opts.modalities]

  parts = tf.cond(ok, decode_all, dummy)
  if len(parts) == 1:
    return parts[0], ok
  rgb_hw, flow_hw = tf.shape(parts[0])[1:3], tf.shape(parts[1])[1:3]
  same = tf.reduce_all(tf.equal(rgb_hw, flow_hw))
  size_error = tf.where(same, '', bad_examples.describe(
      video['file'], video['record'], f'{schema.RGB_KEY} / {schema.FLOW_KEY}',
      tf.strings.join([
          'RGB frames are ', tf.strings.as_string(rgb_hw[0]), 'x',
          tf.strings.as_string(rgb_hw[1]), ' but flow frames are ',
          tf.strings.as_string(flow_hw[0]), 'x',
          tf.strings.as_string(flow_hw[1])])))
  ok &= policy.apply(size_error)
  frames = tf.cond(
      same, lambda: tf.concat(parts, axis=-1),
      lambda: tf.zeros([tf.size(indices), 1, 1, 5], tf.uint8))
  return frames, ok


def _num_usable_frames(video: dict[str, tf.Tensor],
                       opts: ClipOptions) -> tf.Tensor:
  lengths = {m: tf.size(video[m]) for m in opts.modalities}
  return temporal_sampling.usable_length(lengths, opts.modalities)


def train_clip(video: dict[str, tf.Tensor], seed: tf.Tensor,
               opts: ClipOptions, policy: bad_examples.BadExamplePolicy
               ) -> dict[str, tf.Tensor]:
  """One randomly sampled and augmented clip: {rgb?, flow?, label, ok}."""
  seeds = tf.random.experimental.stateless_split(seed, 4)
  length = _num_usable_frames(video, opts)
  indices = temporal_sampling.train_indices(length, opts.num_frames,
                                            opts.stride, seeds[0])
  frames, ok = decode_clip(video, indices, opts, policy)
  shape = tf.shape(frames)
  h, w = st.resized_size(shape[1], shape[2], opts.min_resize)
  if opts.multi_scale_crop:
    box = st.multi_scale_crop_box(h, w, opts.multi_scale_crop_scales,
                                  opts.multi_scale_max_distort, seeds[1])
  else:
    box = st.random_crop_box(h, w, opts.crop_size, seeds[1])
  layout = opts.layout
  clip = st.crop(frames, [box], min_resize=opts.min_resize,
                 out_size=opts.crop_size, layout=layout)[0]
  clip = st.to_model_range(clip, layout)
  if opts.random_flip:
    flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
    clip = tf.cond(flip, lambda: st.flip_left_right(clip, layout),
                   lambda: clip)
  out = layout.split(clip)
  if 'rgb' in out:
    out['rgb'] = color_jitter.jitter(
        out['rgb'], seeds[3], prob=opts.color_jitter_prob,
        brightness=opts.brightness, contrast=opts.contrast,
        saturation=opts.saturation, hue=opts.hue)
  for key, value in out.items():
    value.set_shape([opts.num_frames, opts.crop_size, opts.crop_size,
                     value.shape[-1]])
  out['label'] = video['label']
  out['ok'] = ok
  return out


def eval_views(video: dict[str, tf.Tensor], opts: ClipOptions,
               policy: bad_examples.BadExamplePolicy
               ) -> dict[str, tf.Tensor]:
  """All views of a video, view-major: {rgb?, flow?} [V, T, S, S, C], ok.

  View v = clip * num_test_crops + crop; clips of `opts.eval_frames` frames
  are evenly spaced in time, crops are the centre square or start/centre/end
  along the long side. The whole-video protocol (eval_num_frames=0) is the
  one clip of eval_max_frames frames: the whole video, looped when shorter,
  its centre when longer (input_config.py says why).
  """
  length = _num_usable_frames(video, opts)
  t = opts.eval_frames
  indices = temporal_sampling.eval_indices(length, t, opts.stride,
                                           opts.num_test_clips)
  frames, ok = decode_clip(video, tf.reshape(indices, [-1]), opts, policy)
  shape = tf.shape(frames)
  h, w = st.resized_size(shape[1], shape[2], opts.min_resize)
  if opts.num_test_crops == 1:
    boxes = [st.center_crop_box(h, w, opts.crop_size)]
  else:
    boxes = st.three_crop_boxes(h, w, opts.crop_size)
  layout = opts.layout
  s = opts.crop_size
  views = st.crop(frames, boxes, min_resize=opts.min_resize, out_size=s,
                  layout=layout)  # [crops, clips * T, S, S, C]
  views = tf.reshape(views, [len(boxes), opts.num_test_clips, t, s, s,
                             layout.num_channels])
  views = tf.transpose(views, [1, 0, 2, 3, 4, 5])
  views = tf.reshape(views, [opts.num_views, t, s, s, layout.num_channels])
  out = layout.split(st.to_model_range(views, layout))
  out['ok'] = ok
  return out
