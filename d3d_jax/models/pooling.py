"""3-D max pooling with reference padding, and the clipped average pool of the head.

Max pooling pads with -inf (TF 'SAME' and PyTorch both ignore padded positions).
Like convolutions it has two lowerings that compute the same function:

* ``'native'``: one `lax.reduce_window` over (T, H, W);
* every other lowering (``'folded'``, ``'taps'``, ``'stacked'``): max is separable,
  so the window max is taken one axis at a time (W, then H, then T) as an elementwise
  maximum of strided slices. XLA:CPU runs these and their gradients (elementwise
  selects and pads) much faster than a 3-D `reduce_window` and its `select_and_scatter`
  gradient.

Gradients match too, including ties (e.g. the zeros after a ReLU): the native
gradient goes to the first maximal element of the window in (T, H, W) row-major
order. Each axis pass keeps the earlier tap on ties (``select(a >= b, a, b)``, not
``maximum``, whose gradient splits ties in halves), so the three passes together pick
the lexicographically smallest (t, h, w) among the maxima, which is that same element.
"""

from typing import Sequence

import jax.numpy as jnp
from jax import lax

from d3d_jax.models import padding as padding_lib
from d3d_jax.models.conv3d import resolve_lowering


def _max_along(x, axis, window, stride, pads):
  """Max over windows of one axis: -inf padding, then strided slices, one per tap."""
  if window == 1 and stride == 1 and pads == (0, 0):
    return x
  widths = [(0, 0)] * x.ndim
  widths[axis] = pads
  x = jnp.pad(x, widths, constant_values=-jnp.inf)
  out = (x.shape[axis] - window) // stride + 1
  result = None
  for j in range(window):
    tap = lax.slice_in_dim(x, j, j + stride * (out - 1) + 1, stride=stride, axis=axis)
    # Keep the earlier tap on ties so the gradient goes where native's goes.
    result = tap if result is None else lax.select(result >= tap, result, tap)
  return result


def max_pool_3d(x, window: Sequence[int], strides: Sequence[int], padding: str = "SAME",
                lowering: str = "auto"):
  """Max pool of an NTHWC tensor over (T, H, W)."""
  pads = padding_lib.explicit_pads(x.shape[1:4], window, strides, padding)
  if resolve_lowering(lowering) == "native":
    return lax.reduce_window(
        x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1),
        ((0, 0), *pads, (0, 0)))
  # W, then H, then T: the last pass decides first, so ties resolve in (T, H, W) order.
  for axis in (3, 2, 1):
    x = _max_along(x, axis, window[axis - 1], strides[axis - 1], pads[axis - 1])
  return x


def clipped_avg_pool_3d(x, window: Sequence[int]):
  """VALID average pool, stride 1, with the window clipped to the input as slim does.

  slim's `reduced_kernel_size_3d` lets the [2, 7, 7] head pool run on 112-px inputs
  (Mixed_5c is 4x4 there), where Sonnet's fixed kernel would fail.
  """
  window = tuple(min(w, s) for w, s in zip(window, x.shape[1:4]))
  summed = lax.reduce_window(x, 0.0, lax.add, (1, *window, 1), (1, 1, 1, 1, 1), "VALID")
  return summed / jnp.array(window[0] * window[1] * window[2], x.dtype)
