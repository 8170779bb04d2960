"""Winograd F(m x m, 3 x 3) convolution: the transforms, the function, where 'folded' uses it.

`d3d_jax.models.winograd` must compute the native stride-1 3-D convolution with a
``kt x 3 x 3`` kernel, values and gradients, for every tile size, temporal kernel and
padding; `conv3d`'s 'folded' lowering must take it exactly where the docstring says.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.models import conv3d as conv3d_lib
from d3d_jax.models import winograd


def _assert_close(actual, expected, what, rtol):
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
  scale = float(np.max(np.abs(expected)))
  np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("tile", winograd.TILES)
def test_transform_matrices_compute_a_1d_correlation_exactly(tile):
  """``A^T [(G g) * (B^T d)]`` is the valid correlation of a (tile + 2)-tap input with a
  3-tap filter: F(tile, 3) in one dimension, exact in float64."""
  bt, g, at = winograd.transform_matrices(tile)
  assert bt.shape == (tile + 2, tile + 2) and g.shape == (tile + 2, 3)
  assert at.shape == (tile, tile + 2)
  rng = np.random.default_rng(0)
  for _ in range(5):
    d, f = rng.standard_normal(tile + 2), rng.standard_normal(3)
    expected = np.correlate(d, f, mode="valid")
    np.testing.assert_allclose(at @ ((g @ f) * (bt @ d)), expected, rtol=0, atol=1e-12)


def test_unknown_tile_and_window_are_errors():
  with pytest.raises(ValueError, match="tile must be one of"):
    winograd.transform_matrices(3)
  with pytest.raises(ValueError, match="3x3 spatial window"):
    winograd.winograd_conv(jnp.zeros((1, 2, 8, 8, 2)), jnp.zeros((1, 5, 5, 2, 2)),
                           ((0, 0), (2, 2), (2, 2)))


@functools.partial(jax.jit, static_argnames=("pads", "tile"))
def _values_and_grads(x, kernel, cotangent, pads, tile):
  results = []
  for fn in (lambda x, k: conv3d_lib.conv3d_native(x, k, (1, 1, 1), pads),
             lambda x, k: winograd.winograd_conv(x, k, pads, tile)):
    y, vjp = jax.vjp(fn, x, kernel)
    results.append((y, *vjp(cotangent)))
  return results


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("kt,pad_t", ((1, (0, 0)), (3, (1, 1)), (3, (0, 0))))
@pytest.mark.parametrize("size,pads", (
    ((9, 9), ((1, 1), (1, 1))),    # 'SAME' / symmetric, odd: the last tile is cropped.
    ((8, 10), ((1, 1), (1, 1))),   # Even, unequal height and width.
    ((7, 9), ((0, 2), (2, 0))),    # Uneven padding.
    ((6, 6), ((0, 0), (0, 0))),    # 'VALID'.
), ids=lambda v: "x".join(map(str, v)) if isinstance(v[0], int) else str(v))
def test_winograd_conv_matches_native(tile, kt, pad_t, size, pads):
  """Values and both gradients agree with XLA's 3-D convolution to float32 rounding of
  the transforms (1e-5 of the largest magnitude; their constants reach 8 and 1/24)."""
  rng = np.random.default_rng(1)
  cin, cout = 3, 5
  x = jnp.asarray(rng.standard_normal((2, 5, *size, cin)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((kt, 3, 3, cin, cout)), jnp.float32)
  all_pads = (pad_t,) + pads
  out_shape = jax.eval_shape(
      lambda x, k: conv3d_lib.conv3d_native(x, k, (1, 1, 1), all_pads), x, kernel).shape
  cotangent = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
  expected, got = _values_and_grads(x, kernel, cotangent, all_pads, tile)
  for name, a, b in zip(("output", "d/dinput", "d/dkernel"), got, expected):
    _assert_close(a, b, f"F({tile}x{tile}, 3x3) {name}", rtol=1e-5 if tile == 2 else 3e-5)


def _batched_dots(fn, *args):
  """The batch sizes of every batched dot_general in the jaxpr of `fn`, nested included."""
  sizes = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "dot_general" and eqn.params["dimension_numbers"][1][0]:
        sizes.append(eqn.invars[0].aval.shape[0])
      for param in eqn.params.values():
        inner = getattr(param, "jaxpr", None)
        if inner is not None:
          walk(getattr(inner, "jaxpr", inner))

  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return sizes


@pytest.mark.parametrize("kernel_size,strides,size,dtype,tile", (
    ((1, 3, 3), (1, 1, 1), 28, jnp.float32, 4),      # 28 x 28 output positions.
    ((3, 3, 3), (1, 1, 1), 28, jnp.float32, 4),      # I3D's full kernels too.
    ((1, 3, 3), (1, 1, 1), 27, jnp.float32, 2),      # Below 28 x 28: F(2x2).
    ((3, 3, 3), (1, 1, 1), 14, jnp.float32, 2),      # 14 x 14 (Mixed_4 at 224).
    ((1, 3, 3), (1, 1, 1), 13, jnp.float32, None),   # Below 14 x 14.
    ((1, 3, 3), (1, 2, 2), 56, jnp.float32, None),   # Strided.
    ((1, 3, 3), (1, 1, 1), 28, jnp.bfloat16, None),  # Transforms need float32.
    ((1, 5, 5), (1, 1, 1), 28, jnp.float32, None),   # Not a 3x3 window.
))
def test_folded_runs_stride1_3x3_convs_as_winograd_by_output_plane(
    kernel_size, strides, size, dtype, tile):
  """Forward and backward: (tile + 2)^2 batched matrix products and no convolution,
  F(4x4) from 28x28 output planes, F(2x2) from 14x14, a direct convolution below."""
  x = jnp.zeros((1, 2, size, size, 4), dtype)
  kernel = jnp.zeros((*kernel_size, 4, 6), dtype)
  pads = ((kernel_size[0] // 2,) * 2, (1, 1), (1, 1)) if kernel_size[1] == 3 else (
      (0, 0), (2, 2), (2, 2))
  loss = lambda x, k: jnp.sum(conv3d_lib.conv3d(x, k, strides, pads, "folded"))
  grads = jax.grad(loss, argnums=(0, 1))
  dots = _batched_dots(grads, x, kernel)
  expected = [] if tile is None else [(tile + 2) ** 2] * 3  # Forward, d/dinput, d/dkernel.
  assert sorted(dots) == expected, dots
  convolves = "conv_general_dilated" in str(jax.make_jaxpr(grads)(x, kernel))
  assert convolves == (tile is None)
