"""The attention heads of attention distillation (Liu et al., BMVC 2020, Sec. 3.2-3.5).

Specified here: every map is a distribution over H x W in each time slice (Eq. 1-2);
`resample_map` brings a map onto the pooled features' grid without losing mass; the
Gumbel samples of the probabilistic maps have p(A) as their (small-temperature)
expectation and p(A) itself pools at test time; pooling is Eq. 4 / Eq. 5; Prob-Distill
predicts the mixture of Eq. 7; the heads add exactly the parameters they declare
(`new_modules()`), counted at full size by shape.

Tiny networks: i3d at depth 0.125, maps from Mixed_3b, features of Mixed_4b, 8 frames of
24 x 24 px, so the map grid is (4, 3, 3) and the feature grid (2, 2, 2): an odd H, W.
"""

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from d3d_jax.models import build_model
from d3d_jax.models.attention import (attention_head, attention_pool, gumbel_noise,
                                      resample_map)
from d3d_jax.models.units import ConvOptions

EULER_MASCHERONI = 0.5772157
TINY = dict(depth_multiplier=0.125, min_depth=4, attention_source="Mixed_3b",
            final_endpoint="Mixed_4b", dropout_rate=0.0)
X = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 24, 24, 3))
MAP_GRID = (2, 4, 3, 3)      # [B, T, H, W] of Mixed_3b
SINGLE_HEADS = ("soft_atten", "soft_res", "prob_atten")
HEADS = SINGLE_HEADS + ("prob_distill",)
MAPS = {head: ("Attention/map",) for head in SINGLE_HEADS}
MAPS["prob_distill"] = ("Attention/motion", "Attention/appearance")


def _softmax(z, axis=-1):
  e = np.exp(z - z.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def _slice_softmax(z):
  """Softmax over (H, W) of [B, T, H, W]."""
  b, t, h, w = z.shape
  return _softmax(z.reshape(b, t, h * w)).reshape(b, t, h, w)


def _np_resample(maps, grid):
  """The specification of `resample_map`, cell by cell: target cell (i, j, k) covers
  the source blocks of size ceil(source / target) per axis (cut at the end); it is the
  SUM over its H, W cells of the MEAN over its real time slices."""
  t, h, w = maps.shape[1:4]
  ft, fh, fw = (-(-s // g) for s, g in zip((t, h, w), grid))
  out = np.zeros(maps.shape[:1] + tuple(grid) + maps.shape[4:])
  for i in range(grid[0]):
    for j in range(grid[1]):
      for k in range(grid[2]):
        block = maps[:, i * ft:(i + 1) * ft, j * fh:(j + 1) * fh, k * fw:(k + 1) * fw]
        out[:, i, j, k] = block.sum(axis=(2, 3)).mean(axis=1)
  return out


def _params(variables):
  return traverse_util.flatten_dict(nn.unbox(variables["params"]), sep="/")


# --- tiny networks, built once per head -------------------------------------------------


@functools.lru_cache(maxsize=None)
def _tiny(head):
  model = build_model("i3d", 5, head=head, **TINY)
  variables = nn.unbox(jax.jit(functools.partial(model.init, train=False))(
      jax.random.PRNGKey(1), X))
  return model, variables, jax.jit(model.apply, static_argnames=("train", "mutable"))


@functools.lru_cache(maxsize=None)
def _run(head, train, seed=0):
  """(logits, endpoints) of the tiny `head` network, numpy; `seed` keys the rngs."""
  _, variables, apply = _tiny(head)
  rngs = {"dropout": jax.random.PRNGKey(seed)}
  if train:
    (logits, endpoints), _ = apply(variables, X, train=True, rngs=rngs,
                                   mutable=("batch_stats",))
  else:
    logits, endpoints = apply(variables, X, train=False, rngs=rngs)
  return np.asarray(logits), {k: np.asarray(v) for k, v in endpoints.items()}


# --- Eq. 1-2: per-slice normalisation ---------------------------------------------------


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("head", HEADS)
def test_every_map_sums_to_one_over_h_w_in_each_time_slice(head, train):
  _, endpoints = _run(head, train)
  for name in MAPS[head]:
    attention = endpoints[name]
    assert attention.shape == MAP_GRID  # on phi's (Mixed_3b's) grid
    assert attention.dtype == np.float32
    assert (attention > 0).all()
    np.testing.assert_allclose(attention.sum(axis=(2, 3)), np.ones(MAP_GRID[:2]), rtol=1e-5)
    np.testing.assert_allclose(np.exp(endpoints[f"{name}_log"]), attention, rtol=1e-6)


@pytest.mark.parametrize("head", ["prob_atten", "prob_distill"])
def test_map_endpoints_in_training_are_p_of_a_not_gumbel_samples(head):
  # Losses read the deterministic p(A) = softmax(w_a * phi) of the same forward pass,
  # whatever the noise: two rngs give the same maps, equal to p(A) of that pass's phi.
  _, variables, _ = _tiny(head)
  params = _params(variables)
  _, first = _run(head, True, seed=1)
  _, second = _run(head, True, seed=2)
  for name in MAPS[head]:
    scope = "Attention/" if head != "prob_distill" else f"{name}/"
    w_a = params[f"{scope}Conv3d_0a_1x1/kernel"][0, 0, 0, :, 0]
    expected = _slice_softmax(first["Mixed_3b"] @ w_a)
    np.testing.assert_allclose(first[name], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(first[name], second[name])


# --- resample_map --------------------------------------------------------------------------


def test_resample_map_by_hand_sums_h_w_blocks_and_averages_real_time_slices():
  # T=3, H=1, W=3 onto (2, 1, 2): W blocks {0, 1}, {2}; T blocks {0, 1}, {2}.
  # t=0 [.5 .3 .2] -> [.8 .2]; t=1 [.1 .1 .8] -> [.2 .8]; t=2 [.2 .2 .6] -> [.4 .6].
  # Target t'=0: mean of t=0, 1 = [.5 .5]; t'=1: t=2 alone (padding excluded) = [.4 .6].
  maps = np.array([[.5, .3, .2], [.1, .1, .8], [.2, .2, .6]], np.float32).reshape(1, 3, 1, 3)
  out = resample_map(jnp.asarray(maps), (2, 1, 2))
  np.testing.assert_allclose(out, np.array([[.5, .5], [.4, .6]]).reshape(1, 2, 1, 2),
                             rtol=1e-6)


def test_resample_map_of_odd_sizes_matches_block_sums_and_stays_normalised():
  # T=3, H=7, W=7 onto (2, 4, 4): factors (2, 2, 2), the last block of each axis
  # half padding.
  maps = _slice_softmax(np.asarray(jax.random.normal(jax.random.PRNGKey(2), (2, 3, 7, 7))))
  out = np.asarray(resample_map(jnp.asarray(maps, jnp.float32), (2, 4, 4)))
  assert out.shape == (2, 2, 4, 4)
  np.testing.assert_allclose(out, _np_resample(maps, (2, 4, 4)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(out.sum(axis=(2, 3)), np.ones((2, 2)), rtol=1e-5)


def test_resample_map_of_a_per_channel_map_resamples_each_channel():
  # [B, T, H, W, C] with C = 3 (the Gumbel samples, one per feature channel).
  logits = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (1, 3, 7, 5, 3)))
  maps = np.exp(logits) / np.exp(logits).sum(axis=(2, 3), keepdims=True)
  out = np.asarray(resample_map(jnp.asarray(maps, jnp.float32), (2, 4, 3)))
  assert out.shape == (1, 2, 4, 3, 3)
  np.testing.assert_allclose(out, _np_resample(maps, (2, 4, 3)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(out.sum(axis=(2, 3)), np.ones((1, 2, 3)), rtol=1e-5)


def test_resample_map_onto_its_own_grid_is_the_identity():
  maps = _slice_softmax(np.asarray(jax.random.normal(jax.random.PRNGKey(4), (2, 3, 7, 7))))
  maps = jnp.asarray(maps, jnp.float32)
  np.testing.assert_array_equal(resample_map(maps, (3, 7, 7)), maps)


@pytest.mark.parametrize("shape, grid, message", [
    ((1, 4, 5, 5), (4, 4, 4), "5 H cells onto 4"),    # blocks of 2 cover 5 with 3 cells
    ((1, 2, 4, 4), (4, 4, 4), "2 T cells onto 4"),    # a finer target grid
    ((1, 4, 4, 6), (4, 4, 5), "6 W cells onto 5"),
])
def test_resample_map_to_an_unreachable_grid_is_an_error(shape, grid, message):
  with pytest.raises(ValueError, match=message):
    resample_map(jnp.ones(shape), grid)


# --- Gumbel samples ----------------------------------------------------------------------


def test_gumbel_noise_has_the_standard_gumbel_mean_and_variance():
  # 10^6 draws: the standard Gumbel has mean 0.5772 (Euler-Mascheroni) and variance
  # pi^2/6 = 1.6449, std 1.28; the standard error of the mean is 1.3e-3 and of the
  # variance 3.5e-3 (excess kurtosis 2.4), so the tolerances below are ~6 standard errors
  # (eps = 1e-6 shifts the mean by far less).
  g = np.asarray(gumbel_noise(jax.random.PRNGKey(5), (1_000_000,), 1e-6), np.float64)
  assert abs(g.mean() - EULER_MASCHERONI) < 0.008
  assert abs(g.var() - np.pi ** 2 / 6) < 0.02


def test_argmax_of_logits_plus_gumbel_noise_is_distributed_as_their_softmax():
  # The Gumbel-max trick: P(argmax(z + g) = i) = softmax(z)_i. 200k draws: the standard
  # error of a frequency is at most sqrt(0.25 / 2e5) = 1.1e-3; tolerance 0.006 (> 5 SE).
  z = np.array([1.0, -0.5, 2.0, 0.3])
  g = np.asarray(gumbel_noise(jax.random.PRNGKey(6), (200_000, 4), 1e-6))
  frequencies = np.bincount(np.argmax(z + g, axis=-1), minlength=4) / 200_000
  np.testing.assert_allclose(frequencies, _softmax(z), atol=0.006)


class _Head(nn.Module):
  """`attention_head` alone, on given phi and features (no dropout)."""

  head: str
  num_classes: int
  temperature: float = 2.0
  per_channel_noise: bool = True

  @nn.compact
  def __call__(self, phi, features, train: bool):
    rng = self.make_rng("dropout") if train and self.head.startswith("prob") else None
    return attention_head(self.head, phi, features, num_classes=self.num_classes,
                          dropout_rate=0.0, options=ConvOptions(), train=train, rng=rng,
                          temperature=self.temperature,
                          per_channel_noise=self.per_channel_noise)


def _variables(w_a, w_r, b_r):
  return {"params": {
      "Attention": {"Conv3d_0a_1x1": {"kernel": jnp.asarray(w_a).reshape(1, 1, 1, -1, 1)}},
      "Logits": {"Conv3d_0c_1x1": {"kernel": jnp.asarray(w_r)[None, None, None],
                                   "bias": jnp.asarray(b_r)}}}}


# p(A) on a 2 x 2 grid, and a probe that reads the pooling map: phi has one channel
# equal to the logit z = log p + 3 (w_a = 1), the features are one-hot in position
# (channel c = 2 h + w is 1 at cell (h, w) only) and W_r is the identity, so the logit
# of class c is the map that pools channel c, evaluated at cell c.
PROBE_P = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
PROBE_PHI = (np.log(PROBE_P) + 3.0).reshape(1, 1, 2, 2, 1)
PROBE_FEATURES = np.eye(4, dtype=np.float32).reshape(1, 1, 2, 2, 4)
PROBE_VARIABLES = _variables(np.ones(1, np.float32), np.eye(4, dtype=np.float32),
                             np.zeros(4, np.float32))


def _probe(n, train, temperature=2.0, per_channel_noise=True, seed=7):
  head = _Head("prob_atten", 4, temperature, per_channel_noise)
  phi = np.broadcast_to(PROBE_PHI, (n,) + PROBE_PHI.shape[1:])
  features = np.broadcast_to(PROBE_FEATURES, (n,) + PROBE_FEATURES.shape[1:])
  _, logits, _ = head.apply(PROBE_VARIABLES, phi, features, train,
                            rngs={"dropout": jax.random.PRNGKey(seed)})
  return np.asarray(logits)


def test_prob_atten_pools_with_p_of_a_at_eval():
  np.testing.assert_allclose(_probe(1, train=False)[0], PROBE_P, rtol=1e-5)


def test_small_temperature_gumbel_samples_average_to_p_of_a():
  # softmax((log p + g) / tau) tends to the one-hot argmax(log p + g), whose mean is p
  # (Gumbel-max). At tau = 0.05 the bias of the mean is O(tau^2): on each pairwise
  # comparison, a logistic's density slope (<= 0.1) times tau^2 pi^2 / 6 = 0.004, so
  # < 5e-4. The Monte Carlo standard error over 50k clips is <= 0.5 / sqrt(5e4) = 2.2e-3;
  # tolerance 0.015 is ~7 standard errors.
  mean = _probe(50_000, train=True, temperature=0.05).mean(axis=0)
  np.testing.assert_allclose(mean, PROBE_P, atol=0.015)


def test_each_feature_channel_pools_with_its_own_gumbel_sample():
  # With one sample for all channels the probe's classes read one distribution at four
  # cells, which sum to 1; per-channel samples are independent, so their sum varies.
  shared = _probe(200, train=True, per_channel_noise=False)
  np.testing.assert_allclose(shared.sum(axis=-1), np.ones(200), rtol=1e-5)
  per_channel = _probe(200, train=True, per_channel_noise=True)
  assert per_channel.sum(axis=-1).std() > 0.05


# --- expectation at eval, samples in training (the tiny network) -----------------------------


def test_prob_atten_eval_logits_are_w_r_on_features_pooled_with_p_of_a():
  _, variables, _ = _tiny("prob_atten")
  params = _params(variables)
  logits, endpoints = _run("prob_atten", False, seed=0)
  w_a = params["Attention/Conv3d_0a_1x1/kernel"][0, 0, 0, :, 0]
  w_r = params["Logits/Conv3d_0c_1x1/kernel"][0, 0, 0]
  b_r = params["Logits/Conv3d_0c_1x1/bias"]
  p = _slice_softmax(endpoints["Mixed_3b"] @ w_a)                    # Eq. 2, [2, 4, 3, 3]
  np.testing.assert_allclose(endpoints["Attention/map"], p, rtol=1e-4, atol=1e-6)
  features = endpoints["Mixed_4b"]                                   # [2, 2, 2, 2, C]
  pool_map = _np_resample(p, features.shape[1:4])                    # (4,3,3) -> (2,2,2)
  pooled = np.einsum("bthw,bthwc->btc", pool_map, features)          # Eq. 4 per slice
  expected = (pooled @ w_r + b_r).mean(axis=1)                       # W_r, mean over T
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
  # Deterministic: another call, with other rngs, gives the same logits.
  np.testing.assert_array_equal(_run("prob_atten", False, seed=3)[0], logits)


def test_probabilistic_heads_sample_in_training():
  # Dropout is 0 in these networks, so only the Gumbel noise can depend on the rng.
  first, second = _run("prob_atten", True, seed=1)[0], _run("prob_atten", True, seed=2)[0]
  assert np.abs(first - second).max() > 1e-4
  np.testing.assert_array_equal(_run("prob_atten", True, seed=1)[0], first)


def test_soft_attention_heads_draw_no_noise_in_training():
  for head in ("soft_atten", "soft_res"):
    np.testing.assert_array_equal(_run(head, True, seed=1)[0], _run(head, True, seed=2)[0])


# --- Eq. 4 / Eq. 5 pooling ------------------------------------------------------------------


def test_attention_pool_with_a_shared_map_is_the_weighted_spatial_sum_of_eq4():
  features = np.asarray(jax.random.normal(jax.random.PRNGKey(8), (2, 3, 4, 5, 6)))
  pool_map = _slice_softmax(np.asarray(jax.random.normal(jax.random.PRNGKey(9), (2, 3, 4, 5))))
  expected = (pool_map[..., None] * features).sum(axis=(2, 3))
  np.testing.assert_allclose(attention_pool(features, pool_map, residual=False), expected,
                             rtol=1e-5, atol=1e-6)


def test_attention_pool_with_a_per_channel_map_weights_each_channel_by_its_own_map():
  # Channel c is pooled with map c; by hand for one slice of 1 x 2 cells, 2 channels:
  # features [[1, 10], [2, 20]] (cell, channel), maps [[.25, .5], [.75, .5]]:
  # channel 0: .25*1 + .75*2 = 1.75; channel 1: .5*10 + .5*20 = 15.
  features = np.array([[1.0, 10.0], [2.0, 20.0]]).reshape(1, 1, 1, 2, 2)
  maps = np.array([[0.25, 0.5], [0.75, 0.5]]).reshape(1, 1, 1, 2, 2)
  np.testing.assert_allclose(attention_pool(features, maps, residual=False),
                             [[[1.75, 15.0]]], rtol=1e-6)
  random_features = np.asarray(jax.random.normal(jax.random.PRNGKey(10), (2, 3, 4, 5, 6)))
  random_maps = np.asarray(jax.random.uniform(jax.random.PRNGKey(11), (2, 3, 4, 5, 6)))
  np.testing.assert_allclose(attention_pool(random_features, random_maps, residual=False),
                             (random_maps * random_features).sum(axis=(2, 3)),
                             rtol=1e-5, atol=1e-6)


def test_residual_attention_pool_adds_the_spatial_mean_of_eq5():
  # Same slice: the residual adds the mean over cells, (1.5, 15) per channel, to the
  # attention term (1.75, 15) of the shared-map case with map [.25, .75]:
  # channel 0: .25*1 + .75*2 + 1.5 = 3.25; channel 1: .25*10 + .75*20 + 15 = 32.5.
  features = np.array([[1.0, 10.0], [2.0, 20.0]]).reshape(1, 1, 1, 2, 2)
  pool_map = np.array([0.25, 0.75]).reshape(1, 1, 1, 2)
  np.testing.assert_allclose(attention_pool(features, pool_map, residual=True),
                             [[[3.25, 32.5]]], rtol=1e-6)


def test_soft_res_head_adds_w_r_on_the_average_pooled_features_to_soft_atten():
  phi = np.asarray(jax.random.normal(jax.random.PRNGKey(12), (2, 2, 3, 3, 4)))
  features = np.asarray(jax.random.normal(jax.random.PRNGKey(13), (2, 2, 3, 3, 5)))
  w_a = np.asarray(jax.random.normal(jax.random.PRNGKey(14), (4,)))
  w_r = np.asarray(jax.random.normal(jax.random.PRNGKey(15), (5, 3)))
  variables = _variables(w_a, w_r, np.array([0.1, -0.2, 0.3], np.float32))
  _, soft_atten, _ = _Head("soft_atten", 3).apply(variables, phi, features, False)
  _, soft_res, _ = _Head("soft_res", 3).apply(variables, phi, features, False)
  residual = features.mean(axis=(2, 3)) @ w_r                         # [B, T, K]
  np.testing.assert_allclose(np.asarray(soft_res) - np.asarray(soft_atten),
                             residual.mean(axis=1), rtol=1e-4, atol=1e-5)
  # Prob-Atten at eval plugs in p(A) = the soft map: it computes Soft-Atten exactly.
  _, prob_atten, _ = _Head("prob_atten", 3).apply(variables, phi, features, False)
  np.testing.assert_array_equal(prob_atten, soft_atten)


# --- Eq. 7 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_prob_distill_logits_are_the_log_of_the_mixture_of_the_two_heads(train):
  logits, endpoints = _run("prob_distill", train)
  mixture = (_softmax(endpoints["Logits/motion"]) + _softmax(endpoints["Logits/appearance"])) / 2
  np.testing.assert_allclose(logits, np.log(mixture), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(endpoints["Predictions"], mixture, rtol=1e-5, atol=1e-7)
  # The two heads are distinct classifiers: the mixture is not one of them.
  assert np.abs(endpoints["Logits/motion"] - endpoints["Logits/appearance"]).max() > 1e-4


# --- parameters --------------------------------------------------------------------------


def _shapes(model, x):
  variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), x)
  return {k: v.shape for k, v in _params(variables).items()}


@functools.lru_cache(maxsize=None)
def _tiny_shapes(head):
  return _shapes(build_model("i3d", 5, head=head, **TINY),
                 jax.ShapeDtypeStruct(X.shape, X.dtype))


@pytest.mark.parametrize("head", SINGLE_HEADS)
def test_single_map_heads_add_only_a_bias_free_w_a_and_keep_the_plain_classifier(head):
  plain, shapes = _tiny_shapes("logits"), _tiny_shapes(head)
  assert set(shapes) - set(plain) == {"Attention/Conv3d_0a_1x1/kernel"}
  assert set(plain) - set(shapes) == set()
  assert shapes["Attention/Conv3d_0a_1x1/kernel"] == (1, 1, 1, 32, 1)    # C_phi of Mixed_3b
  assert shapes["Logits/Conv3d_0c_1x1/kernel"] == plain["Logits/Conv3d_0c_1x1/kernel"]
  assert shapes["Logits/Conv3d_0c_1x1/bias"] == (5,)


def test_prob_distill_has_a_map_and_a_classifier_per_stream_and_no_plain_classifier():
  plain, shapes = _tiny_shapes("logits"), _tiny_shapes("prob_distill")
  assert set(shapes) - set(plain) == {
      "Attention/motion/Conv3d_0a_1x1/kernel", "Attention/appearance/Conv3d_0a_1x1/kernel",
      "Logits/motion/Conv3d_0c_1x1/kernel", "Logits/motion/Conv3d_0c_1x1/bias",
      "Logits/appearance/Conv3d_0c_1x1/kernel", "Logits/appearance/Conv3d_0c_1x1/bias"}
  assert set(plain) - set(shapes) == {"Logits/Conv3d_0c_1x1/kernel",
                                      "Logits/Conv3d_0c_1x1/bias"}
  for kind in ("motion", "appearance"):
    assert shapes[f"Attention/{kind}/Conv3d_0a_1x1/kernel"] == (1, 1, 1, 32, 1)
    assert shapes[f"Logits/{kind}/Conv3d_0c_1x1/kernel"] == (1, 1, 1, 64, 5)


@pytest.mark.parametrize("head", ("logits",) + HEADS)
def test_new_modules_match_exactly_the_parameters_a_backbone_checkpoint_lacks(head):
  model = build_model("i3d", 5, head=head, **TINY)
  plain, shapes = _tiny_shapes("logits"), _tiny_shapes(head)
  matched = {p for p in shapes if any(re.search(r, p) for r in model.new_modules())}
  assert matched == set(shapes) - set(plain)
  assert all(not any(re.search(r, p) for r in model.new_modules()) for p in plain)


# --- full size, by shape ----------------------------------------------------------------------

FULL_SIZE_OVERHEAD = {
    "logits": 0,
    "soft_atten": 832,          # w_a: C_phi = 832 (Mixed_4f), no bias
    "soft_res": 832,
    "prob_atten": 832,
    # Two maps (2 x 832) and two classifiers in place of the plain one: one more
    # 1024 x 400 + 400 = 410,000.
    "prob_distill": 2 * 832 + 1024 * 400 + 400,
}


@functools.lru_cache(maxsize=None)
def _full_size(head, frames=64):
  model = build_model("i3d", 400, head=head)
  x = jax.ShapeDtypeStruct((1, frames, 224, 224, 3), jnp.float32)
  (logits, endpoints), variables = jax.eval_shape(
      lambda x: model.init_with_output(jax.random.PRNGKey(0), x), x)
  shapes = {k: v.shape for k, v in _params(variables).items()}
  return model, logits.shape, {k: v.shape for k, v in endpoints.items()}, shapes


def _count(shapes, paths=None):
  return sum(int(np.prod(s)) for p, s in shapes.items() if paths is None or p in paths)


@pytest.mark.parametrize("head", HEADS)
def test_full_size_maps_are_on_the_mixed_4f_grid_and_logits_have_400_classes(head):
  _, logits, endpoints, _ = _full_size(head)
  assert logits == (1, 400)
  assert endpoints["Mixed_4f"] == (1, 16, 14, 14, 832)
  for name in MAPS[head]:
    assert endpoints[name] == endpoints[f"{name}_log"] == (1, 16, 14, 14)
  if head == "prob_distill":
    assert endpoints["Logits/motion"] == endpoints["Logits/appearance"] == (1, 400)


def test_full_size_maps_of_24_frames_liu_sec_3_6():
  _, logits, endpoints, _ = _full_size("prob_distill", frames=24)
  assert logits == (1, 400)
  assert endpoints["Attention/motion"] == (1, 6, 14, 14)


@pytest.mark.parametrize("head", HEADS)
def test_full_size_parameter_overhead_of_each_head(head):
  model, _, _, shapes = _full_size(head)
  _, _, _, plain = _full_size("logits")
  assert _count(plain) == 12_689_984  # DeepMind's RGB I3D (test_parameter_counts.py)
  overhead = _count(shapes) - _count(plain)
  new = _count(shapes, {p for p in shapes
                        if any(re.search(r, p) for r in model.new_modules())})
  print(f"\n{head}: {_count(shapes):,} parameters, +{overhead:,} over head='logits'; "
        f"{new:,} in new_modules() (initialised, not loaded, by init_from)")
  assert overhead == FULL_SIZE_OVERHEAD[head]
