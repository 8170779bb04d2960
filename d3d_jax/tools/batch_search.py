"""The largest batch that fits in device memory: doubling, then bisection.

``largest_fitting_batch(fits)`` calls ``fits(batch)`` on 1, 2, 4, ... until one fails
(or `max_batch` is reached), then bisects between the last batch that fit and the first
that did not, so it needs about 2 log2(answer) tries. `fits` builds and runs one train
step and returns False when it runs out of memory (`is_out_of_memory`), so each try costs
one compile; the search assumes that a batch fits iff every smaller one does.
"""

from typing import Callable

# How XLA reports an allocation that does not fit (GPU / TPU: the status code; the
# allocator messages as a fallback for backends that word it differently).
_OUT_OF_MEMORY_MARKERS = ("RESOURCE_EXHAUSTED", "Out of memory", "out of memory")


def is_out_of_memory(error: BaseException) -> bool:
  """Whether `error` is XLA's report of a device allocation that did not fit."""
  return any(marker in str(error) for marker in _OUT_OF_MEMORY_MARKERS)


def largest_fitting_batch(fits: Callable[[int], bool], max_batch: int,
                          start: int = 1) -> int:
  """The largest batch b in [start, max_batch] with ``fits(b)``, fits being monotone.

  Raises ValueError when even `start` does not fit.
  """
  if not 1 <= start <= max_batch:
    raise ValueError(f"need 1 <= start <= max_batch, got start={start}, max_batch={max_batch}")
  if not fits(start):
    raise ValueError(f"a batch of {start} does not fit in device memory")
  good, bad = start, None
  while bad is None and good < max_batch:
    candidate = min(2 * good, max_batch)
    if fits(candidate):
      good = candidate
    else:
      bad = candidate
  if bad is None:
    return good
  while bad - good > 1:
    middle = (good + bad) // 2
    if fits(middle):
      good = middle
    else:
      bad = middle
  return good
