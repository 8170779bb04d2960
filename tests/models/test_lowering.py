"""Every conv / pool lowering computes the native function: values and gradients.

The lowerings of `d3d_jax.models.conv3d` and `d3d_jax.models.pooling` only choose
which XLA ops run a layer, so each must agree with the native 3-D convolution /
`reduce_window` to float32 rounding, forward and backward, for every kernel, stride
and padding the models use, on odd and even sizes (where 'SAME' pads unevenly and
strided windows drop a border). A tiny whole model checks that they compose.
Shapes are small: this file is about correctness, never timing.
"""

import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.models import build_model
from d3d_jax.models import conv3d as conv3d_lib
from d3d_jax.models import padding as padding_lib
from d3d_jax.models import pooling
from tests.models.train_loss import cross_entropy_loss_fn

NON_NATIVE = tuple(l for l in conv3d_lib.LOWERINGS if l not in ("native", "auto"))

# (kernel, strides) of every convolution in the model family.
CONV_SHAPES = (
    ((1, 1, 1), (1, 1, 1)),  # Conv3d_2b and every Inception 1x1x1.
    ((1, 3, 3), (1, 1, 1)),  # 2-D blocks, and the spatial half of a separable conv.
    ((3, 1, 1), (1, 1, 1)),  # The temporal half of a separable conv.
    ((3, 3, 3), (1, 1, 1)),  # I3D blocks.
    ((7, 7, 7), (2, 2, 2)),  # I3D Conv3d_1a.
    ((3, 7, 7), (2, 2, 2)),  # S3D-G Conv3d_1a.
    ((1, 7, 7), (1, 2, 2)),  # I2D / top-heavy Conv3d_1a; torchvision S3D's spatial half.
    ((7, 1, 1), (2, 1, 1)),  # torchvision S3D's temporal half of Conv3d_1a.
)
# (T, H, W): odd and even, so 'SAME' pads unevenly and strides drop a border.
SIZES = ((5, 9, 9), (6, 8, 10))
PADDINGS = padding_lib.PADDING_MODES

POOL_SHAPES = (
    ((1, 3, 3), (1, 2, 2)),
    ((3, 3, 3), (1, 1, 1)),
    ((3, 3, 3), (2, 2, 2)),
    ((2, 2, 2), (2, 2, 2)),
)


@pytest.fixture(autouse=True)
def _patch_kernel_gradients_at_every_size(monkeypatch):
  """The shapes here are tiny: let every folded 2-D conv take the patch kernel
  gradient, every kt x 1 x 1 conv run over its (time, height*width) plane, and every
  stride-1 kt x 3 x 3 conv run as Winograd, which full-size models do from 14x14
  output positions: F(4x4) on the 9x9 planes of `SIZES`, F(2x2) on the 8x10 ones and
  below."""
  monkeypatch.setattr(conv3d_lib, "_PATCH_GRAD_MIN_POSITIONS", 1)
  monkeypatch.setattr(conv3d_lib, "_WINOGRAD_TILES", ((81, 4), (1, 2)))


@pytest.fixture
def winograd_off(monkeypatch):
  """Stride-1 3x3 windows as 2-D convolutions (as in bfloat16), for the tests of the
  patch kernel gradient, which use them."""
  monkeypatch.setattr(conv3d_lib, "_WINOGRAD_TILES", ())


def _assert_close(actual, expected, what, rtol=2e-5):
  """float32 agreement, relative to the largest magnitude of the reference."""
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
  scale = float(np.max(np.abs(expected))) + 1e-12
  np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


@functools.partial(jax.jit, static_argnames=("strides", "pads", "lowerings"))
def _conv_values_and_grads(x, kernel, cotangent, strides, pads, lowerings):
  """Each lowering's output and its VJP (w.r.t. input and kernel) of one cotangent."""
  results = {}
  for lowering in lowerings:
    fn = functools.partial(conv3d_lib.conv3d, strides=strides, pads=pads, lowering=lowering)
    y, vjp = jax.vjp(fn, x, kernel)
    results[lowering] = (y, *vjp(cotangent.astype(y.dtype)))
  return results


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("kernel_size,strides", CONV_SHAPES,
                         ids=lambda v: "x".join(map(str, v)))
def test_conv_lowerings_match_native(kernel_size, strides, padding, size):
  rng = np.random.default_rng(0)
  cin, cout = 3, 5
  x = jnp.asarray(rng.standard_normal((2, *size, cin)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((*kernel_size, cin, cout)), jnp.float32)
  pads = padding_lib.explicit_pads(size, kernel_size, strides, padding)
  out_shape = jax.eval_shape(
      functools.partial(conv3d_lib.conv3d_native, strides=strides, pads=pads), x, kernel).shape
  cotangent = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
  results = _conv_values_and_grads(
      x, kernel, cotangent, strides=tuple(strides), pads=tuple(pads),
      lowerings=("native",) + NON_NATIVE)
  expected = results.pop("native")
  for lowering, got in results.items():
    for name, a, b in zip(("output", "d/dinput", "d/dkernel"), got, expected):
      _assert_close(a, b, f"{lowering} {name}")


def test_folded_uses_no_3d_convolution():
  """The point of the folded lowerings: no 3-D convolution is left in fwd or bwd."""
  x = jnp.zeros((1, 5, 9, 9, 3))
  for (kernel_size, strides), lowering in itertools.product(CONV_SHAPES, NON_NATIVE):
    kernel = jnp.zeros((*kernel_size, 3, 4))
    pads = padding_lib.explicit_pads(x.shape[1:4], kernel_size, strides, "SAME")
    loss = lambda x, k: jnp.sum(conv3d_lib.conv3d(x, k, strides, pads, lowering))
    jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(x, kernel)
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "conv_general_dilated":
        assert eqn.invars[0].aval.ndim == 4, (kernel_size, lowering, eqn)


def _conv_and_dot_eqns(closed_jaxpr):
  """Every conv_general_dilated / dot_general equation, nested jaxprs included."""
  found = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
        found.append(eqn)
      for param in eqn.params.values():
        inner = getattr(param, "jaxpr", None)
        if inner is not None:
          walk(getattr(inner, "jaxpr", inner))

  walk(closed_jaxpr.jaxpr)
  return found


def _conv_outputs(closed_jaxpr):
  """(primitive name, output shape) of every conv_general_dilated / dot_general."""
  return [(eqn.primitive.name, eqn.outvars[0].aval.shape)
          for eqn in _conv_and_dot_eqns(closed_jaxpr)]


@pytest.mark.parametrize("kernel_size,strides", (((1, 3, 3), (1, 1, 1)),
                                                 ((3, 3, 3), (1, 1, 1)),
                                                 ((1, 7, 7), (1, 2, 2))),
                         ids=lambda v: "x".join(map(str, v)))
@pytest.mark.usefixtures("winograd_off")
def test_folded_conv_takes_kernel_gradient_from_a_dot_over_patches(kernel_size, strides):
  """XLA:CPU's kernel-gradient convolution is slow: no folded 2-D conv uses it (with
  Winograd off, as for bfloat16, where stride-1 3x3 windows are 2-D convs too)."""
  _, kh, kw = kernel_size
  cin, cout = conv3d_lib._STACK_BELOW_CHANNELS, 4  # Taps, not stacked: one tap's window.
  x, kernel = jnp.zeros((1, 5, 9, 9, cin)), jnp.zeros((*kernel_size, cin, cout))
  pads = padding_lib.explicit_pads(x.shape[1:4], kernel_size, strides, "SAME")
  loss = lambda k: jnp.sum(conv3d_lib.conv3d(x, k, strides, pads, "folded"))
  ops = _conv_outputs(jax.make_jaxpr(jax.grad(loss))(kernel))
  assert ("dot_general", (kh * kw * cin, cout)) in ops, ops
  assert not [s for op, s in ops
              if op == "conv_general_dilated" and sorted(s) == sorted((kh, kw, cin, cout))]


@pytest.mark.usefixtures("winograd_off")
def test_patch_kernel_gradient_is_a_plain_matrix_product():
  """Patches are channel-major ([kh*kw*C_in, positions]) and multiply dy as [positions,
  C_out]: a canonical (M, K) x (K, N) product, which XLA:CPU runs without transposing
  either operand first."""
  x, kernel = jnp.zeros((1, 2, 9, 9, 8)), jnp.zeros((1, 3, 3, 8, 4))
  loss = lambda k: jnp.sum(conv3d_lib.conv3d(x, k, (1, 1, 1), ((0, 0), (1, 1), (1, 1)),
                                             "folded"))
  dots = [eqn for eqn in _conv_and_dot_eqns(jax.make_jaxpr(jax.grad(loss))(kernel))
          if eqn.outvars[0].aval.shape == (72, 4)]
  assert len(dots) == 1, dots
  (contracting, batch) = dots[0].params["dimension_numbers"]
  assert contracting == ((1,), (0,)) and batch == ((), ())
  assert [v.aval.shape for v in dots[0].invars] == [(72, 2 * 9 * 9), (2 * 9 * 9, 4)]


@pytest.mark.parametrize("block_bytes,blocks", ((1, 6), (2 * 9 * 9 * 9 * 3 * 4, 3)))
@pytest.mark.usefixtures("winograd_off")
def test_patch_kernel_gradient_in_blocks_of_frames_matches_native(
    monkeypatch, block_bytes, blocks):
  """Patches are summed block by block (frames i, i + blocks, ...) when a whole batch's
  would not fit `_PATCH_BLOCK_BYTES`; the gradient is the same."""
  monkeypatch.setattr(conv3d_lib, "_PATCH_BLOCK_BYTES", block_bytes)
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((2, 3, 9, 9, 3)), jnp.float32)  # 6 frames.
  kernel = jnp.asarray(rng.standard_normal((1, 3, 3, 3, 4)), jnp.float32)
  pads = ((0, 0), (1, 1), (1, 1))
  cotangent = jnp.asarray(rng.standard_normal((2, 3, 9, 9, 4)), jnp.float32)
  grads = {}
  for lowering in ("native", "folded"):
    loss = lambda k: jnp.sum(conv3d_lib.conv3d(x, k, (1, 1, 1), pads, lowering) * cotangent)
    grads[lowering] = jax.grad(loss)(kernel)
    if lowering == "folded":
      jaxpr = jax.make_jaxpr(jax.grad(loss))(kernel)
      loops = [e for e in jaxpr.eqns if e.primitive.name in ("scan", "while")]
      assert len(loops) == (blocks > 1) and (not loops or loops[0].params.get(
          "length", blocks) == blocks), loops
  _assert_close(grads["folded"], grads["native"], f"{blocks} blocks")


@pytest.mark.usefixtures("winograd_off")
def test_patch_kernel_gradient_only_from_28x28_output_planes(monkeypatch):
  monkeypatch.setattr(conv3d_lib, "_PATCH_GRAD_MIN_POSITIONS", 28 * 28)
  kernel = jnp.zeros((1, 3, 3, 3, 4))
  pads = ((0, 0), (1, 1), (1, 1))
  for size, from_patches in ((28, True), (27, False)):
    x = jnp.zeros((1, 1, size, size, 3))
    loss = lambda k: jnp.sum(conv3d_lib.conv3d(x, k, (1, 1, 1), pads, "folded"))
    ops = _conv_outputs(jax.make_jaxpr(jax.grad(loss))(kernel))
    assert (("dot_general", (27, 4)) in ops) == from_patches, (size, ops)


@pytest.mark.parametrize("frames,width,temporal_stride,over_time", (
    (4, 14, 1, True),    # 4 x 14 x 14 = 784 output positions.
    (4, 13, 1, False),   # 4 x 14 x 13 = 728.
    (8, 14, 2, True),    # Stride 2 in time: 4 x 14 x 14.
    (8, 13, 2, False),
))
def test_temporal_conv_runs_over_the_time_by_space_plane_from_28x28_positions(
    monkeypatch, frames, width, temporal_stride, over_time):
  """A folded 3x1x1 conv is one 2-D conv with a 3x1 window over (time, height*width)
  when that plane takes the patch kernel gradient, else one dot over stacked taps."""
  monkeypatch.setattr(conv3d_lib, "_PATCH_GRAD_MIN_POSITIONS", 28 * 28)
  x, kernel = jnp.zeros((1, frames, 14, width, 5)), jnp.zeros((3, 1, 1, 5, 4))
  strides = (temporal_stride, 1, 1)
  loss = lambda x, k: jnp.sum(conv3d_lib.conv3d(x, k, strides, ((1, 1), (0, 0), (0, 0)),
                                                "folded"))
  ops = _conv_outputs(jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(x, kernel))
  t_out = frames // temporal_stride
  assert (("conv_general_dilated", (1, t_out, 14 * width, 4)) in ops) == over_time, ops
  assert (("dot_general", (1, t_out, 14, width, 4)) in ops) == (not over_time), ops
  if over_time:  # Its kernel gradient comes from patches: [3 * C_in, C_out].
    assert ("dot_general", (15, 4)) in ops, ops


@pytest.mark.parametrize("window,stride,pads", (
    ((7, 1), 2, ((2, 3), (0, 0))),   # torchvision S3D's 7x1x1 stride-2 temporal conv.
    ((3, 1), 2, ((0, 1), (0, 0))),
    ((4, 3), 3, ((1, 2), (1, 1))),   # Uneven phases, a window wider than 1.
    ((2, 1), 3, ((0, 0), (0, 0))),   # Stride > window: one phase receives nothing.
))
def test_polyphase_input_gradient_equals_the_transposed_convolution(window, stride, pads):
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.standard_normal((2, 11, 6, 3)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((*window, 3, 5)), jnp.float32)
  conv = lambda x: conv3d_lib._xla_conv2d(x, kernel, (stride, 1), pads, None)
  y, vjp = jax.vjp(conv, x)
  dy = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)
  _assert_close(conv3d_lib._polyphase_input_grad(dy, kernel, stride, pads, x.shape, None),
                vjp(dy)[0], f"{window} stride {stride}")


def test_patch_kernel_gradient_keeps_the_kernel_dtype():
  x = jnp.ones((1, 2, 6, 6, 3), jnp.bfloat16)
  kernel = jnp.ones((1, 3, 3, 3, 4), jnp.bfloat16)
  loss = lambda k: jnp.sum(conv3d_lib.conv3d(x, k, (1, 1, 1), ((0, 0), (1, 1), (1, 1)),
                                             "folded").astype(jnp.float32))
  grad = jax.grad(loss)(kernel)
  assert grad.dtype == jnp.bfloat16 and grad.shape == kernel.shape
  # The centre tap sees every one of the 2 x 6 x 6 positions.
  assert float(grad[0, 1, 1, 0, 0]) == 72.0


def test_auto_and_unknown_lowering():
  assert conv3d_lib.resolve_lowering("auto") == (
      "folded" if jax.default_backend() == "cpu" else "native")
  with pytest.raises(ValueError, match="lowering"):
    conv3d_lib.resolve_lowering("fast")


@functools.partial(jax.jit, static_argnames=("window", "strides", "padding"))
def _pool_values_and_grads(x, cotangent, window, strides, padding):
  results = {}
  for lowering in ("native", "folded"):
    fn = functools.partial(pooling.max_pool_3d, window=window, strides=strides,
                           padding=padding, lowering=lowering)
    y, vjp = jax.vjp(fn, x)
    results[lowering] = (y, *vjp(cotangent))
  return results


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("window,strides", POOL_SHAPES, ids=lambda v: "x".join(map(str, v)))
def test_max_pool_lowerings_match_native(window, strides, padding):
  rng = np.random.default_rng(1)
  for size in SIZES:
    # ReLU-like inputs: many exact ties (zeros), where the gradient must still go to
    # the same element as native's (the first maximum of the window).
    x = jnp.asarray(np.maximum(rng.standard_normal((2, *size, 3)), 0.0), jnp.float32)
    out_shape = jax.eval_shape(
        functools.partial(pooling.max_pool_3d, window=window, strides=strides,
                          padding=padding, lowering="native"), x).shape
    cotangent = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
    results = _pool_values_and_grads(x, cotangent, window=window, strides=strides,
                                     padding=padding)
    (y, dx), (y_ref, dx_ref) = results["folded"], results["native"]
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref), err_msg=f"{size} output")
    # Overlapping windows add cotangents in a different order: float32 rounding only.
    _assert_close(dx, dx_ref, f"{size} d/dinput")


# The whole-network graph is large: XLA:CPU's backend optimisations would double its
# compile time, and both lowerings are compiled with the same options.
_FAST_COMPILE = {"xla_backend_optimization_level": 0}


def test_tiny_model_same_logits_and_grads():
  """A whole tiny S3D-G: same logits, BN statistics and parameter gradients.

  S3D-G uses every op family (a [3,7,7] stride-2 first conv, 1x1x1, 1x3x3, 3x1x1, all
  four pools, gating, BN); I3D's 3x3x3 and 7x7x7 kernels are covered per layer above,
  and one more whole-model compile would cost ~30 s of CPU.
  """
  name = "s3dg"
  clips = jax.random.uniform(jax.random.PRNGKey(0), (1, 8, 32, 32, 3), jnp.float32, -1, 1)
  labels = jnp.array([3])
  models = {lowering: build_model(name, num_classes=7, depth_multiplier=0.125, min_depth=4,
                                  lowering=lowering)
            for lowering in ("native", "folded")}
  variables = _random_variables(models["native"], clips)

  def loss_and_grads(model):
    loss_fn = cross_entropy_loss_fn(model, variables["batch_stats"], clips, labels)
    step = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    return step.lower(variables["params"]).compile(_FAST_COMPILE)(variables["params"])

  (_, (logits, stats)), grads = loss_and_grads(models["native"])
  (_, (logits_f, stats_f)), grads_f = loss_and_grads(models["folded"])
  _assert_close(logits_f, logits, "logits", rtol=1e-4)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    _assert_close(_lookup(grads_f, path), g, f"grad {jax.tree_util.keystr(path)}", rtol=1e-3)
  for path, s in jax.tree_util.tree_leaves_with_path(stats):
    _assert_close(_lookup(stats_f, path), s, f"stat {jax.tree_util.keystr(path)}", rtol=1e-4)


def _random_variables(model, clips):
  """Random variables of the model's shapes, made on the host.

  `model.init` would run op by op (minutes on a busy 2-core box) or cost one more
  whole-model compile; only the shapes matter here. Variances are 1 + noise so the
  running-average path is not trivially the identity.
  """
  abstract = nn.meta.unbox(jax.eval_shape(
      functools.partial(model.init, train=False), jax.random.PRNGKey(0), clips))
  rng = np.random.default_rng(4)
  def value(leaf):
    v = rng.standard_normal(leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1] or (1,)))
    return jnp.asarray(v, leaf.dtype)
  variables = jax.tree.map(value, abstract)
  variables["batch_stats"] = jax.tree.map(lambda v: 1.0 + jnp.abs(v),
                                          variables["batch_stats"])
  return variables


def _lookup(tree, path):
  """The leaf of `tree` at a `tree_leaves_with_path` path of another tree."""
  for key in path:
    tree = tree[key.key if hasattr(key, "key") else key.name]
  return tree
