r"""TV-L1 speed: frame pairs per second, OpenCV on one core vs JAX.

  python -m data_pipelines.tvl1_benchmark --sizes=112,224,256 \
      --opencv_pairs=4 --batch_size=8 --repeats=2

Both backends solve the same pairs: random smooth warps of textured images
(`tvl1_cases.smooth_warp_pairs`, motions up to 3 px), at the given TV-L1
parameters (OpenCV's defaults unless `--tvl1_*` flags say otherwise).
OpenCV runs with `cv2.setNumThreads(1)` (one core, as `write_tfrecords`
workers do); JAX runs batches of `--batch_size` pairs on its default device
(all cores of the host on CPU; the accelerator when there is one), timed
after a first call that compiles. Printed: one Markdown table row per size.
"""

from __future__ import annotations

import time
from typing import Sequence

from absl import app
from absl import flags
import cv2
import jax
import numpy as np

from data_pipelines import tvl1
from data_pipelines import tvl1_cases
from data_pipelines import tvl1_jax

_SIZES = flags.DEFINE_list('sizes', ['112', '224', '256'],
                           'Square frame sides to time.')
_OPENCV_PAIRS = flags.DEFINE_integer('opencv_pairs', 4,
                                     'Pairs timed with OpenCV per size.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Pairs per JAX call.')
_REPEATS = flags.DEFINE_integer('repeats', 2, 'Timed JAX calls per size.')
_BACKENDS = flags.DEFINE_list('backends', ['opencv', 'jax'],
                              'Backends to time.')


def opencv_pairs_per_second(pairs: tvl1_cases.FramePairs,
                            params: tvl1.TVL1Params) -> float:
  cv2.setNumThreads(1)
  start = time.perf_counter()
  for a, b in zip(pairs.first, pairs.second):
    tvl1.compute_flow(np.stack([a, b]), params)
  return len(pairs.first) / (time.perf_counter() - start)


def jax_pairs_per_second(pairs: tvl1_cases.FramePairs,
                         params: tvl1.TVL1Params,
                         repeats: int) -> tuple[float, float]:
  """(pairs/s after compilation, seconds of the first call)."""
  i0 = jax.device_put(tvl1.to_gray(pairs.first))
  i1 = jax.device_put(tvl1.to_gray(pairs.second))
  start = time.perf_counter()
  tvl1_jax.tvl1_flow(i0, i1, params).block_until_ready()
  first_call = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(repeats):
    tvl1_jax.tvl1_flow(i0, i1, params).block_until_ready()
  return repeats * len(pairs.first) / (time.perf_counter() - start), (
      first_call)


def main(argv: Sequence[str]) -> None:
  del argv
  params = tvl1.params_from_flags()
  device = jax.devices()[0]
  print(f'TV-L1 parameters: {params}')
  print(f'JAX device: {device.platform} ({device.device_kind}), '
        f'{jax.device_count()} device(s); batch {_BATCH_SIZE.value}')
  print('| size | OpenCV, 1 core (pairs/s) | JAX (pairs/s) | JAX / OpenCV | '
        'JAX first call incl. compile (s) |')
  print('|---|---|---|---|---|')
  for side in map(int, _SIZES.value):
    opencv = jax_rate = first = float('nan')
    if 'opencv' in _BACKENDS.value:
      opencv = opencv_pairs_per_second(
          tvl1_cases.smooth_warp_pairs(side, _OPENCV_PAIRS.value), params)
    if 'jax' in _BACKENDS.value:
      jax_rate, first = jax_pairs_per_second(
          tvl1_cases.smooth_warp_pairs(side, _BATCH_SIZE.value), params,
          _REPEATS.value)
    print(f'| {side}x{side} | {opencv:.2f} | {jax_rate:.2f} | '
          f'{jax_rate / opencv:.2f} | {first:.0f} |', flush=True)


if __name__ == '__main__':
  tvl1.define_flags()
  app.run(main)
