"""3-D convolution with a choice of lowering, and the Flax `Conv3D` layer that uses it.

Every lowering computes exactly the function of a native NTHWC/THWIO 3-D convolution
with explicit padding (up to float32 summation order, and the rounding of Winograd's
transforms: ~1e-5 of the largest output); they differ only in which XLA ops run it.
XLA:CPU runs a 3-D convolution through Eigen's generic tensor-contraction conv,
several times slower than its 2-D convolutions and dots, and the gradients of 3-D
convs are slower still; TPU and GPU run 3-D convs natively (MXU / cuDNN).

* ``'native'``: one `lax.conv_general_dilated` with three spatial dimensions.
* ``'taps'``: a kernel with ``kt`` temporal taps runs as a sum of ``kt`` ops, one per
  tap, each reading a strided time-slice of the (time-padded) input:
  - ``kt x 1 x 1`` (incl. ``1x1x1``): a sum of matrix multiplications over all positions;
  - ``kt x kh x kw``: a sum of 2-D convolutions over frames folded into the batch.
* ``'stacked'``: the ``kt`` time-slices are concatenated on the channel axis, so the
  whole kernel is ONE op with ``kt * C_in`` input channels (a dot for ``kt x 1 x 1``,
  a 2-D convolution otherwise). Fewer, larger ops; one extra copy of the input.
* ``'folded'``: per kernel shape, the one of those measured fastest on XLA:CPU (train
  step, fwd + bwd; `python -m d3d_jax.tools.benchmark --layers`):
  - ``kt x 3 x 3`` with strides 1, float32, and an output plane of at least 14x14:
    Winograd (`winograd.winograd_conv`, `_WINOGRAD_TILES`), the ``kt`` time taps
    stacked on their channels. F(4x4, 3x3) from 28x28 (36 batched matrix products, 4x
    fewer multiplications than the convolution; train step, 2 x 16x224x224,
    interleaved, median: I3D 1.31 against 1.59 s, S3D-G 1.13 against 1.28 s), F(2x2,
    3x3) from 14x14 (16 products, 2.25x fewer);
  - ``1x1x1``: a dot; ``1xkxk``: a 2-D convolution (both variants coincide there);
  - ``kt x 1 x 1`` with an output (time, height*width) plane of at least
    `_PATCH_GRAD_MIN_POSITIONS`: a 2-D convolution with a ``kt x 1`` window over
    that plane, whose kernel gradient comes from patches (`_conv_over_time`; XLA's own
    kernel gradient for it is ~8x slower than native). Otherwise 'stacked' (one dot
    with ``kt * C`` inputs);
  - ``kt x kh x kw`` with few input channels (the first conv, C_in = 2 or 3):
    'stacked', which turns 3 input channels into ``3 * kt``;
  - other ``kt x kh x kw``: 'taps'.
* Both read the input once: it is materialised before the taps are sliced (an
  optimisation barrier), and stacked taps are written with one stack + reshape.
* ``'auto'``: ``'folded'`` on CPU, ``'native'`` elsewhere (until measured otherwise).

Gradients follow by autodiff through the same ops, so they are dots and 2-D
convolutions too (Winograd's are matrix products in its transform domain), with one
exception: a 2-D convolution larger than 1x1 with an output plane of at least 28x28
takes its kernel gradient as dots over input patches, a few frames at a time
(`_conv2d_patch_grad`), which XLA:CPU runs 2-3x faster than its own kernel gradient
there; if it strides only its first axis (a strided kt x 1 x 1 conv over (time,
height*width)), its input gradient is taken by phases as stride-1 convolutions.
`tests/models/test_lowering.py` checks every lowering against the native one, values
and gradients, for each kernel / stride / padding the models use;
`tests/models/test_winograd.py` checks Winograd's transforms and where it is used.
"""

import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from d3d_jax.models import padding as padding_lib
from d3d_jax.models import winograd
from d3d_jax.models.logical_axes import KERNEL_AXES

LOWERINGS = ("native", "folded", "taps", "stacked", "auto")
Pads = Sequence[tuple[int, int]]

_DIMS_3D = ("NDHWC", "DHWIO", "NDHWC")
_DIMS_2D = ("NHWC", "HWIO", "NHWC")
# 'folded' stacks the temporal taps of a full kernel on channels below this many inputs.
_STACK_BELOW_CHANNELS = 8
# 2-D convs whose output plane has at least this many positions take their kernel
# gradient from patches; XLA's own is slow there (its window is the whole output plane)
# and not below (14x14: 11 against 14 ms). Smaller planes keep autodiff's numerics,
# which keeps the 32x32 demo's training bit-identical to earlier versions: its lr 3e-3
# runs are chaotic in when they leave a plateau (README, "The demo"), and the patch
# gradient's different summation order moved seed 0's D3D run onto it.
_PATCH_GRAD_MIN_POSITIONS = 28 * 28
# Stride-1 float32 kt x 3 x 3 convs run as Winograd F(tile x tile, 3 x 3)
# (`winograd.winograd_conv`) with the first tile whose minimum output plane (positions)
# they reach. F(4x4) spends 36 products per 4x4 tile, F(2x2) 16 per 2x2 tile: at 14x14
# F(4x4) has too few tiles (rows per product) to pay, F(2x2) still pays; at 7x7 neither.
_WINOGRAD_TILES = ((28 * 28, 4), (14 * 14, 2))
# Bytes of patches per block of frames in a patch kernel gradient (see
# `_patch_kernel_grad`): a quarter of a 32 MiB L3 cache.
_PATCH_BLOCK_BYTES = 8 << 20


def resolve_lowering(lowering: str) -> str:
  """Maps 'auto' to the lowering measured fastest on the current default backend."""
  if lowering not in LOWERINGS:
    raise ValueError(f"conv_lowering must be one of {LOWERINGS}, got {lowering!r}")
  if lowering == "auto":
    return "folded" if jax.default_backend() == "cpu" else "native"
  return lowering


def conv3d_native(x, kernel, strides, pads, precision=None):
  """XLA's own 3-D convolution (NTHWC input, THWIO kernel, explicit pads)."""
  return lax.conv_general_dilated(
      x, kernel, tuple(strides), tuple(tuple(p) for p in pads), dimension_numbers=_DIMS_3D,
      precision=precision)


def _xla_conv2d(x, kernel, strides, pads, precision):
  return lax.conv_general_dilated(
      x, kernel, tuple(strides), tuple(pads), dimension_numbers=_DIMS_2D,
      precision=precision)


def _conv2d(x, kernel, strides, pads, precision):
  """A 2-D NHWC/HWIO convolution; a window larger than 1x1 over an output plane of at
  least `_PATCH_GRAD_MIN_POSITIONS` takes its kernel gradient from input patches
  (`_conv2d_patch_grad`)."""
  y = jax.eval_shape(lambda x, k: _xla_conv2d(x, k, strides, pads, precision), x, kernel)
  if not _takes_patch_grad(kernel.shape[:2], y.shape[1:3]):
    return _xla_conv2d(x, kernel, strides, pads, precision)
  return _conv2d_patch_grad(x, kernel, tuple(strides), tuple(tuple(p) for p in pads),
                            precision)


def _takes_patch_grad(window, out_hw):
  """Whether `_conv2d` with this window and output plane uses `_conv2d_patch_grad`."""
  return tuple(window) != (1, 1) and out_hw[0] * out_hw[1] >= _PATCH_GRAD_MIN_POSITIONS


def _patches(x, window, strides, pads, out_hw):
  """[kh * kw * C, B * H_out * W_out]: each output position's input window as a column,
  in the kernel's (kh, kw, C) order (im2col, transposed).

  Built channel-major, from the input transposed to [C, B, H, W], so the kernel gradient
  ``patches @ dy`` is a plain matrix product. Built position-major ([B*H*W, K]), XLA:CPU
  transposes the patches before the dot, which cost as much as the dot itself for the
  first conv (51 against 48 ms per step; this way its kernel gradient takes 59 instead
  of 87 ms, Conv3d_2c 37 instead of 45). Two stacks, the kw column shifts and then the
  kh row shifts, so each write copies whole rows."""
  (kh, kw), (sh, sw), (ho, wo) = window, strides, out_hw
  x = jnp.pad(jnp.transpose(x, (3, 0, 1, 2)),
              ((0, 0), (0, 0), tuple(pads[0]), tuple(pads[1])))
  columns = jnp.stack([
      lax.slice_in_dim(x, j, j + sw * (wo - 1) + 1, stride=sw, axis=3) for j in range(kw)])
  rows = jnp.stack([
      lax.slice_in_dim(columns, i, i + sh * (ho - 1) + 1, stride=sh, axis=3)
      for i in range(kh)])
  return rows.reshape(kh * kw * x.shape[0], -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv2d_patch_grad(x, kernel, strides, pads, precision):
  """XLA's 2-D convolution, whose kernel gradient is a dot over input patches.

  XLA:CPU computes a convolution's kernel gradient as a convolution whose window is the
  whole output plane: 2-4x slower than the forward conv (2-core CPU: S3D's first conv
  143 ms against 35 ms forward, Conv3d_2c 94-115 against ~40 ms). As
  ``patches @ dy`` it is a matrix multiplication [kh*kw*C_in, B*H*W] x [B*H*W, C_out]
  plus writing the patches, a few frames at a time (`_patch_kernel_grad`): 53 and 48 ms
  there. Whole train steps, 2 x 16x224x224, interleaved in one process, 10 rounds, min /
  median: S3D 1.39 / 1.57 s against 1.56 / 1.72 s, I3D 1.55 / 1.90 s against
  1.80 / 2.25 s; channel-major patches (`_patches`) then took S3D-G from 1.18 / 1.38 to
  1.09 / 1.29 s and I3D from 1.73 / 1.85 to 1.45 / 1.55 s. The input gradient stays
  XLA's (a transposed convolution), except with strides ``(s, 1)``, s > 1, where it is
  taken by phases (`_polyphase_input_grad`). The residuals are autodiff's (input and
  kernel).
  """
  return _xla_conv2d(x, kernel, strides, pads, precision)


def _conv2d_patch_grad_fwd(x, kernel, strides, pads, precision):
  return _xla_conv2d(x, kernel, strides, pads, precision), (x, kernel)


def _conv2d_patch_grad_bwd(strides, pads, precision, residuals, dy):
  x, kernel = residuals
  if strides[0] > 1 and strides[1] == 1:
    dx = _polyphase_input_grad(dy, kernel, strides[0], pads, x.shape, precision)
  else:
    _, input_vjp = jax.vjp(lambda x: _xla_conv2d(x, kernel, strides, pads, precision), x)
    (dx,) = input_vjp(dy)
  dkernel = _patch_kernel_grad(x, dy, kernel.shape[:2], strides, pads, precision)
  return dx, dkernel.reshape(kernel.shape).astype(kernel.dtype)


def _polyphase_input_grad(dy, kernel, stride, pads, x_shape, precision):
  """The input gradient of a 2-D convolution with strides ``(stride, 1)``, as `stride`
  stride-1 convolutions of `dy`, one per phase of the input rows (polyphase).

  Padded input row ``stride * m + r`` receives ``dy[m - i]`` through kernel row
  ``stride * i + r`` only, so phase ``r`` is a correlation of `dy` with those kernel
  rows reversed (and the columns reversed, as in any transposed convolution); the
  phases are then interleaved. XLA:CPU runs the transposed convolution with a stride
  (an input dilation) much slower: S3D's 7x1 stride-2 temporal conv over (time,
  height*width), 2 x 16 frames of 112x112x64, 66-73 against 83-108 ms.
  """
  kw, rows = kernel.shape[1], x_shape[1]
  (pad_top, pad_bottom), (pad_left, pad_right) = pads
  padded_rows, out_rows = rows + pad_top + pad_bottom, dy.shape[1]
  phase_rows = -(-padded_rows // stride)
  phases = []
  for r in range(stride):
    taps = kernel[r::stride, ::-1][::-1]
    if not taps.shape[0]:  # stride > kh: these rows feed no output.
      phases.append(jnp.zeros((x_shape[0], phase_rows) + tuple(x_shape[2:]), dy.dtype))
      continue
    n = taps.shape[0]
    phases.append(_xla_conv2d(
        dy, jnp.swapaxes(taps, 2, 3), (1, 1),
        ((n - 1, phase_rows - out_rows), (kw - 1 - pad_left, kw - 1 - pad_right)),
        precision))
  dx = jnp.stack(phases, axis=2)
  dx = dx.reshape((dx.shape[0], phase_rows * stride) + dx.shape[3:])
  return dx[:, pad_top:pad_top + rows]


def _patch_kernel_grad(x, dy, window, strides, pads, precision):
  """``patches(x) @ dy`` ([kh*kw*C_in, C_out], float32), summed over blocks of frames.

  Each block's patches stay under `_PATCH_BLOCK_BYTES`, so they are written and read
  back in the CPU cache instead of memory: the kernel gradient of S3D's first conv
  (2 x 16 frames of 224x224, 236 MB of patches in one piece) takes 53 ms one frame at a
  time against 130 ms in one piece (XLA's own: 143 ms); Conv3d_2c 48 against 66 ms.
  Block ``i`` holds frames ``i, i + blocks, ...``: when `blocks` divides the frames per
  clip, every block spans all clips and a batch-sharded leading axis stays sharded;
  otherwise (S3D's first conv, one frame per block) XLA regathers the blocks across
  devices, which is correct but slow. 'folded' is the single-host CPU lowering, where
  that does not arise.
  """
  n, (ho, wo) = x.shape[0], dy.shape[1:3]
  frame_bytes = ho * wo * window[0] * window[1] * x.shape[-1] * x.dtype.itemsize
  blocks = next(d for d in range(1, n + 1)
                if n % d == 0 and (n // d * frame_bytes <= _PATCH_BLOCK_BYTES or d == n))

  def block_grad(x_block, dy_block):
    patches = _patches(x_block, window, strides, pads, (ho, wo))
    return jnp.dot(patches, dy_block.reshape(-1, dy_block.shape[-1]), precision=precision,
                   preferred_element_type=jnp.float32)

  if blocks == 1:
    return block_grad(x, dy)
  x_blocks = x.reshape((n // blocks, blocks) + x.shape[1:])
  dy_blocks = dy.reshape((n // blocks, blocks) + dy.shape[1:])

  def add_block(i, total):
    return total + block_grad(lax.dynamic_index_in_dim(x_blocks, i, 1, keepdims=False),
                              lax.dynamic_index_in_dim(dy_blocks, i, 1, keepdims=False))

  zeros = jnp.zeros((window[0] * window[1] * x.shape[-1], dy.shape[-1]), jnp.float32)
  return lax.fori_loop(0, blocks, add_block, zeros)


_conv2d_patch_grad.defvjp(_conv2d_patch_grad_fwd, _conv2d_patch_grad_bwd)


def _time_taps(x, kt, st, pad_t):
  """Pads time and returns the `kt` tap views, each [B, T_out, H, W, C].

  Tap ``j`` holds input frame ``t * st + j`` (padded coordinates) at output time ``t``,
  so output frame ``t`` is the sum over ``j`` of tap ``j`` times the kernel's tap ``j``.
  """
  if tuple(pad_t) != (0, 0):
    x = jnp.pad(x, ((0, 0), tuple(pad_t), (0, 0), (0, 0), (0, 0)))
  t_out = (x.shape[1] - kt) // st + 1
  if t_out < 1:
    raise ValueError(f"temporal kernel {kt} is larger than the padded input {x.shape[1]}")
  return [
      lax.slice_in_dim(x, j, j + st * (t_out - 1) + 1, stride=st, axis=1)
      for j in range(kt)
  ]


def _stack_channels(arrays):
  """Equal-shaped arrays side by side on channels, in order: ``[..., n * C]``.

  A stack on a new axis then a reshape, rather than a concatenation on the minor axis:
  the same values, and XLA:CPU writes it 2x faster (25 instead of 52 ms for 7 taps of
  [2, 8, 112, 112, 64])."""
  stacked = jnp.stack(arrays, axis=-2)
  return stacked.reshape(stacked.shape[:-2] + (stacked.shape[-2] * stacked.shape[-1],))


def _pointwise_taps(x, kernel, st, pad_t, stacked, precision):
  """A ``kt x 1 x 1`` kernel (no spatial padding, spatial strides already applied):
  dots over all positions."""
  kt, _, _, cin, cout = kernel.shape
  taps = _time_taps(x, kt, st, pad_t) if (kt, st, tuple(pad_t)) != (1, 1, (0, 0)) else [x]
  if kt == 1:
    return jnp.einsum("bthwc,cd->bthwd", taps[0], kernel[0, 0, 0], precision=precision)
  if stacked:
    return jnp.einsum("bthwc,cd->bthwd", _stack_channels(taps),
                      kernel.reshape(kt * cin, cout), precision=precision)
  y = None
  for j, tap in enumerate(taps):
    yj = jnp.einsum("bthwc,cd->bthwd", tap, kernel[j, 0, 0], precision=precision)
    y = yj if y is None else y + yj
  return y


def _conv_over_time(x, kernel, st, pad_t, precision):
  """A ``kt x 1 x 1`` kernel as a 2-D convolution with a ``kt x 1`` window over the
  (time, height * width) plane of each clip (spatial strides already applied).

  'stacked' writes ``kt`` shifted copies of the input before its dot; this reads the
  input in place. Forward + backward, 2 clips, interleaved, min ms: S3D-G's Conv3d_2c
  temporal conv (3x1x1, 192 -> 192, 8 x 56 x 56) 111 against 161, Mixed_3c's
  (128 -> 192 at 8 x 28 x 28) 21 against 27. A stride in time takes its input gradient
  by phases (`_polyphase_input_grad`). Only where the output plane takes the patch
  kernel gradient (`_conv2d`): XLA's own is ~8x slower for this window.
  """
  kt, _, _, cin, cout = kernel.shape
  b, t, h, w, _ = x.shape
  y = _conv2d(x.reshape(b, t, h * w, cin), kernel.reshape(kt, 1, cin, cout), (st, 1),
              (tuple(pad_t), (0, 0)), precision)
  return y.reshape(b, y.shape[1], h, w, cout)


def _runs_over_time(x_shape, kt, st, pad_t):
  """Whether 'folded' runs a ``kt x 1 x 1`` kernel over an input of `x_shape` (spatial
  strides already applied) as `_conv_over_time`."""
  t_out = (x_shape[1] + pad_t[0] + pad_t[1] - kt) // st + 1
  return _takes_patch_grad((kt, 1), (t_out, x_shape[2] * x_shape[3]))


def _winograd_tile(x, kernel, strides, pads):
  """The Winograd tile 'folded' runs this convolution with (`_WINOGRAD_TILES`), or None
  for a direct convolution."""
  kh, kw = kernel.shape[1:3]
  if (kh, kw) != (3, 3) or tuple(strides) != (1, 1, 1) or x.dtype != jnp.float32:
    return None
  h_out = x.shape[2] + sum(pads[1]) - kh + 1
  w_out = x.shape[3] + sum(pads[2]) - kw + 1
  return next((tile for positions, tile in _WINOGRAD_TILES
               if h_out * w_out >= positions), None)


def _spatial_taps(x, kernel, strides, pads, stacked, precision):
  """A ``kt x kh x kw`` kernel: 2-D convolutions over frames folded into the batch."""
  kt, kh, kw, cin, cout = kernel.shape
  st, sh, sw = strides
  pad_t, pad_h, pad_w = (tuple(p) for p in pads)
  taps = _time_taps(x, kt, st, pad_t)
  b, t_out, h, w, _ = taps[0].shape

  def conv(x5, k2d):
    y = _conv2d(x5.reshape(b * t_out, h, w, x5.shape[-1]), k2d, (sh, sw), (pad_h, pad_w),
                precision)
    return y.reshape(b, t_out, y.shape[1], y.shape[2], cout)

  if kt == 1:
    return conv(taps[0], kernel[0])
  if stacked:
    k2d = jnp.transpose(kernel, (1, 2, 0, 3, 4)).reshape(kh, kw, kt * cin, cout)
    return conv(_stack_channels(taps), k2d)
  y = None
  for j, tap in enumerate(taps):
    yj = conv(tap, kernel[j])
    y = yj if y is None else y + yj
  return y


def conv3d_folded(x, kernel, strides, pads, precision=None, variant="folded"):
  """The same function as `conv3d_native`, lowered to dots and 2-D convolutions.

  `variant` is 'folded' (the per-shape choice of the module docstring), 'taps' or
  'stacked'.
  """
  if variant not in ("folded", "taps", "stacked"):
    raise ValueError(f"variant must be 'folded', 'taps' or 'stacked', got {variant!r}")
  kt, kh, kw, cin, _ = kernel.shape
  pad_t, pad_h, pad_w = (tuple(p) for p in pads)
  if kt > 1:
    # Materialise x once. Otherwise XLA fuses its producer (BatchNorm + ReLU) into each
    # of the kt time-slices and recomputes it kt times, forward and backward (Conv3d_1a's
    # 7 taps in S3D). With the barrier and `_stack_channels`, an S3D 16x224x224 train step
    # measured ~5% faster on a 2-core CPU (interleaved A/B, best and median of 10).
    x = lax.optimization_barrier(x)
  if kh == kw == 1 and pad_h == pad_w == (0, 0):
    st, sh, sw = strides
    if sh != 1 or sw != 1:  # A 1x1 window with stride just subsamples.
      x = x[:, :, ::sh, ::sw]
    if variant == "folded" and _runs_over_time(x.shape, kt, st, pad_t):
      return _conv_over_time(x, kernel, st, pad_t, precision)
    stacked = variant != "taps"
    return _pointwise_taps(x, kernel, st, pad_t, stacked, precision)
  tile = _winograd_tile(x, kernel, strides, pads) if variant == "folded" else None
  if tile:
    return winograd.winograd_conv(x, kernel, pads, tile, precision)
  if variant == "folded":
    stacked = cin < _STACK_BELOW_CHANNELS
  else:
    stacked = variant == "stacked"
  return _spatial_taps(x, kernel, strides, pads, stacked, precision)


def conv3d(x, kernel, strides, pads, lowering="auto", precision=None):
  """A 3-D convolution of NTHWC `x` with a THWIO `kernel` and explicit `pads`."""
  lowering = resolve_lowering(lowering)
  if lowering == "native":
    return conv3d_native(x, kernel, strides, pads, precision)
  return conv3d_folded(x, kernel, strides, pads, precision, variant=lowering)


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
