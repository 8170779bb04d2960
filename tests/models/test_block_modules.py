"""In-block modules (`d3d_jax.models.block_modules`): the temporal shift of TSM (Lin et
al., ICCV 2019) moves exactly the channels it names, runs on an Inception block's input,
adds no parameters, and goes only into the blocks it is given. Tiny networks."""

import functools

import flax.linen as nn
import jax
import numpy as np
import pytest
from flax import traverse_util

from d3d_jax.models import build_model
from d3d_jax.models.block_modules import TemporalShift
from d3d_jax.models.inception import INCEPTION_V1_CHANNELS, InceptionBlock

TINY_I2D = dict(depth_multiplier=0.125, min_depth=4, final_endpoint="Mixed_3c")
X = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 32, 32, 3))


def _expected_shift(x, fold):
  """TSM's shift in numpy: channels [0, fold) at t take frame t+1, channels
  [fold, 2 fold) take frame t-1; vacated frames are zeros; the rest is unchanged."""
  y = np.array(x, copy=True)
  y[:, :, ..., :fold] = 0.0
  y[:, :-1, ..., :fold] = x[:, 1:, ..., :fold]
  y[:, :, ..., fold:2 * fold] = 0.0
  y[:, 1:, ..., fold:2 * fold] = x[:, :-1, ..., fold:2 * fold]
  return y


def test_temporal_shift_moves_the_first_eighth_back_and_the_next_eighth_forward():
  # x[b, t, h, w, c] = 100 t + c + 1 (never 0), T = 4, C = 16: channels 0-1 shift back,
  # 2-3 forward, 4-15 stay.
  t = np.arange(4).reshape(1, 4, 1, 1, 1)
  c = np.arange(16).reshape(1, 1, 1, 1, 16)
  x = np.broadcast_to(100.0 * t + c + 1, (2, 4, 3, 3, 16)).astype(np.float32)
  y, maps = TemporalShift().apply({}, x, False)
  assert maps == {}
  np.testing.assert_array_equal(y, _expected_shift(x, 2))
  # Spot checks of the numpy expectation itself, at (b=0, h=0, w=0):
  np.testing.assert_array_equal(y[0, :, 0, 0, 0], [101, 201, 301, 0])   # frame t+1
  np.testing.assert_array_equal(y[0, :, 0, 0, 2], [0, 3, 103, 203])      # frame t-1
  np.testing.assert_array_equal(y[0, :, 0, 0, 4], [5, 105, 205, 305])    # unchanged


def test_temporal_shift_fold_div_sets_the_shifted_fraction():
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (1, 5, 2, 2, 16)))
  y, _ = TemporalShift(fold_div=4).apply({}, x, False)
  np.testing.assert_array_equal(y, _expected_shift(x, 4))


def test_temporal_shift_runs_on_the_inception_blocks_input():
  # The block with the shift equals the plain block (same parameters) applied to the
  # shifted input, so the module sits before the branches ('input' position).
  channels = INCEPTION_V1_CHANNELS["Mixed_3b"].scaled(lambda c: max(c // 8, 4))
  x = jax.random.normal(jax.random.PRNGKey(2), (1, 4, 5, 5, 16))
  plain = InceptionBlock(channels, temporal_kernel_size=1)
  shifted = InceptionBlock(channels, temporal_kernel_size=1, block_module="temporal_shift")
  variables = nn.unbox(plain.init(jax.random.PRNGKey(3), x, False))
  out_shifted, maps = shifted.apply(variables, x, False)
  out_plain, _ = plain.apply(variables, _expected_shift(np.asarray(x), 2), False)
  assert maps == {}
  np.testing.assert_allclose(out_shifted, out_plain, rtol=1e-5, atol=1e-6)


def test_block_module_options_reach_the_module():
  channels = INCEPTION_V1_CHANNELS["Mixed_3b"].scaled(lambda c: max(c // 8, 4))
  x = jax.random.normal(jax.random.PRNGKey(4), (1, 4, 5, 5, 16))
  plain = InceptionBlock(channels, temporal_kernel_size=1)
  shifted = InceptionBlock(channels, temporal_kernel_size=1, block_module="temporal_shift",
                           block_module_options=(("fold_div", 4),))
  variables = nn.unbox(plain.init(jax.random.PRNGKey(5), x, False))
  out_plain, _ = plain.apply(variables, _expected_shift(np.asarray(x), 4), False)
  np.testing.assert_allclose(shifted.apply(variables, x, False)[0], out_plain,
                             rtol=1e-5, atol=1e-6)


def test_misspelt_block_module_option_is_an_error_naming_it():
  model = build_model("i2d", num_classes=5, block_module="temporal_shift",
                      block_module_options={"fold_dvi": 4}, **TINY_I2D)
  with pytest.raises(TypeError, match="fold_dvi"):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), X))


@functools.lru_cache(maxsize=None)
def _i2d(**options):
  return build_model("i2d", num_classes=5, **TINY_I2D, **options)


def _params_shapes(model):
  variables = jax.eval_shape(lambda: nn.unbox(model.init(jax.random.PRNGKey(0), X)))
  return {k: v.shape for k, v in traverse_util.flatten_dict(variables, sep="/").items()}


@functools.lru_cache(maxsize=None)
def _endpoints(blocks):
  """Endpoints of the tiny i2d with the temporal shift in `blocks` (None: no shift;
  (): the default, every Inception block), all with the plain network's variables."""
  plain = _i2d()
  variables = nn.unbox(jax.jit(plain.init)(jax.random.PRNGKey(0), X))
  model = plain if blocks is None else _i2d(block_module="temporal_shift",
                                            block_module_blocks=blocks)
  _, endpoints = jax.jit(model.apply)(variables, X)
  return {k: np.asarray(v) for k, v in endpoints.items()}


def test_temporal_shift_adds_no_parameters_and_no_new_modules():
  shifted = _i2d(block_module="temporal_shift")
  assert _params_shapes(shifted) == _params_shapes(_i2d())
  assert shifted.new_modules() == ()


def test_temporal_shift_changes_the_output_of_i2d_with_the_same_parameters():
  plain, shifted = _endpoints(None), _endpoints(())
  # Every Inception block shifts by default: Mixed_3b already differs.
  assert np.abs(shifted["Mixed_3b"] - plain["Mixed_3b"]).max() > 1e-3
  assert np.abs(shifted["Logits"] - plain["Logits"]).max() > 1e-4
  # The layers below the first Inception block are untouched.
  np.testing.assert_array_equal(shifted["MaxPool3d_3a_3x3"], plain["MaxPool3d_3a_3x3"])


def test_block_module_blocks_restricts_the_shift_to_the_listed_blocks():
  plain, only_3c = _endpoints(None), _endpoints(("Mixed_3c",))
  np.testing.assert_array_equal(only_3c["Mixed_3b"], plain["Mixed_3b"])
  assert np.abs(only_3c["Mixed_3c"] - plain["Mixed_3c"]).max() > 1e-3


def test_unknown_block_module_is_an_error_naming_the_choices():
  model = _i2d(block_module="temporal_shuffle")
  with pytest.raises(ValueError, match="block_module must be one of.*temporal_shift"):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), X))
  with pytest.raises(ValueError, match="temporal_shuffle"):
    model.new_modules()


def test_block_module_in_a_block_that_is_not_inception_is_an_error():
  model = _i2d(block_module="temporal_shift", block_module_blocks=("Conv3d_2c_3x3",))
  with pytest.raises(ValueError, match="block_module_blocks: 'Conv3d_2c_3x3'"):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), X))
