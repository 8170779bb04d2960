"""TensorFlow as the input pipeline's engine only: off the accelerators, and quiet.

* `hide_accelerators`: without it, TensorFlow grabs GPU memory (or claims the TPU) on
  first use and JAX then fails or runs out of memory. Called when the input pipeline
  is imported, before any TensorFlow op runs.
* `quiet_tensorflow_logs`: TensorFlow's C++ start-up lines (oneDNN, CUDA stub, cuInit
  on a CPU machine, CPU feature guard) and grappler's `op_level_cost_estimator`
  protobuf dumps are written to stderr before absl's C++ logging is initialised, so
  ``TF_CPP_MIN_LOG_LEVEL`` does not hold them back (TensorFlow 2.2x). The CLI entry
  points call this first: stderr then passes through a line filter that drops exactly
  those lines and forwards everything else (Python warnings, tracebacks, absl Python
  logs) unchanged. ``D3D_JAX_TF_LOGS=1`` keeps every line.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

from absl import logging

_HIDDEN = False
_FILTER_THREAD: threading.Thread | None = None

# C++ log lines "<I|W|E>MMDD hh:mm:ss.micros thread file.cc:line] ..." from these
# TensorFlow / XLA sources, and absl's pre-initialisation banner.
_NOISE = re.compile(
    r'^(WARNING: All log messages before absl::InitializeLog\(\) is called are written'
    r' to STDERR'
    r'|To enable the following instructions: .* rebuild TensorFlow with the appropriate'
    r' compiler flags\.'
    r'|[IWE]\d{4} [\d:.]+\s+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|'
    r'cuda_executor|cuda_diagnostics|op_level_cost_estimator|gpu_device)\.cc:\d+\] .*)$')


def is_tensorflow_noise(line: str) -> bool:
  """Whether `line` (without its newline) is one of the start-up / cost-model lines."""
  return bool(_NOISE.match(line))


def quiet_tensorflow_logs() -> None:
  """Filters TensorFlow's C++ noise out of this process's stderr (idempotent).

  Works at the file-descriptor level, so it also covers C++ writes and child
  processes that inherit stderr. Call it before TensorFlow is imported.
  """
  global _FILTER_THREAD
  if _FILTER_THREAD is not None or os.environ.get('D3D_JAX_TF_LOGS') == '1':
    return
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  sys.stderr.flush()
  original = os.dup(2)
  restore = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def forward():
    with os.fdopen(read_end, 'rb') as pipe, os.fdopen(original, 'wb',
                                                      buffering=0) as out:
      for raw in pipe:
        if not is_tensorflow_noise(raw.decode('utf-8', 'replace').rstrip('\r\n')):
          out.write(raw)

  _FILTER_THREAD = threading.Thread(target=forward, name='tf-log-filter',
                                    daemon=True)
  _FILTER_THREAD.start()

  def drain():
    # Pointing fd 2 back at the real stderr closes the pipe's write end, so the
    # filter forwards the lines still queued and ends.
    sys.stderr.flush()
    os.dup2(restore, 2)
    _FILTER_THREAD.join(timeout=2)

  atexit.register(drain)


def hide_accelerators() -> None:
  """Makes GPUs and TPUs invisible to TensorFlow (idempotent)."""
  global _HIDDEN
  if _HIDDEN:
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for kind in ('GPU', 'TPU'):
    try:
      tf.config.set_visible_devices([], kind)
    except (RuntimeError, ValueError) as e:
      # RuntimeError: devices were initialised already (TF used before us).
      logging.warning('Could not hide %s devices from TensorFlow: %s', kind, e)
  _HIDDEN = True
