"""Keeps TensorFlow off the accelerators: it only feeds JAX from the CPU.

Without this, TensorFlow grabs GPU memory (or claims the TPU) on first use
and JAX then fails or runs out of memory. Called when the input pipeline is
imported, before any TensorFlow op runs.
"""

from __future__ import annotations

from absl import logging
import tensorflow as tf

_DONE = False


def hide_accelerators() -> None:
  """Makes GPUs and TPUs invisible to TensorFlow (idempotent)."""
  global _DONE
  if _DONE:
    return
  for kind in ('GPU', 'TPU'):
    try:
      tf.config.set_visible_devices([], kind)
    except (RuntimeError, ValueError) as e:
      # RuntimeError: devices were initialised already (TF used before us).
      logging.warning('Could not hide %s devices from TensorFlow: %s', kind, e)
  _DONE = True
