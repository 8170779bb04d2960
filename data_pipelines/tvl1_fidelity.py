r"""How close the JAX TV-L1 (`tvl1_jax`) is to OpenCV's, and each to the truth.

  python -m data_pipelines.tvl1_fidelity --size=96 --pairs=3

For each case of `tvl1_cases` (synthetic motion videos, the real footage in
tests/data/tvl1_real, random smooth warps of textured images) it computes
the flow of every pair with both backends at the given TV-L1 parameters
(OpenCV's defaults unless `--tvl1_*` flags say otherwise) and prints the
end-point error (EPE, px, over all pixels of all pairs) between them, and
the mean EPE of each against the true motion where it is known.
"""

from __future__ import annotations

import time
from typing import Sequence

from absl import app
from absl import flags
import numpy as np

from data_pipelines import tvl1
from data_pipelines import tvl1_cases
from data_pipelines import tvl1_jax

_SIZE = flags.DEFINE_integer('size', 96, 'Frame side of the synthetic and '
                             'smooth-warp cases (the real clip keeps its '
                             'own 240x180).')
_PAIRS = flags.DEFINE_integer('pairs', 3, 'Pairs per synthetic / warp case.')
_CASES = flags.DEFINE_list('cases', ['synthetic', 'real', 'smooth_warp'],
                           'Cases to run.')


def epe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """End-point error |a - b| per pixel of two [..., 2] flow fields."""
  return np.linalg.norm(a - b, axis=-1)


def compare(pairs: tvl1_cases.FramePairs,
            params: tvl1.TVL1Params) -> dict[str, float]:
  """EPE statistics of JAX vs OpenCV (and vs truth) on `pairs`."""
  videos = [np.stack([a, b]) for a, b in zip(pairs.first, pairs.second)]
  start = time.perf_counter()
  reference = np.concatenate([tvl1.compute_flow(v, params) for v in videos])
  opencv_s = time.perf_counter() - start
  start = time.perf_counter()
  ours = np.concatenate(tvl1_jax.compute_flows(videos, params, len(videos)))
  jax_s = time.perf_counter() - start
  diff = epe(ours, reference)
  row = {'pairs': len(videos), 'size': 'x'.join(map(str, ours.shape[1:3])),
         'median': float(np.median(diff)), 'mean': float(diff.mean()),
         'p99': float(np.percentile(diff, 99)), 'max': float(diff.max()),
         'opencv_s': opencv_s, 'jax_s_with_compile': jax_s}
  if pairs.true_flow is not None:
    row['opencv_vs_truth'] = float(epe(reference, pairs.true_flow).mean())
    row['jax_vs_truth'] = float(epe(ours, pairs.true_flow).mean())
  return row


def main(argv: Sequence[str]) -> None:
  del argv
  params = tvl1.params_from_flags()
  makers = {
      'synthetic': lambda: tvl1_cases.synthetic_pairs(_SIZE.value,
                                                      _PAIRS.value),
      'real': tvl1_cases.real_pairs,
      'smooth_warp': lambda: tvl1_cases.smooth_warp_pairs(_SIZE.value,
                                                          _PAIRS.value),
  }
  unknown = sorted(set(_CASES.value) - set(makers))
  if unknown:
    raise app.UsageError(f'--cases: unknown {unknown}; choose from '
                         f'{sorted(makers)}')
  print(f'TV-L1 parameters: {params}')
  print('| case | pairs | size | JAX vs OpenCV EPE median / mean / p99 / max '
        '(px) | OpenCV vs truth (mean EPE) | JAX vs truth (mean EPE) |')
  print('|---|---|---|---|---|---|')
  for name in _CASES.value:
    r = compare(makers[name](), params)
    truth = (f"{r['opencv_vs_truth']:.3f} | {r['jax_vs_truth']:.3f}"
             if 'jax_vs_truth' in r else '- | -')
    print(f"| {name} | {r['pairs']} | {r['size']} | {r['median']:.4f} / "
          f"{r['mean']:.4f} / {r['p99']:.3f} / {r['max']:.3f} | {truth} |",
          flush=True)


if __name__ == '__main__':
  tvl1.define_flags()
  app.run(main)
