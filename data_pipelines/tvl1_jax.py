"""TV-L1 optical flow in JAX: OpenCV's `DualTVL1OpticalFlow`, batched and jitted.

The dual TV-L1 scheme of Zach, Pock & Bischof (DAGM 2007) as described by
Sánchez, Meinhardt-Llopis & Facciolo (IPOL 2013, "TV-L1 Optical Flow
Estimation"), step by step as opencv_contrib's `modules/optflow/src/
tvl1flow.cpp` (CPU path) computes it, so that the flow matches the OpenCV
flow the rest of this codebase (`tvl1.py`) stores:

* pyramid: level s+1 is level s resized by `scale_step` with bilinear
  interpolation (OpenCV `resize`, half-pixel centres, edge clamped); levels
  smaller than 16 px on a side are dropped (as OpenCV does);
* per level, `warps` times: I1 and its centred gradient are warped by the
  current flow with bicubic interpolation (OpenCV `remap`, INTER_CUBIC,
  a = -0.75, samples outside the image read 0), the data term is linearised
  (rho);
* per warp, up to `outer_iterations` times: a 5x5 median filter of the flow
  (`median_filtering`, edge replicated), then up to `inner_iterations` times
  the thresholding step TH (IPOL Eq. 18 / Zach Eq. 11, `estimate_v`), the
  primal update u = v + theta div p and the dual (Chambolle) update
  p = (p + tau/theta grad u) / (1 + tau/theta |grad u|) (IPOL Eq. 19-20);
* the stopping rule: OpenCV stops the iterations of a warp once the squared
  change of the flow summed over the image is <= epsilon^2 x pixels. Here the
  same rule is a per-frame-pair mask inside `lax.while_loop`s with the same
  maximum counts, so shapes are static and the whole solver is one `jax.jit`;
  a pair that has converged keeps its flow while others in the batch
  iterate. `epsilon=0` gives fixed iteration counts (the full maximum work).
* the flow is upsampled to the next finer level with bilinear `resize` and
  multiplied by 1 / scale_step; with `gamma > 0` the illumination variable u3
  of Chambolle & Pock's extension is solved alongside (not rescaled).

Known differences from OpenCV, by design or precision: sums and products are
float32 in a different order (XLA fuses and reorders), so a pair whose
convergence error lands within rounding of the threshold may run one inner
iteration more or less; nothing else differs. `warp_interpolation='bilinear'`
is offered for speed (OpenCV's CPU path always uses bicubic; its CUDA
implementation uses bilinear texture fetches by default).

Parameters are `tvl1.TVL1Params` (the same names as the OpenCV path).
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from data_pipelines import tvl1

# Bicubic kernel parameter of OpenCV's INTER_CUBIC.
CUBIC_A = -0.75
# OpenCV stops building the pyramid at a level smaller than this on a side.
MIN_PYRAMID_SIDE = 16


# ---------------------------------------------------------------------------
# Pyramid.


def pyramid_sizes(height: int, width: int, nscales: int,
                  scale_step: float) -> list[tuple[int, int]]:
  """Level sizes (finest first) that OpenCV builds for a `height x width` pair.

  Each level is the previous one times `scale_step`, rounded (OpenCV's
  `resize` with fx = fy = scale_step); the first level under 16 px on a side
  and all below it are dropped, as OpenCV lowers `nscales` there.
  """
  sizes = [(height, width)]
  for _ in range(1, nscales):
    h, w = sizes[-1]
    nh, nw = round(h * scale_step), round(w * scale_step)
    if nh < MIN_PYRAMID_SIDE or nw < MIN_PYRAMID_SIDE:
      break
    sizes.append((nh, nw))
  return sizes


def linear_resize_matrix(in_size: int, out_size: int,
                         scale: float) -> np.ndarray:
  """[out, in] matrix of OpenCV's bilinear `resize` along one axis.

  Output index d samples the input at (d + 0.5) * scale - 0.5 (half-pixel
  centres), with the two neighbours clamped to the image (edge replicate).
  `scale` is input size / output size as OpenCV uses it: 1 / fx when the
  size came from a factor fx, in / out when the size was given.
  """
  pos = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
  lo = np.floor(pos)
  frac = (pos - lo).astype(np.float32)
  lo = lo.astype(np.int64)
  frac = np.where(lo < 0, 0.0, frac)
  matrix = np.zeros((out_size, in_size), np.float32)
  rows = np.arange(out_size)
  np.add.at(matrix, (rows, np.clip(lo, 0, in_size - 1)), 1.0 - frac)
  np.add.at(matrix, (rows, np.clip(lo + 1, 0, in_size - 1)), frac)
  return matrix


def resize_linear(image: jax.Array, out_size: tuple[int, int],
                  scale: tuple[float, float]) -> jax.Array:
  """Bilinear resize of [..., H, W] to `out_size`, as OpenCV's `resize`.

  `scale` is (scale_y, scale_x), input / output in OpenCV's sense (see
  `linear_resize_matrix`). Two small matrix products: fast on accelerators.
  """
  in_h, in_w = image.shape[-2:]
  ry = jnp.asarray(linear_resize_matrix(in_h, out_size[0], scale[0]))
  rx = jnp.asarray(linear_resize_matrix(in_w, out_size[1], scale[1]))
  precision = jax.lax.Precision.HIGHEST
  out = jnp.einsum('oh,...hw->...ow', ry, image, precision=precision)
  return jnp.einsum('...ow,pw->...op', out, rx, precision=precision)


def build_pyramid(image: jax.Array, sizes: Sequence[tuple[int, int]],
                  scale_step: float) -> list[jax.Array]:
  """[..., H, W] image -> one image per size in `sizes` (finest first)."""
  levels = [image]
  for size in sizes[1:]:
    levels.append(resize_linear(levels[-1], size,
                                (1.0 / scale_step, 1.0 / scale_step)))
  return levels


def upsample_flow(u: jax.Array, size: tuple[int, int],
                  scale_step: float) -> jax.Array:
  """Flow component of a coarse level -> the next finer level of `size`.

  OpenCV resizes to the finer level's size (scale = in / out per axis) and
  multiplies the displacement by 1 / scale_step (not by the size ratio).
  """
  h, w = u.shape[-2:]
  return resize_linear(u, size, (h / size[0], w / size[1])) / scale_step


# ---------------------------------------------------------------------------
# Finite differences (the discretisation of tvl1flow.cpp).


def centered_gradient(image: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(d/dx, d/dy) of [..., H, W]: central differences / 2 inside; at the
  border the one-sided difference, also halved (OpenCV's `centeredGradient`)."""
  def along(a, axis):
    a = jnp.moveaxis(a, axis, -1)
    inner = 0.5 * (a[..., 2:] - a[..., :-2])
    first = 0.5 * (a[..., 1:2] - a[..., :1])
    last = 0.5 * (a[..., -1:] - a[..., -2:-1])
    return jnp.moveaxis(jnp.concatenate([first, inner, last], -1), -1, axis)
  return along(image, -1), along(image, -2)


def forward_gradient(u: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(d/dx, d/dy) of [..., H, W] by forward differences, 0 on the last
  column (x) / last row (y): the gradient of IPOL Eq. 24."""
  dx = jnp.pad(u[..., :, 1:] - u[..., :, :-1],
               [(0, 0)] * (u.ndim - 1) + [(0, 1)])
  dy = jnp.pad(u[..., 1:, :] - u[..., :-1, :],
               [(0, 0)] * (u.ndim - 2) + [(0, 1), (0, 0)])
  return dx, dy


def divergence(v1: jax.Array, v2: jax.Array) -> jax.Array:
  """Backward-difference divergence of the field (v1, v2), [..., H, W].

  div = v1[x] - v1[x-1] + v2[y] - v2[y-1] with v[-1] = 0 (OpenCV's
  `divergence`; minus the adjoint of `forward_gradient` for fields that are
  0 on the last column / row, which the dual variables are).
  """
  pad_x = [(0, 0)] * (v1.ndim - 1) + [(1, 0)]
  pad_y = [(0, 0)] * (v2.ndim - 2) + [(1, 0), (0, 0)]
  return (v1 - jnp.pad(v1, pad_x)[..., :, :-1]) + (
      v2 - jnp.pad(v2, pad_y)[..., :-1, :])


# ---------------------------------------------------------------------------
# Warping.


def cubic_weights(frac: jax.Array) -> jax.Array:
  """[..., 4] bicubic weights (a = -0.75) of taps -1, 0, +1, +2 at `frac`."""
  a = CUBIC_A
  x = frac
  w0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
  w1 = ((a + 2) * x - (a + 3)) * x * x + 1
  y = 1 - x
  w2 = ((a + 2) * y - (a + 3)) * y * y + 1
  w3 = 1 - w0 - w1 - w2
  return jnp.stack([w0, w1, w2, w3], -1)


def warp(images: jax.Array, map_x: jax.Array, map_y: jax.Array,
         interpolation: str = 'bicubic') -> jax.Array:
  """Samples [C, H, W] `images` at (map_x, map_y) [H, W] (OpenCV's `remap`).

  Positions are used as they are (OpenCV 5's `remap` on float maps; older
  releases rounded them to 1/32 px); taps outside the image read 0 (BORDER_CONSTANT, OpenCV's default), so a pixel whose displacement
  leaves the image sees no data.
  """
  channels, h, w = images.shape
  x0, y0 = jnp.floor(map_x), jnp.floor(map_y)
  fx, fy = map_x - x0, map_y - y0
  ix, iy = x0.astype(jnp.int32), y0.astype(jnp.int32)
  if interpolation == 'bicubic':
    offsets = jnp.arange(-1, 3)
    wx, wy = cubic_weights(fx), cubic_weights(fy)
  elif interpolation == 'bilinear':
    offsets = jnp.arange(0, 2)
    wx = jnp.stack([1 - fx, fx], -1)
    wy = jnp.stack([1 - fy, fy], -1)
  else:
    raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got "
                     f'{interpolation!r}')
  xs = ix[..., None] + offsets  # [H, W, K]
  ys = iy[..., None] + offsets
  valid = ((xs >= 0) & (xs < w))[..., None, :] & (
      (ys >= 0) & (ys < h))[..., :, None]  # [H, W, K(y), K(x)]
  flat = (jnp.clip(ys, 0, h - 1)[..., :, None] * w +
          jnp.clip(xs, 0, w - 1)[..., None, :])
  taps = images.reshape(channels, h * w)[:, flat]  # [C, H, W, K, K]
  taps = jnp.where(valid, taps, 0.0)
  weights = wy[..., :, None] * wx[..., None, :]
  return jnp.sum(taps * weights, axis=(-2, -1))


# ---------------------------------------------------------------------------
# Median filter.


@functools.lru_cache(maxsize=None)
def median_network(n: int) -> tuple[tuple[int, int], ...]:
  """Compare-exchanges (i, j), i < j, that put the median of n values at n // 2.

  Batcher's odd-even merge sort for any n, keeping only the exchanges whose
  result reaches position n // 2: a fixed sequence of elementwise min / max,
  which XLA fuses into one pass (a sort along a short axis is ~100x slower
  on CPU).
  """
  pairs = []
  p = 1
  while p < n:
    k = p
    while k >= 1:
      for j in range(k % p, n - k, 2 * k):
        for i in range(min(k, n - j - k)):
          if (i + j) // (2 * p) == (i + j + k) // (2 * p):
            pairs.append((i + j, i + j + k))
      k //= 2
    p *= 2
  needed, kept = {n // 2}, []
  for i, j in reversed(pairs):
    if i in needed or j in needed:
      kept.append((i, j))
      needed |= {i, j}
  return tuple(reversed(kept))


def median_filter(u: jax.Array, size: int) -> jax.Array:
  """size x size median of [H, W] with the edge replicated (OpenCV's
  `medianBlur` on float images, which supports size 3 and 5)."""
  r = size // 2
  h, w = u.shape
  padded = jnp.pad(u, r, mode='edge')
  window = [padded[dy:dy + h, dx:dx + w]
            for dy in range(size) for dx in range(size)]
  for i, j in median_network(size * size):
    window[i], window[j] = (jnp.minimum(window[i], window[j]),
                            jnp.maximum(window[i], window[j]))
  return window[size * size // 2]


# ---------------------------------------------------------------------------
# One pyramid level.


def estimate_v(i1wx, i1wy, grad, rho_c, u, gamma: float, l_t: float):
  """The thresholding step TH of IPOL Eq. 18 (OpenCV's `estimateV`).

  rho = rho_c + I1w_x u1 + I1w_y u2 (+ gamma u3) is the linearised data
  term; v = u - lambda theta grad I1 where rho < -lambda theta |grad I1|^2,
  v = u + lambda theta grad I1 where rho > lambda theta |grad I1|^2, and
  otherwise v = u - rho grad I1 / |grad I1|^2 (u unchanged where the image
  is flat). `u` is a tuple (u1, u2) or (u1, u2, u3).
  """
  rho = rho_c + i1wx * u[0] + i1wy * u[1]
  if gamma:
    rho = rho + gamma * u[2]
  components = (i1wx, i1wy) + ((jnp.full_like(i1wx, gamma),) if gamma else ())
  below = rho < -l_t * grad
  above = rho > l_t * grad
  flat = grad <= np.finfo(np.float32).eps
  fi = -rho / jnp.where(flat, 1.0, grad)
  scale = jnp.where(below, l_t, jnp.where(above, -l_t,
                                          jnp.where(flat, 0.0, fi)))
  return tuple(uk + scale * ck for uk, ck in zip(u, components))


def _solve_level(i0, i1, u, params: tvl1.TVL1Params, interpolation: str):
  """Runs the warps of one level on one frame pair; returns the new `u`."""
  h, w = i0.shape
  gamma = float(params.gamma)
  l_t = np.float32(params.lambda_ * params.theta)
  taut = np.float32(params.tau / params.theta)
  theta = np.float32(params.theta)
  scaled_epsilon = np.float32(params.epsilon * params.epsilon * h * w)
  i1x, i1y = centered_gradient(i1)
  i1_stack = jnp.stack([i1, i1x, i1y])
  grid_y, grid_x = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                                jnp.arange(w, dtype=jnp.float32),
                                indexing='ij')
  p = tuple(jnp.zeros((h, w), jnp.float32) for _ in range(2 * len(u)))
  big = jnp.float32(np.finfo(np.float32).max)

  def warp_step(_, carry):
    u, p = carry
    i1w, i1wx, i1wy = warp(i1_stack, grid_x + u[0], grid_y + u[1],
                           interpolation)
    grad = i1wx * i1wx + i1wy * i1wy
    rho_c = i1w - i1wx * u[0] - i1wy * u[1] - i0

    # The warped image terms are constants of the loops below (closed over,
    # not carried: a batched loop would otherwise copy them every step).
    def inner_step(state):
      u, p, _, n_inner = state
      v = estimate_v(i1wx, i1wy, grad, rho_c, u, gamma, l_t)
      new_u = tuple(vk + theta * divergence(p[2 * k], p[2 * k + 1])
                    for k, vk in enumerate(v))
      error = sum(jnp.sum(jnp.square(a - b)) for a, b in zip(new_u, u))
      new_p = []
      for k, uk in enumerate(new_u):
        ux, uy = forward_gradient(uk)
        norm = 1.0 + taut * jnp.hypot(ux, uy)
        new_p += [(p[2 * k] + taut * ux) / norm,
                  (p[2 * k + 1] + taut * uy) / norm]
      return new_u, tuple(new_p), error, n_inner + 1

    def outer_step(state):
      u, p, error, n_outer = state
      if params.median_filtering > 1:
        u = (median_filter(u[0], params.median_filtering),
             median_filter(u[1], params.median_filtering)) + u[2:]
      u, p, error, _ = jax.lax.while_loop(
          lambda s: (s[2] > scaled_epsilon) & (s[3] < params.inner_iterations),
          inner_step, (u, p, error, 0))
      return u, p, error, n_outer + 1

    u, p, _, _ = jax.lax.while_loop(
        lambda s: (s[2] > scaled_epsilon) & (s[3] < params.outer_iterations),
        outer_step, (u, p, big, 0))
    return u, p

  u, _ = jax.lax.fori_loop(0, params.warps, warp_step, (u, p))
  return u


def _flow_one_pair(i0, i1, params: tvl1.TVL1Params, interpolation: str):
  h, w = i0.shape
  sizes = pyramid_sizes(h, w, params.nscales, params.scale_step)
  i0s = build_pyramid(i0, sizes, params.scale_step)
  i1s = build_pyramid(i1, sizes, params.scale_step)
  num_u = 3 if params.gamma else 2
  u = tuple(jnp.zeros(sizes[-1], jnp.float32) for _ in range(num_u))
  for s in range(len(sizes) - 1, -1, -1):
    u = _solve_level(i0s[s], i1s[s], u, params, interpolation)
    if s:
      size = sizes[s - 1]
      u = (upsample_flow(u[0], size, params.scale_step),
           upsample_flow(u[1], size, params.scale_step)) + tuple(
               upsample_flow(uk, size, 1.0) for uk in u[2:])
  return jnp.stack(u[:2], -1)


@functools.partial(jax.jit, static_argnames=('params', 'interpolation'))
def tvl1_flow(i0: jax.Array, i1: jax.Array,
              params: tvl1.TVL1Params = tvl1.TVL1Params(),
              interpolation: str = 'bicubic') -> jax.Array:
  """TV-L1 flow from each I0 to its I1, for a batch of grayscale pairs.

  Args:
    i0, i1: [B, H, W] grayscale frames, values in [0, 255] (uint8 or float).
    params: solver parameters (OpenCV's names and defaults).
    interpolation: warping: 'bicubic' (OpenCV's CPU solver) or 'bilinear'.

  Returns:
    float32 [B, H, W, 2]: displacement in pixels; channel 0 is x (positive =
    rightwards), channel 1 is y (positive = downwards).
  """
  if i0.shape != i1.shape or i0.ndim != 3:
    raise ValueError(f'i0 and i1 must both be [B, H, W], got {i0.shape} and '
                     f'{i1.shape}')
  if min(i0.shape[1:]) < 3:
    raise ValueError(f'frames must be at least 3x3, got {i0.shape[1:]}')
  one_pair = functools.partial(_flow_one_pair, params=params,
                               interpolation=interpolation)
  return jax.vmap(one_pair)(i0.astype(jnp.float32), i1.astype(jnp.float32))


def compute_flow(frames: np.ndarray,
                 params: tvl1.TVL1Params = tvl1.TVL1Params(),
                 batch_size: int = 16) -> np.ndarray:
  """`tvl1.compute_flow` on JAX: flow between consecutive RGB frames.

  Same input checks, grayscale conversion (OpenCV's) and output as
  `tvl1.compute_flow`: float32 [T - 1, H, W, 2].
  """
  return compute_flows([frames], params, batch_size)[0]


def compute_flows(videos: Sequence[np.ndarray],
                  params: tvl1.TVL1Params = tvl1.TVL1Params(),
                  batch_size: int = 16) -> list[np.ndarray]:
  """Flow of several videos, their frame pairs batched across videos.

  Pairs of videos of the same frame size share batches of `batch_size`; the
  last batch of a size is padded by repeating a pair, so each size compiles
  once. With several local devices (GPUs, TPU cores) each batch is split
  across them along the pair axis (its size rounded up to a multiple of the
  device count). Returns one float32 [T - 1, H, W, 2] array per video.
  """
  devices = jax.local_devices()
  sharding = jax.sharding.NamedSharding(
      jax.sharding.Mesh(np.array(devices), ('data',)),
      jax.sharding.PartitionSpec('data'))
  grays = [tvl1.video_to_gray(frames) for frames in videos]
  by_size: dict[tuple[int, int], list[tuple[int, int]]] = {}
  for v, gray in enumerate(grays):
    for t in range(len(gray) - 1):
      by_size.setdefault(gray.shape[1:], []).append((v, t))
  flows = [np.zeros((len(g) - 1,) + g.shape[1:] + (2,), np.float32)
           for g in grays]
  for pairs in by_size.values():
    size = -(-min(batch_size, len(pairs)) // len(devices)) * len(devices)
    for start in range(0, len(pairs), size):
      chunk = pairs[start:start + size]
      padded = chunk + [chunk[-1]] * (size - len(chunk))
      i0 = np.stack([grays[v][t] for v, t in padded])
      i1 = np.stack([grays[v][t + 1] for v, t in padded])
      out = np.asarray(tvl1_flow(jax.device_put(i0, sharding),
                                 jax.device_put(i1, sharding), params))
      for k, (v, t) in enumerate(chunk):
        flows[v][t] = out[k]
  return flows
