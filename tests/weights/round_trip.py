"""Round trips: a tiny network's random variables -> a format's file -> import -> logits."""

import numpy as np

from d3d_jax import weights as ci
from tests.weights import tiny_models as tiny


def assert_round_trip(format_name, model, path, seed, **options) -> str:
  """Exports random variables, imports them back; asserts identical variables and logits.

  Returns the written path, for checks of the file itself.
  """
  params, batch_stats = tiny.random_variables(model, seed=seed, **options)
  written = ci.export_checkpoint(format_name, str(path), params, batch_stats)
  loaded_params, loaded_stats, _ = ci.import_checkpoint(format_name, written,
                                                        *tiny.template(model, **options))
  for original, loaded in ((params, loaded_params), (batch_stats, loaded_stats)):
    original, loaded = tiny.flat(original), tiny.flat(loaded)
    assert original.keys() == loaded.keys()
    for key in original:
      np.testing.assert_array_equal(loaded[key], original[key], err_msg=key)
  x = tiny.clip()
  logits, _ = tiny.forward(model, params, batch_stats, x, **options)
  loaded_logits, _ = tiny.forward(model, loaded_params, loaded_stats, x, **options)
  assert np.all(np.isfinite(logits)) and np.ptp(logits) > 0
  np.testing.assert_array_equal(loaded_logits, logits)
  return written
