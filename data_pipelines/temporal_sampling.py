"""Which frames make a clip: random windows in training, evenly spaced in eval.

A clip is `num_frames` frames taken every `stride` frames, so it spans
`(num_frames - 1) * stride + 1` frames of the video. Videos shorter than
that LOOP: frame indices wrap around to the start (index mod length), as
DMVR's `sample_sequence` does; this keeps every clip full-length without
padding frames.

RGB and flow share the indices: flow frame i is the motion from RGB frame i
to i + 1, so the usable length of a video with both is its number of flow
frames (one less than RGB); see `usable_length`.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def clip_span(num_frames: int, stride: int) -> int:
  return (num_frames - 1) * stride + 1


def usable_length(lengths: dict[str, tf.Tensor],
                  modalities: Sequence[str]) -> tf.Tensor:
  """Frames that can be sampled: the shortest requested stream (>= 1)."""
  n = tf.reduce_min(tf.stack([tf.cast(lengths[m], tf.int32)
                              for m in modalities]))
  return tf.maximum(n, 1)


def train_indices(length: tf.Tensor, num_frames: int, stride: int,
                  seed: tf.Tensor) -> tf.Tensor:
  """[num_frames] int32: a window at a uniformly random start.

  The start is drawn from [0, length - span] (0 when the video is shorter
  than the span, which then loops).
  """
  max_start = tf.maximum(length - clip_span(num_frames, stride), 0)
  start = tf.random.stateless_uniform([], seed, minval=0,
                                      maxval=max_start + 1, dtype=tf.int32)
  return (start + tf.range(num_frames) * stride) % length


def eval_indices(length: tf.Tensor, num_frames: int, stride: int,
                 num_clips: int) -> tf.Tensor:
  """[num_clips, num_frames] int32: evenly spaced windows.

  One clip is the centre window; several are spread from the first to the
  last possible start (`linspace`, as DMVR's `sample_linspace_sequence`).
  """
  max_start = tf.maximum(length - clip_span(num_frames, stride), 0)
  if num_clips == 1:
    starts = tf.reshape(max_start // 2, [1])
  else:
    starts = tf.cast(tf.round(tf.linspace(
        0.0, tf.cast(max_start, tf.float32), num_clips)), tf.int32)
  offsets = tf.range(num_frames) * stride
  return (starts[:, None] + offsets[None, :]) % length
