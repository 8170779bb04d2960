"""Winograd convolution of 3x3 spatial windows, F(m x m, 3 x 3): fewer multiplications.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): an m x m
tile of a stride-1 3x3 convolution's output is ``A^T [(G g G^T) * (B^T d B)] A``, where
``d`` is the (m+2) x (m+2) input tile, ``g`` the 3x3 filter and ``*`` an elementwise
product. Summed over input channels, the elementwise product becomes (m+2)^2 matrix
products, one per transform position: ``M[p] = V[p] @ U[p]``, with ``V`` the transformed
input tiles [positions, C_in] and ``U`` the transformed kernel [C_in, C_out]. F(4x4, 3x3)
spends 36 multiplications per tile and channel pair where a direct convolution spends
144: 4x fewer. The transforms are linear maps with small constants, memory-bound.

A ``kt x 3 x 3`` kernel (temporal stride 1) transforms every frame once and stacks its
``kt`` time taps on the channel axis of ``V``, so the whole kernel is one batched matrix
product with ``kt * C_in`` inputs.

Gradients follow by autodiff: the transforms are linear, so the input and kernel
gradients are again (m+2)^2 matrix products in the transform domain
(``dV = dM U^T``, ``dU = V^T dM``) and the transposed transforms.

Why: XLA:CPU runs 2-D convolutions at ~55% of its matrix-product peak, and their
gradients slower; oneDNN's direct convolutions (PyTorch) reach 70-85%. Fewer
multiplications close that gap where the planes are large. Forward + backward, 2 clips,
2-core CPU, median ms against the ops `conv3d_folded` used before: S3D-G's Conv3d_2c
(1x3x3, 64 -> 192, 8 x 56 x 56) 75 against 155; I3D's Conv3d_2c (3x3x3) 154 against
389, its Mixed_3c (3x3x3, 128 -> 192, 8 x 28 x 28) 115 against 176. At 14x14 F(4x4)
has too few tiles (rows per product) to pay, but F(2x2) still does (I3D's Mixed_4f,
3x3x3, 160 -> 320, 4 x 14 x 14: 116 against 162), so `conv3d` uses F(4x4) from 28x28
output planes and F(2x2) from 14x14 (`conv3d._WINOGRAD_TILES`); at 7x7 neither pays.

Accuracy: float32 results differ from a direct convolution by ~1e-5 of the output's
largest magnitude for F(4x4, 3x3) (the transforms' constants reach 8 and 1/24) and ~1e-6
for F(2x2, 3x3). Only float32 inputs use it. The transforms run at HIGHEST precision, the
batched products at the caller's: on TPU, whose default float32 products take bfloat16
passes, that would lose Winograd's accuracy, but there `conv3d`'s 'auto' is 'native'.
"""

import numpy as np
import jax.numpy as jnp
from jax import lax

TILES = (2, 4)


def transform_matrices(tile: int):
  """(B^T, G, A^T) of F(tile x tile, 3 x 3), float64: [a, a], [a, 3], [tile, a], a = tile + 2.

  The interpolation points are 0, 1, -1 (tile 2) and 0, +-1, +-2 (tile 4), plus the
  point at infinity, as in Lavin & Gray."""
  if tile == 2:
    bt = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    g = [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]
    at = [[1, 1, 1, 0], [0, 1, -1, -1]]
  elif tile == 4:
    bt = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
          [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    g = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
    at = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
          [0, 1, -1, 8, -8, 1]]
  else:
    raise ValueError(f"Winograd tile must be one of {TILES}, got {tile}")
  return np.array(bt, np.float64), np.array(g, np.float64), np.array(at, np.float64)


def _tile_starts(x, axis, tile, tiles):
  """The (tile + 2) strided slices of `x` along `axis` whose i-th holds element i of
  every tile (tiles start every `tile` elements and overlap by 2)."""
  return [lax.slice_in_dim(x, i, i + tile * (tiles - 1) + 1, stride=tile, axis=axis)
          for i in range(tile + 2)]


def _input_transform(x, tile, tiles_h, tiles_w):
  """``B^T d B`` of every tile ``d`` of the (padded) [B, T, H, W, C] input, as
  [(tile+2)^2, B, T, tiles_h * tiles_w, C].

  The tiles (overlapping by 2) are gathered as (tile+2)^2 strided slices, then transformed
  by one matrix product with kron(B^T, B^T). Written instead as fused sums of the slices,
  the forward took 5 ms for S3D-G's Conv3d_2c but its transpose 46 ms (XLA:CPU
  materialised each padded slice); this way 9 and 11 ms."""
  bt = transform_matrices(tile)[0]
  a = tile + 2
  tiles = jnp.stack([column for row in _tile_starts(x, 2, tile, tiles_h)
                     for column in _tile_starts(row, 3, tile, tiles_w)])
  bt2 = np.kron(bt, bt).astype(np.float32)
  v = jnp.dot(bt2, tiles.reshape(a * a, -1), precision=lax.Precision.HIGHEST)
  b, t, _, _, c = x.shape
  return v.reshape(a * a, b, t, tiles_h * tiles_w, c)


def winograd_conv(x, kernel, pads, tile=4, precision=None):
  """A stride-1 3-D convolution with a ``kt x 3 x 3`` kernel, by F(tile x tile, 3 x 3).

  `x` is [B, T, H, W, C_in], `kernel` [kt, 3, 3, C_in, C_out] (THWIO), `pads` three
  (before, after) pairs: the same function as `conv3d_native` with strides (1, 1, 1).
  """
  kt, kh, kw, cin, cout = kernel.shape
  if (kh, kw) != (3, 3):
    raise ValueError(f"Winograd F(m x m, 3 x 3) needs a 3x3 spatial window, got {kh}x{kw}")
  _, g, at = transform_matrices(tile)
  a = tile + 2
  (pad_t, pad_h, pad_w), (b, _, h, w, _) = pads, x.shape
  h_out, w_out = h + sum(pad_h) - 2, w + sum(pad_w) - 2
  tiles_h, tiles_w = -(-h_out // tile), -(-w_out // tile)
  # Pad the bottom / right so the tiles cover the output; the extra rows are cropped.
  x = jnp.pad(x, ((0, 0), tuple(pad_t),
                  (pad_h[0], tiles_h * tile + 2 - h - pad_h[0]),
                  (pad_w[0], tiles_w * tile + 2 - w - pad_w[0]), (0, 0)))
  t_out = x.shape[1] - kt + 1
  if t_out < 1:
    raise ValueError(f"temporal kernel {kt} is larger than the padded input {x.shape[1]}")
  v = _input_transform(x, tile, tiles_h, tiles_w)
  taps = [lax.slice_in_dim(v, j, j + t_out, axis=2) for j in range(kt)]
  v = jnp.stack(taps, axis=-2) if kt > 1 else taps[0][..., None, :]
  v = v.reshape(a * a, b * t_out * tiles_h * tiles_w, kt * cin)
  g = g.astype(np.float32)
  u = jnp.einsum("ia,jb,tabcd->ijtcd", g, g, kernel, precision=lax.Precision.HIGHEST)
  u = u.reshape(a * a, kt * cin, cout)
  m = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))), precision=precision)
  # The output transform as one matrix product with kron(A^T, A^T) [tile^2, a^2]: as a
  # fused elementwise sum XLA:CPU took 40-56 ms for S3D-G's Conv3d_2c, this 8 ms.
  at2 = np.kron(at, at).astype(np.float32)
  y = jnp.dot(at2, m.reshape(a * a, -1), precision=lax.Precision.HIGHEST)
  y = y.reshape(tile, tile, b, t_out, tiles_h, tiles_w, cout)
  y = jnp.transpose(y, (2, 3, 4, 0, 5, 1, 6))
  y = y.reshape(b, t_out, tiles_h * tile, tiles_w * tile, cout)
  return y[:, :, :h_out, :w_out]
