"""TV-L1 flow recovers known motion (direction and magnitude)."""

import cv2
import numpy as np
import pytest

from data_pipelines import synthetic
from data_pipelines import tvl1


def _translating_texture(dx, dy, frames=4, size=40):
  rng = np.random.default_rng(0)
  big = cv2.GaussianBlur(rng.uniform(0, 255, (size * 2, size * 2, 3)).astype(
      np.float32), (0, 0), 1.5).astype(np.uint8)
  out = []
  for t in range(frames):
    # Content moves by (+dx, +dy) per frame: sample a window moving by -d.
    y0, x0 = size // 2 - dy * t, size // 2 - dx * t
    out.append(big[y0:y0 + size, x0:x0 + size])
  return np.stack(out)


@pytest.mark.parametrize('params', [tvl1.TVL1Params(), tvl1.TVL1Params.fast()],
                         ids=['opencv_defaults', 'fast'])
def test_translation_direction_and_magnitude(params):
  frames = _translating_texture(dx=2, dy=-1)
  flow = tvl1.compute_flow(frames, params)
  assert flow.shape == (3, 40, 40, 2) and flow.dtype == np.float32
  inner = flow[:, 8:-8, 8:-8]  # away from the borders (content enters there)
  # Tolerance: median within 0.1 px of the true (2, -1) px per frame.
  np.testing.assert_allclose(np.median(inner[..., 0]), 2.0, atol=0.1)
  np.testing.assert_allclose(np.median(inner[..., 1]), -1.0, atol=0.1)


def test_flow_does_not_depend_on_the_sizes_computed_before():
  # OpenCV's solver lowers its pyramid depth for good after frames too small
  # for it; a solver shared across sizes made this 40x40 flow 1.36 px, not 2.
  frames = _translating_texture(dx=2, dy=-1)
  params = tvl1.TVL1Params.fast()
  tvl1._solver.cache_clear()  # pylint: disable=protected-access
  fresh = tvl1.compute_flow(frames, params)
  tvl1.compute_flow(_translating_texture(dx=1, dy=0, size=16), params)
  np.testing.assert_array_equal(tvl1.compute_flow(frames, params), fresh)


def test_synthetic_motion_matches_true_flow():
  opts = synthetic.RenderOptions(num_frames=6, height=32, width=32,
                                 max_objects=1)
  for motion in ('right', 'up', 'rotate_cw', 'expand'):
    frames, true_flow = synthetic.render_video(
        motion, np.random.default_rng(5), opts, with_true_flow=True)
    flow = tvl1.compute_flow(frames, tvl1.TVL1Params.fast())
    moving = np.linalg.norm(true_flow, axis=-1) > 0.2
    assert moving.sum() > 20, motion
    epe = np.linalg.norm(flow - true_flow, axis=-1)[moving].mean()
    # Tolerance: mean end-point error on moving pixels under 0.7 px
    # (measured 0.15-0.6 px on 32x32 frames).
    assert epe < 0.7, (motion, epe)
    cosine = (flow * true_flow).sum() / np.sqrt(
        (flow**2).sum() * (true_flow**2).sum())
    assert cosine > 0.2, (motion, cosine)  # measured 0.3-0.9


def test_rejects_bad_input():
  with pytest.raises(ValueError, match='at least 2 frames'):
    tvl1.compute_flow(np.zeros((1, 8, 8, 3), np.uint8))
  with pytest.raises(ValueError, match='uint8'):
    tvl1.compute_flow(np.zeros((3, 8, 8, 3), np.float32))
