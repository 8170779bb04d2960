"""W3 attention (Perez-Rua et al., ECCV 2020; `d3d_jax.models.w3`): each sub-module equals
a numpy transcription of its equation on small shapes, masks have the documented shapes
and lie in (0, 1), the two sub-modules apply in sequence (Eq. 2), the feature refinement
pools and adds (Eq. 7-8), and the modules sit in the networks where documented."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from d3d_jax.models import build_model
from d3d_jax.models.inception import INCEPTION_V1_CHANNELS, InceptionBlock
from d3d_jax.models.w3 import (CBAM, AttentionRefinement, ChannelTemporalAttention,
                               SpatioTemporalAttention, W3Attention, adaptive_avg_pool)

X = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 6, 32)))


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _relu(x):
  return np.maximum(x, 0)


def _conv_same(x, kernel, bias):
  """numpy 'SAME' zero-padded stride-1 conv of x [B, T, H, W, Ci] with [kt, kh, kw, Ci, Co]."""
  kt, kh, kw, _, co = kernel.shape
  b, t, h, w, _ = x.shape
  padded = np.pad(x, ((0, 0), (kt // 2, kt // 2), (kh // 2, kh // 2), (kw // 2, kw // 2),
                      (0, 0)))
  y = np.zeros((b, t, h, w, co))
  for i in range(kt):
    for j in range(kh):
      for k in range(kw):
        y += padded[:, i:i + t, j:j + h, k:k + w] @ kernel[i, j, k]
  return y + bias


def _temporal_depthwise(x, p):
  """numpy per-channel 3-tap conv over time of [B, T, C], zero padding."""
  padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))
  t = x.shape[1]
  return sum(padded[:, j:j + t] * p["kernel"][j] for j in range(3)) + p["bias"]


def _channel_reference(x, p, temporal=True):
  """Eq. 3 (shared MLP on avg and max pooled frames, summed, sigmoid), then Eq. 4."""
  mlp = lambda d: (_relu(d @ p["mlp_hidden"]["kernel"] + p["mlp_hidden"]["bias"])
                   @ p["mlp_out"]["kernel"] + p["mlp_out"]["bias"])
  frame = _sigmoid(mlp(x.mean(axis=(2, 3))) + mlp(x.max(axis=(2, 3))))
  if not temporal:
    return frame
  hidden = _relu(_temporal_depthwise(frame, p["temporal_conv_0"]))
  return _sigmoid(_temporal_depthwise(hidden, p["temporal_conv_1"]))


def _spatial_reference(x, p):
  """Eq. 5 (7x7 conv of [channel mean, channel max] per frame, sigmoid), then Eq. 6."""
  pooled = np.stack([x.mean(-1), x.max(-1)], axis=-1)
  frame = _sigmoid(_conv_same(pooled, p["frame_conv"]["kernel"], p["frame_conv"]["bias"]))
  hidden = _relu(_conv_same(frame, p["temporal_conv_0"]["kernel"], p["temporal_conv_0"]["bias"]))
  return _sigmoid(_conv_same(hidden, p["temporal_conv_1"]["kernel"],
                             p["temporal_conv_1"]["bias"]))[..., 0]


def _randomised(params, seed):
  """The params with every leaf redrawn N(0, 0.5): masks then vary visibly."""
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree_util.tree_unflatten(tree, [
      np.asarray(0.5 * jax.random.normal(k, np.shape(l))) for k, l in zip(keys, leaves)])


def _init(module, *args, seed=1):
  variables = nn.unbox(module.init(jax.random.PRNGKey(seed), *args))
  return dict(variables, params=_randomised(variables["params"], seed))


def test_channel_temporal_attention_is_eq_3_then_eq_4():
  module = ChannelTemporalAttention(reduction=4)
  variables = _init(module, X)
  mask = np.asarray(module.apply(variables, X))
  np.testing.assert_allclose(mask, _channel_reference(X, variables["params"]),
                             rtol=1e-5, atol=1e-6)
  assert variables["params"]["mlp_hidden"]["kernel"].shape == (32, 8)  # C / r
  assert variables["params"]["temporal_conv_0"]["kernel"].shape == (3, 32)  # K_c-vid = 3


def test_channel_attention_without_temporal_reasoning_is_eq_3_alone():
  module = ChannelTemporalAttention(reduction=4, temporal=False)
  variables = _init(module, X)
  assert set(variables["params"]) == {"mlp_hidden", "mlp_out"}
  np.testing.assert_allclose(module.apply(variables, X),
                             _channel_reference(X, variables["params"], temporal=False),
                             rtol=1e-5, atol=1e-6)


def test_spatio_temporal_attention_is_eq_5_then_eq_6():
  module = SpatioTemporalAttention()
  variables = _init(module, X)
  mask = np.asarray(module.apply(variables, X))
  np.testing.assert_allclose(mask, _spatial_reference(X, variables["params"]),
                             rtol=1e-5, atol=1e-6)
  p = variables["params"]
  assert p["frame_conv"]["kernel"].shape == (1, 7, 7, 2, 1)          # 7x7, [avg, max]
  assert p["temporal_conv_0"]["kernel"].shape == (3, 3, 3, 1, 1)     # 3x3x3
  assert p["temporal_conv_1"]["kernel"].shape == (3, 3, 3, 1, 1)


def test_masks_have_the_documented_shapes_and_lie_in_zero_one():
  module = W3Attention(reduction=4)
  variables = _init(module, X, False)
  y, maps = module.apply(variables, X, False)
  assert y.shape == X.shape
  assert maps["channel_mask"].shape == (2, 5, 32)        # M^c: T x C
  assert maps["spatial_mask"].shape == (2, 5, 6, 6)      # M^s: T x H x W
  for mask in maps.values():
    mask = np.asarray(mask)
    assert mask.min() > 0 and mask.max() < 1
    assert mask.std() > 1e-3  # not a constant


def test_w3_applies_channel_then_spatial_attention_in_sequence():
  # Eq. 2: F^c = M^c (x) F; M^s = f^s(F^c); F^s = M^s (x) F^c.
  module = W3Attention(reduction=4)
  variables = _init(module, X, False)
  y, maps = module.apply(variables, X, False)
  p = variables["params"]
  channel = _channel_reference(X, p["channel_temporal"])
  f_c = X * channel[:, :, None, None, :]
  spatial = _spatial_reference(f_c, p["spatio_temporal"])
  np.testing.assert_allclose(maps["channel_mask"], channel, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(maps["spatial_mask"], spatial, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(y, f_c * spatial[..., None], rtol=1e-5, atol=1e-6)


def test_w3_without_spatial_attention_has_only_the_channel_mask():
  module = W3Attention(reduction=4, spatial=False)
  variables = _init(module, X, False)
  y, maps = module.apply(variables, X, False)
  assert set(maps) == {"channel_mask"} and "spatio_temporal" not in variables["params"]
  np.testing.assert_allclose(y, X * np.asarray(maps["channel_mask"])[:, :, None, None],
                             rtol=1e-6)


def test_cbam_has_no_temporal_reasoning_and_a_batch_normalised_spatial_conv():
  module = CBAM()
  variables = _init(module, X, False)
  flat = traverse_util.flatten_dict(variables["params"], sep="/")
  assert not any("temporal_conv" in k for k in flat)
  assert flat["channel_temporal/mlp_hidden/kernel"].shape == (32, 2)  # reduction 16
  assert "spatio_temporal/frame_bn/bias" in flat and "spatio_temporal/frame_conv/bias" not in flat
  # Each frame is attended on its own: shuffling frames shuffles the output.
  perm = np.array([4, 2, 0, 1, 3])
  y, _ = module.apply(variables, X, False)
  y_perm, _ = module.apply(variables, X[:, perm], False)
  np.testing.assert_allclose(y_perm, np.asarray(y)[:, perm], rtol=1e-5, atol=1e-6)


def test_unknown_hidden_activation_is_an_error_naming_the_option():
  with pytest.raises(ValueError, match="hidden_activation.*'gelu'"):
    W3Attention(hidden_activation="gelu").init(jax.random.PRNGKey(0), X, False)


def test_adaptive_avg_pool_averages_pytorch_bins():
  # Length 5 -> 2: bins [0, 3) and [2, 5) (floor / ceil), as torch's adaptive_avg_pool.
  x = np.arange(5.0).reshape(1, 5, 1, 1, 1)
  np.testing.assert_allclose(np.asarray(adaptive_avg_pool(x, (2, 1, 1))).ravel(), [1.0, 3.0])
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (1, 4, 6, 6, 2)))
  expected = x.reshape(1, 2, 2, 2, 3, 2, 3, 2).mean(axis=(2, 4, 6))
  np.testing.assert_allclose(adaptive_avg_pool(x, (2, 2, 2)), expected, rtol=1e-5, atol=1e-6)


def test_refinement_pools_masks_to_the_final_grid_and_adds_a_relu_1x1_conv():
  # Eq. 7-8: y = x + ReLU(W [AAP(M^1), AAP(M^2)] + b), per final cell.
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (1, 2, 2, 2, 3)))
  mask_a = np.asarray(jax.random.uniform(jax.random.PRNGKey(5), (1, 4, 4, 4)))
  mask_b = np.asarray(jax.random.uniform(jax.random.PRNGKey(6), (1, 2, 2, 2)))
  module = AttentionRefinement()
  variables = _init(module, x, [mask_a, mask_b])
  kernel = variables["params"]["Conv3d_1x1"]["kernel"][0, 0, 0]  # [N = 2, C_l = 3]
  bias = variables["params"]["Conv3d_1x1"]["bias"]
  pooled_a = mask_a.reshape(1, 2, 2, 2, 2, 2, 2).mean(axis=(2, 4, 6))
  stacked = np.stack([pooled_a, mask_b], axis=-1)
  expected = x + _relu(stacked @ kernel + bias)
  np.testing.assert_allclose(module.apply(variables, x, [mask_a, mask_b]), expected,
                             rtol=1e-5, atol=1e-6)


TINY = dict(depth_multiplier=0.125, min_depth=4)
CLIP = jnp.zeros((1, 8, 32, 32, 3))


@functools.lru_cache(maxsize=None)
def _shapes(name, **options):
  model = build_model(name, num_classes=5, **TINY, **options)
  variables = jax.eval_shape(lambda: nn.unbox(model.init(jax.random.PRNGKey(0), CLIP)))
  _, endpoints = jax.eval_shape(lambda v: model.apply(v, CLIP), variables)
  params = traverse_util.flatten_dict(variables["params"], sep="/")
  return model, params, {k: v.shape for k, v in endpoints.items()}


@pytest.mark.parametrize("name", ["i3d", "s3dg"])
def test_w3_goes_into_every_inception_block_of_i3d_and_s3dg(name):
  model, params, endpoints = _shapes(name, block_module="w3", final_endpoint="Mixed_4c",
                                     attention_refinement=True)
  for block in ("Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c"):
    assert endpoints[f"{block}/W3/spatial_mask"] == endpoints[block][:4]
    assert endpoints[f"{block}/W3/channel_mask"] == (
        endpoints[block][:2] + endpoints[block][-1:])
  # Refinement: the last masked block of each stage (3c, 4c) -> N = 2 channels.
  assert params["AttentionRefinement/Conv3d_1x1/kernel"].shape == (
      1, 1, 1, 2, endpoints["Mixed_4c"][-1])
  assert endpoints["AttentionRefinement"] == endpoints["Mixed_4c"]
  assert "^AttentionRefinement/" in model.new_modules()
  assert "^Mixed_4c/W3/" in model.new_modules()


def test_w3_runs_on_the_inception_blocks_output():
  # The block's output is M^s M^c times its concatenated branches (same parameters).
  channels = INCEPTION_V1_CHANNELS["Mixed_3b"].scaled(lambda c: max(c // 8, 4))
  x = jax.random.normal(jax.random.PRNGKey(2), (1, 4, 5, 5, 16))
  block = InceptionBlock(channels, temporal_kernel_size=1, block_module="w3")
  variables = nn.unbox(block.init(jax.random.PRNGKey(3), x, False))
  y, maps = block.apply(variables, x, False)
  plain_params = {k: v for k, v in variables["params"].items() if k != "W3"}
  plain, _ = InceptionBlock(channels, temporal_kernel_size=1).apply(
      dict(variables, params=plain_params), x, False)
  masks = (np.asarray(maps["W3/channel_mask"])[:, :, None, None, :]
           * np.asarray(maps["W3/spatial_mask"])[..., None])
  np.testing.assert_allclose(y, np.asarray(plain) * masks, rtol=1e-5, atol=1e-6)


def test_refinement_without_spatial_masks_is_an_error():
  model = build_model("s3dg", num_classes=5, **TINY, final_endpoint="Mixed_3c",
                      attention_refinement=True)
  with pytest.raises(ValueError, match="attention_refinement needs a block module"):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), CLIP))


def test_full_temporal_mixing_convolves_every_channel_into_every_channel():
  module = ChannelTemporalAttention(reduction=4, temporal_mixing="full")
  variables = _init(module, X)
  p = variables["params"]
  assert p["temporal_conv_0"]["conv"]["kernel"].shape == (3, 32, 32)
  mlp = lambda d: (_relu(d @ p["mlp_hidden"]["kernel"] + p["mlp_hidden"]["bias"])
                   @ p["mlp_out"]["kernel"] + p["mlp_out"]["bias"])
  frame = _sigmoid(mlp(X.mean(axis=(2, 3))) + mlp(X.max(axis=(2, 3))))
  conv = lambda x, q: _conv_same(x[:, :, None, None, :], q["kernel"][:, None, None],
                                 q["bias"])[:, :, 0, 0]
  expected = _sigmoid(conv(_relu(conv(frame, p["temporal_conv_0"]["conv"])),
                           p["temporal_conv_1"]["conv"]))
  np.testing.assert_allclose(module.apply(variables, X), expected, rtol=1e-5, atol=1e-6)
