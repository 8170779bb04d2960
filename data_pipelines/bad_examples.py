"""What happens to a bad record: a named error, or a logged and counted skip.

Every check in the pipeline produces an error *message* tensor ('' when the
record is fine) that names the file, the record and the field. A
`BadExamplePolicy` then either raises it (`input.skip_bad_examples=False`:
tf.data stops with `InvalidArgumentError: assertion failed: [<message>]`) or
logs it with a running count and reports the record as not ok, so the caller
can drop it (training) or mask it (evaluation).
"""

from __future__ import annotations

from absl import logging
import tensorflow as tf


def first_error(*checks: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
  """The message of the first failed (ok, message) check, '' if all pass."""
  error = tf.constant('')
  for ok, message in reversed(checks):
    error = tf.where(ok, error, message)
  return error


def describe(file: tf.Tensor, record: tf.Tensor, field: str,
             reason) -> tf.Tensor:
  """'FILE record N: field FIELD: REASON' as a string tensor."""
  return tf.strings.join([
      'Bad example in ', file, ' (record ',
      tf.strings.as_string(record), '): field ', field, ': ', reason])


class BadExamplePolicy:
  """Raises or counts-and-logs bad records (see the module docstring)."""

  def __init__(self, skip: bool, what: str):
    """what: a short name of the pipeline for log lines ('train', 'eval')."""
    self.skip = skip
    self.what = what
    # Counted across the pipeline's lifetime; read with `num_skipped`.
    self._count = tf.Variable(0, dtype=tf.int64, trainable=False,
                              name=f'skipped_{what}')

  @property
  def num_skipped(self) -> int:
    return int(self._count.numpy())

  def apply(self, error: tf.Tensor) -> tf.Tensor:
    """Returns ok (bool scalar); raises in strict mode when error != ''."""
    ok = tf.equal(error, '')
    if not self.skip:
      check = tf.debugging.Assert(ok, [error], summarize=1)
      with tf.control_dependencies([check]):
        return tf.identity(ok)

    def log_skip():
      count = self._count.assign_add(1)
      printed = tf.print(
          'data_pipelines', self.what, ': skipped bad example #', count,
          '(input.skip_bad_examples=True):', error,
          output_stream=logging.warning)
      with tf.control_dependencies([printed]):
        return tf.constant(False)

    return tf.cond(ok, lambda: tf.constant(True), log_skip)
