"""Frame pairs for checking and timing TV-L1: synthetic, real and warped.

Three kinds, each a `FramePairs` of RGB uint8 frames (and the true motion
where it is known), used by `tvl1_fidelity` (JAX vs OpenCV vs truth) and
`tvl1_benchmark` (pairs/s):

* `synthetic_pairs`: the motion videos of `synthetic.py` (translation,
  rotation, expansion of textured objects over a textured background), with
  their exact motion field (`render_video(with_true_flow=True)`);
* `real_pairs`: consecutive frames of real camera footage shipped with the
  tests (`tests/data/tvl1_real/`, a cut of OpenCV's `samples/data/vtest.avi`;
  see the README there);
* `smooth_warp_pairs`: a textured image (blurred noise) I1 and I0 = I1
  sampled at x + u(x) for a random smooth displacement u; then
  I1(x + u(x)) = I0(x) holds exactly, so u is the true flow from I0 to I1.
"""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np

from data_pipelines import synthetic

REAL_FOOTAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'tests', 'data', 'tvl1_real')


@dataclasses.dataclass
class FramePairs:
  """Pairs (first[i], second[i]) of RGB uint8 [N, H, W, 3] frames.

  `true_flow` is float32 [N, H, W, 2] (x, y displacement from first to
  second), or None where the motion is not known.
  """
  name: str
  first: np.ndarray
  second: np.ndarray
  true_flow: np.ndarray | None = None


def synthetic_pairs(size: int, num_videos: int = 3, seed: int = 0,
                    motions=('right', 'rotate_cw', 'expand')) -> FramePairs:
  """One pair (frames 0 -> 1) per video of `synthetic.py`, size x size."""
  opts = synthetic.RenderOptions(num_frames=2, height=size, width=size)
  firsts, seconds, flows = [], [], []
  for i in range(num_videos):
    frames, flow = synthetic.render_video(
        motions[i % len(motions)], synthetic.video_rng(seed, 'tvl1', i), opts,
        with_true_flow=True)
    firsts.append(frames[0])
    seconds.append(frames[1])
    flows.append(flow[0])
  return FramePairs('synthetic', np.stack(firsts), np.stack(seconds),
                    np.stack(flows))


def real_pairs(directory: str = REAL_FOOTAGE_DIR) -> FramePairs:
  """Consecutive frames of the PNG sequence in `directory` (sorted names)."""
  names = sorted(n for n in os.listdir(directory) if n.endswith('.png'))
  if len(names) < 2:
    raise FileNotFoundError(f'{directory}: needs at least 2 .png frames, '
                            f'found {names}')
  frames = np.stack([cv2.imread(os.path.join(directory, n))[..., ::-1]
                     for n in names])
  return FramePairs('real', frames[:-1], frames[1:])


def smooth_warp_pairs(size: int, num_pairs: int = 3, max_motion: float = 3.0,
                      seed: int = 0) -> FramePairs:
  """Textured images and their warps by random smooth displacements.

  u is a 4x4 grid of uniform(-max_motion, max_motion) px, bicubic-upsampled
  to the frame, so it varies smoothly over about a quarter of the image.
  """
  rng = np.random.default_rng(seed)
  grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32),
                               np.arange(size, dtype=np.float32))
  firsts, seconds, flows = [], [], []
  for _ in range(num_pairs):
    texture = cv2.GaussianBlur(
        rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    coarse = rng.uniform(-max_motion, max_motion, (4, 4, 2)).astype(
        np.float32)
    flow = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    warped = cv2.remap(texture, grid_x + flow[..., 0], grid_y + flow[..., 1],
                       cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    firsts.append(np.clip(np.round(warped), 0, 255).astype(np.uint8))
    seconds.append(np.clip(np.round(texture), 0, 255).astype(np.uint8))
    flows.append(flow)
  return FramePairs('smooth_warp', np.stack(firsts), np.stack(seconds),
                    np.stack(flows))
