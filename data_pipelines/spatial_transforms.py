"""Resize, crop and flip a clip's RGB and flow together, in one sampling op.

A clip is a uint8 tensor [N, H, W, C] whose channels are the RGB channels
and/or the two flow channels (x, y) of the same frames; every geometric
operation therefore hits RGB and flow identically, so they always share the
crop and the flip.

The short-side resize and the crop are fused: a crop box is chosen in the
coordinates of the resized frame, mapped back to the stored frame, and
sampled bilinearly with `tf.image.crop_and_resize`, which computes only the
output pixels (no full-size float copy of 64 frames). Sampling is
half-pixel-centred, like `tf.image.resize`. Flow values are displacements in
pixels, so they are scaled by the same factor as the geometry
(`flow_scale`), and a horizontal flip negates flow x.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import tensorflow as tf

from data_pipelines import schema


@dataclasses.dataclass(frozen=True)
class ChannelLayout:
  """Where RGB and flow sit in the channel axis of a clip tensor."""
  has_rgb: bool
  has_flow: bool

  @classmethod
  def for_modalities(cls, modalities: Sequence[str]) -> 'ChannelLayout':
    return cls('rgb' in modalities, 'flow' in modalities)

  @property
  def num_channels(self) -> int:
    return 3 * self.has_rgb + 2 * self.has_flow

  @property
  def flow_x(self) -> int:
    return 3 if self.has_rgb else 0

  def split(self, clip: tf.Tensor) -> dict[str, tf.Tensor]:
    out = {}
    if self.has_rgb:
      out['rgb'] = clip[..., :3]
    if self.has_flow:
      out['flow'] = clip[..., self.flow_x:self.flow_x + 2]
    return out


@dataclasses.dataclass
class Box:
  """A crop window in resized-frame pixels: offset and size (float32)."""
  y: tf.Tensor
  x: tf.Tensor
  height: tf.Tensor
  width: tf.Tensor


def resized_size(height: tf.Tensor, width: tf.Tensor,
                 min_resize: int) -> tuple[tf.Tensor, tf.Tensor]:
  """(height, width) after resizing the short side to min_resize (0: keep)."""
  h = tf.cast(height, tf.float32)
  w = tf.cast(width, tf.float32)
  if not min_resize:
    return h, w
  scale = min_resize / tf.minimum(h, w)
  return tf.round(h * scale), tf.round(w * scale)


def random_crop_box(h: tf.Tensor, w: tf.Tensor, crop_size: int,
                    seed: tf.Tensor) -> Box:
  """A crop_size square at a uniformly random integer offset."""
  c = tf.constant(float(crop_size))
  u = tf.random.stateless_uniform([2], seed)
  y = tf.floor(u[0] * (tf.maximum(h - c, 0.0) + 1.0))
  x = tf.floor(u[1] * (tf.maximum(w - c, 0.0) + 1.0))
  return Box(y, x, tf.minimum(c, h), tf.minimum(c, w))


def multi_scale_crop_box(h: tf.Tensor, w: tf.Tensor, scales: Sequence[float],
                         max_distort: int, seed: tf.Tensor) -> Box:
  """TSN's multi-scale crop: random (height, width) scale pair, random place.

  Both sides are scales[i] * short side with |i - j| <= max_distort; the
  box is later resized to the crop size (which rescales flow).
  """
  pairs = [(i, j) for i in range(len(scales)) for j in range(len(scales))
           if abs(i - j) <= max_distort]
  table = tf.constant([[scales[i], scales[j]] for i, j in pairs], tf.float32)
  seeds = tf.random.experimental.stateless_split(seed, 2)
  pick = tf.random.stateless_uniform([], seeds[0], 0, len(pairs), tf.int32)
  short = tf.minimum(h, w)
  ch = tf.round(short * table[pick, 0])
  cw = tf.round(short * table[pick, 1])
  u = tf.random.stateless_uniform([2], seeds[1])
  return Box(tf.floor(u[0] * (h - ch + 1.0)), tf.floor(u[1] * (w - cw + 1.0)),
             ch, cw)


def center_crop_box(h: tf.Tensor, w: tf.Tensor, crop_size: int) -> Box:
  c = tf.constant(float(crop_size))
  return Box(tf.floor(tf.maximum(h - c, 0.0) / 2),
             tf.floor(tf.maximum(w - c, 0.0) / 2),
             tf.minimum(c, h), tf.minimum(c, w))


def three_crop_boxes(h: tf.Tensor, w: tf.Tensor, crop_size: int) -> list[Box]:
  """Start, centre and end squares along the long side (SlowFast's 3 crops)."""
  c = tf.constant(float(crop_size))
  centre = center_crop_box(h, w, crop_size)
  landscape = w >= h
  boxes = []
  for frac in (0.0, 0.5, 1.0):
    along_w = tf.floor(tf.maximum(w - c, 0.0) * frac)
    along_h = tf.floor(tf.maximum(h - c, 0.0) * frac)
    boxes.append(Box(tf.where(landscape, centre.y, along_h),
                     tf.where(landscape, along_w, centre.x),
                     centre.height, centre.width))
  return boxes


def _normalised_box(box: Box, stored_h: tf.Tensor, stored_w: tf.Tensor,
                    resized_h: tf.Tensor, resized_w: tf.Tensor,
                    out_size: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """crop_and_resize box [4] sampling `box` of the resized frame, and the
  output-pixel size in stored pixels along y and x."""
  def axis(offset, length, stored, resized):
    step = length / out_size * stored / resized  # stored px per output px
    first = (offset + 0.5 * length / out_size) * stored / resized - 0.5
    last = first + (out_size - 1) * step
    first = tf.clip_by_value(first, 0.0, stored - 1.0)
    last = tf.clip_by_value(last, 0.0, stored - 1.0)
    denom = tf.maximum(stored - 1.0, 1.0)
    return first / denom, last / denom, step
  y1, y2, step_y = axis(box.y, box.height, stored_h, resized_h)
  x1, x2, step_x = axis(box.x, box.width, stored_w, resized_w)
  return tf.stack([y1, x1, y2, x2]), step_y, step_x


def crop(frames: tf.Tensor, boxes: Sequence[Box], *, min_resize: int,
         out_size: int, layout: ChannelLayout) -> tf.Tensor:
  """Samples every box of every frame: [N,H,W,C] uint8 -> [B,N,S,S,C] float.

  Values stay in the stored 0..255 scale except flow, which is rescaled to
  output pixels (see `to_model_range`). B = len(boxes), S = out_size.
  """
  shape = tf.shape(frames)
  n = shape[0]
  stored_h = tf.cast(shape[1], tf.float32)
  stored_w = tf.cast(shape[2], tf.float32)
  resized_h, resized_w = resized_size(shape[1], shape[2], min_resize)
  norm, scale_y, scale_x = [], [], []
  for box in boxes:
    b, sy, sx = _normalised_box(box, stored_h, stored_w, resized_h,
                                resized_w, out_size)
    norm.append(b)
    scale_y.append(sy)
    scale_x.append(sx)
  num_boxes = len(boxes)
  box_table = tf.repeat(tf.stack(norm), n, axis=0)  # [B*N, 4]
  frame_ids = tf.tile(tf.range(n), [num_boxes])
  out = tf.image.crop_and_resize(frames, box_table, frame_ids,
                                 [out_size, out_size], method='bilinear')
  out = tf.reshape(out, [num_boxes, n, out_size, out_size,
                         layout.num_channels])
  if layout.has_flow:
    # Displacement in output pixels = stored displacement / output pixel
    # size; done on values centred at 127.5 (zero motion).
    ones = [1.0] * layout.num_channels
    factors = []
    for sy, sx in zip(scale_y, scale_x):
      f = tf.unstack(tf.constant(ones))
      f[layout.flow_x] = 1.0 / sx
      f[layout.flow_x + 1] = 1.0 / sy
      factors.append(tf.stack(f))
    factors = tf.reshape(tf.stack(factors),
                         [num_boxes, 1, 1, 1, layout.num_channels])
    is_flow = tf.reshape(tf.constant(
        [layout.flow_x <= i < layout.flow_x + 2
         for i in range(layout.num_channels)]), [1, 1, 1, 1, -1])
    out = tf.where(is_flow, (out - 127.5) * factors + 127.5, out)
  return out


def flip_left_right(clip: tf.Tensor, layout: ChannelLayout) -> tf.Tensor:
  """Mirrors [..., H, W, C] along W; flow x changes sign (model range)."""
  flipped = tf.reverse(clip, axis=[-2])
  if not layout.has_flow:
    return flipped
  sign = [1.0] * layout.num_channels
  sign[layout.flow_x] = -1.0
  return flipped * tf.constant(sign)


def to_model_range(clip: tf.Tensor, layout: ChannelLayout) -> tf.Tensor:
  """0..255-scale values -> [-1, 1]; flow clipped (it is displacement / 20)."""
  out = schema.tf_to_model_range(clip)
  if layout.has_flow:
    out = tf.clip_by_value(out, -1.0, 1.0)
  return out
