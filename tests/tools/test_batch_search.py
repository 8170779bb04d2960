"""--batch=auto's search: doubling, then bisection, on a monotone "fits" predicate."""

import pytest

from d3d_jax.tools import batch_search


def _recording(limit: int):
  """A fake device on which batches up to `limit` fit; records every batch tried."""
  tried = []

  def fits(batch: int) -> bool:
    tried.append(batch)
    return batch <= limit

  return fits, tried


def test_doubles_then_bisects_to_the_largest_fitting_batch():
  fits, tried = _recording(37)
  assert batch_search.largest_fitting_batch(fits, max_batch=256) == 37
  assert tried == [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]


def test_stops_at_max_batch_when_everything_fits():
  fits, tried = _recording(10_000)
  assert batch_search.largest_fitting_batch(fits, max_batch=100) == 100
  assert tried == [1, 2, 4, 8, 16, 32, 64, 100]


def test_a_power_of_two_limit_needs_one_failed_doubling_only():
  fits, tried = _recording(16)
  assert batch_search.largest_fitting_batch(fits, max_batch=256) == 16
  assert tried == [1, 2, 4, 8, 16, 32, 24, 20, 18, 17]


def test_nothing_fits_is_an_error():
  fits, _ = _recording(0)
  with pytest.raises(ValueError, match="a batch of 1 does not fit"):
    batch_search.largest_fitting_batch(fits, max_batch=8)


def test_xla_resource_exhausted_is_out_of_memory():
  error = RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9.1GiB.")
  assert batch_search.is_out_of_memory(error)
  assert not batch_search.is_out_of_memory(ValueError("INVALID_ARGUMENT: shape mismatch"))
