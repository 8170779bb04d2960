"""3-D convolution with a choice of lowering, and the Flax `Conv3D` layer that uses it.

Every lowering computes exactly the function of a native NTHWC/THWIO 3-D convolution
with explicit padding; they differ only in which XLA ops run it:

* ``'native'``: one `lax.conv_general_dilated` with three spatial dimensions. On TPU
  and GPU this maps to the MXU / cuDNN directly and is the default there.
* ``'folded'``: rewrites the convolution into ops XLA:CPU runs fast. XLA:CPU's 3-D
  convolution (Eigen) is several times slower than its 2-D convolution and its dots, so
  - ``1x1x1`` kernels run as one matrix multiplication over all positions;
  - ``1xkxk`` kernels run as a 2-D convolution with the frames folded into the batch;
  - ``kx1x1`` kernels run as a 2-D convolution over (time, height*width), which needs
    only a free reshape of an NTHWC tensor;
  - full ``ktxkxk`` kernels run as a 2-D convolution over frames folded into the batch
    with the ``kt`` temporal taps stacked on the channel axis (one conv with
    ``kt * C_in`` input channels; temporal padding and stride are applied by slicing).
* ``'auto'``: ``'folded'`` on CPU, ``'native'`` elsewhere (until measured otherwise).

Gradients follow by autodiff through the same ops, so they are 2-D convolutions and
dots too. `tests/models/test_conv3d.py` checks every lowering against the native one,
values and gradients, for each kernel shape the models use.
"""

from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from d3d_jax.models import padding as padding_lib
from d3d_jax.models.logical_axes import KERNEL_AXES

LOWERINGS = ("native", "folded", "auto")
Pads = Sequence[tuple[int, int]]

_DIMS_3D = ("NDHWC", "DHWIO", "NDHWC")
_DIMS_2D = ("NHWC", "HWIO", "NHWC")


def resolve_lowering(lowering: str) -> str:
  """Maps 'auto' to the lowering measured fastest on the current default backend."""
  if lowering not in LOWERINGS:
    raise ValueError(f"conv_lowering must be one of {LOWERINGS}, got {lowering!r}")
  if lowering == "auto":
    return "folded" if jax.default_backend() == "cpu" else "native"
  return lowering


def conv3d_native(x, kernel, strides, pads, precision=None):
  return lax.conv_general_dilated(
      x, kernel, tuple(strides), tuple(pads), dimension_numbers=_DIMS_3D,
      precision=precision)


def _conv2d(x, kernel, strides, pads, precision):
  return lax.conv_general_dilated(
      x, kernel, tuple(strides), tuple(pads), dimension_numbers=_DIMS_2D,
      precision=precision)


def _pad_and_stride_time(x, kt, st, pad_t):
  """Pads time and returns the `kt` tap views, each [B, T_out, H, W, C]."""
  if pad_t != (0, 0):
    x = jnp.pad(x, ((0, 0), pad_t, (0, 0), (0, 0), (0, 0)))
  t_out = (x.shape[1] - kt) // st + 1
  return [
      lax.slice_in_dim(x, j, j + st * (t_out - 1) + 1, stride=st, axis=1)
      for j in range(kt)
  ]


def conv3d_folded(x, kernel, strides, pads, precision=None):
  """The same function as `conv3d_native`, lowered to dots and 2-D convolutions."""
  kt, kh, kw, cin, cout = kernel.shape
  st, sh, sw = strides
  pad_t, pad_h, pad_w = (tuple(p) for p in pads)

  if kh == kw == 1 and pad_h == pad_w == (0, 0):
    x = lax.slice(x, (0,) * 5, x.shape, (1, 1, sh, sw, 1))
    if kt == 1 and pad_t == (0, 0):  # pointwise: a single matmul.
      x = lax.slice_in_dim(x, 0, None, stride=st, axis=1)
      return jnp.einsum("bthwc,cd->bthwd", x, kernel[0, 0, 0], precision=precision)
    # Temporal kx1x1: a 2-D conv over (time, height*width).
    b, t, h, w, _ = x.shape
    y = _conv2d(x.reshape(b, t, h * w, cin), kernel[:, :, 0], (st, 1),
                (pad_t, (0, 0)), precision)
    return y.reshape(b, y.shape[1], h, w, cout)

  taps = _pad_and_stride_time(x, kt, st, pad_t)
  b, t_out, h, w, _ = taps[0].shape
  if kt == 1:
    x2d = taps[0].reshape(b * t_out, h, w, cin)
    k2d = kernel[0]
  else:  # Stack the temporal taps on channels: one conv with kt * C_in inputs.
    x2d = jnp.concatenate(taps, axis=-1).reshape(b * t_out, h, w, kt * cin)
    k2d = jnp.transpose(kernel, (1, 2, 0, 3, 4)).reshape(kh, kw, kt * cin, cout)
  y = _conv2d(x2d, k2d, (sh, sw), (pad_h, pad_w), precision)
  return y.reshape(b, t_out, y.shape[1], y.shape[2], cout)


def conv3d(x, kernel, strides, pads, lowering="auto", precision=None):
  """A 3-D convolution of NTHWC `x` with a THWIO `kernel` and explicit `pads`."""
  if resolve_lowering(lowering) == "native":
    return conv3d_native(x, kernel, strides, pads, precision)
  return conv3d_folded(x, kernel, strides, pads, precision)


class Conv3D(nn.Module):
  """A 3-D convolution layer (NTHWC) with reference padding and a chosen lowering.

  The kernel is stored as (T, H, W, C_in, C_out), the layout of the DeepMind `w` and
  slim `weights` tensors, and carries logical axis names for sharding rules.
  """

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1, 1)
  padding: str = "SAME"
  use_bias: bool = False
  lowering: str = "auto"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  precision: Optional[lax.Precision] = None

  @nn.compact
  def __call__(self, x):
    kernel_shape = tuple(self.kernel_size) + (x.shape[-1], self.features)
    kernel = self.param(
        "kernel", nn.with_logical_partitioning(self.kernel_init, KERNEL_AXES),
        kernel_shape, self.param_dtype)
    pads = padding_lib.explicit_pads(
        x.shape[1:4], self.kernel_size, self.strides, self.padding)
    x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
    y = conv3d(x, kernel, self.strides, pads, self.lowering, self.precision)
    if self.use_bias:
      bias = self.param(
          "bias", nn.with_logical_partitioning(self.bias_init, ("conv_out",)),
          (self.features,), self.param_dtype)
      y = y + jnp.asarray(bias, self.dtype)
    return y
