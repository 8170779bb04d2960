"""Colour jitter for RGB clips (never flow): one random draw per clip.

The same brightness / contrast / saturation / hue change is applied to
every frame of a clip (per-frame jitter would add fake motion), with
probability `prob`. Stateless random ops keep it reproducible per seed.
"""

from __future__ import annotations

import tensorflow as tf


def jitter(rgb: tf.Tensor, seed: tf.Tensor, *, prob: float, brightness: float,
           contrast: float, saturation: float, hue: float) -> tf.Tensor:
  """rgb float [..., H, W, 3] in [-1, 1] -> jittered, same range."""
  if prob <= 0:
    return rgb
  seeds = tf.random.experimental.stateless_split(seed, 5)
  u = tf.random.stateless_uniform([], seeds[0])

  def apply():
    x = (rgb + 1.0) / 2.0
    if brightness:
      x += tf.random.stateless_uniform([], seeds[1], -brightness, brightness)
    if contrast:
      x = tf.image.adjust_contrast(x, tf.random.stateless_uniform(
          [], seeds[2], 1 - contrast, 1 + contrast))
    if saturation:
      x = tf.image.adjust_saturation(x, tf.random.stateless_uniform(
          [], seeds[3], 1 - saturation, 1 + saturation))
    if hue:
      x = tf.image.adjust_hue(x, tf.random.stateless_uniform(
          [], seeds[4], -hue, hue))
    return tf.clip_by_value(x, 0.0, 1.0) * 2.0 - 1.0

  return tf.cond(u < prob, apply, lambda: rgb)
