"""Per-replica BatchNorm: `model.options.bn_group_size` clips share training statistics."""

import functools
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax.models import build_model
from d3d_jax.models.units import ConvOptions, ConvUnit, GroupBatchNorm, batch_norm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train_apply(module, variables, x):
  return jax.jit(functools.partial(module.apply, mutable=["batch_stats"]))(variables, x)


def _bn(group_size, **options):
  return batch_norm(ConvOptions(bn_group_size=group_size, **options), train=True, name="bn")


def test_two_groups_of_two_clips_are_normalised_with_their_own_statistics():
  # [B=4, T=1, H=1, W=2, C=1]. Group 0 = clips 0, 1 = {0, 2, 4, 6}: mean 3, variance 5.
  # Group 1 = clips 2, 3 = {10, 10, 10, 10}: mean 10, variance 0.
  x = jnp.array([0., 2., 4., 6., 10., 10., 10., 10.]).reshape(4, 1, 1, 2, 1)
  bn = _bn(2, bn_momentum=0.9, bn_epsilon=4.0)  # var + eps = 9 and 4: exact square roots
  variables = nn.unbox(bn.init(jax.random.PRNGKey(0), x))
  y, updates = _train_apply(bn, variables, x)
  np.testing.assert_allclose(np.asarray(y).ravel(),
                             [-1., -1 / 3, 1 / 3, 1., 0., 0., 0., 0.], rtol=1e-6)
  # Moving averages move towards the mean over groups of the group statistics:
  # mean 0.9 * 0 + 0.1 * (3 + 10) / 2 = 0.65; var 0.9 * 1 + 0.1 * (5 + 0) / 2 = 1.15
  # (the within-group variance; the whole batch's would be 14.75).
  np.testing.assert_allclose(updates["batch_stats"]["mean"], [0.65], rtol=1e-6)
  np.testing.assert_allclose(updates["batch_stats"]["var"], [1.15], rtol=1e-6)


def test_outputs_and_moving_statistics_equal_per_group_numpy_statistics():
  groups, group_size = 3, 2
  x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(1), (groups * group_size, 2, 3, 3, 4))
  bn = _bn(group_size, bn_momentum=0.9, bn_scale=True)
  variables = nn.unbox(bn.init(jax.random.PRNGKey(0), x))
  variables["params"] = {"scale": jnp.array([1., 2., 0.5, -1.]),
                         "bias": jnp.array([0., 1., -1., 2.])}
  y, updates = _train_apply(bn, variables, x)

  per_group = np.asarray(x, np.float64).reshape(groups, group_size, 2, 3, 3, 4)
  mean = per_group.mean(axis=(1, 2, 3, 4), keepdims=True)
  var = per_group.var(axis=(1, 2, 3, 4), keepdims=True)
  scale, bias = np.asarray(variables["params"]["scale"]), np.asarray(variables["params"]["bias"])
  expected = (per_group - mean) / np.sqrt(var + 1e-3) * scale + bias
  np.testing.assert_allclose(y, expected.reshape(x.shape), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(updates["batch_stats"]["mean"], 0.1 * mean.mean(0).ravel(),
                             rtol=1e-5)
  np.testing.assert_allclose(updates["batch_stats"]["var"], 0.9 + 0.1 * var.mean(0).ravel(),
                             rtol=1e-5)


def test_one_group_of_the_whole_batch_matches_flax_batch_norm():
  x = jax.random.normal(jax.random.PRNGKey(2), (4, 2, 3, 3, 5))
  whole, grouped = _bn(0), _bn(4)
  assert isinstance(whole, nn.BatchNorm) and isinstance(grouped, GroupBatchNorm)
  variables = nn.unbox(whole.init(jax.random.PRNGKey(0), x))
  y_whole, stats_whole = _train_apply(whole, variables, x)
  y_grouped, stats_grouped = _train_apply(grouped, variables, x)
  np.testing.assert_allclose(y_grouped, y_whole, rtol=1e-6, atol=1e-6)
  jax.tree_util.tree_map(functools.partial(np.testing.assert_allclose, rtol=1e-6),
                         stats_grouped, stats_whole)


def test_grouping_keeps_the_variables_and_the_eval_path_of_batch_norm():
  model_kwargs = dict(num_classes=3, depth_multiplier=0.125, min_depth=4,
                      final_endpoint="Mixed_3b")
  plain, grouped = build_model("s3dg", **model_kwargs), build_model(
      "s3dg", bn_group_size=2, **model_kwargs)
  assert grouped.options.bn_group_size == 2 and plain.options.bn_group_size == 0
  x = jnp.zeros((4, 8, 16, 16, 3))
  init = lambda m, train: jax.eval_shape(
      lambda: nn.unbox(m.init(jax.random.PRNGKey(0), x, train=train)))
  shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), tree)
  assert shapes(init(grouped, True)) == shapes(init(plain, False))
  # Evaluation normalises with the moving averages: the option does not apply there.
  assert isinstance(batch_norm(ConvOptions(bn_group_size=2), train=False, name="bn"),
                    nn.BatchNorm)


def test_a_group_size_that_does_not_divide_the_batch_is_an_error_naming_the_key():
  unit = ConvUnit(4, (1, 1, 1), options=ConvOptions(bn_group_size=4))
  x = jnp.ones((6, 1, 2, 2, 3))
  variables = nn.unbox(unit.init(jax.random.PRNGKey(0), x, train=False))
  with pytest.raises(ValueError, match=r"model.options.bn_group_size=4 must divide the "
                     r"training batch \(input.batch_size\), got a batch of 6 clips"):
    unit.apply(variables, x, train=True, mutable=["batch_stats"])
  with pytest.raises(ValueError, match="model.options.bn_group_size must be >= 0"):
    _bn(-1)


_SHARDED = r"""
import json
import flax.linen as nn
import jax, jax.numpy as jnp, numpy as np
from d3d_jax import sharding as sharding_lib
from d3d_jax.models import build_model

assert jax.device_count() == 8
x = jax.random.normal(jax.random.PRNGKey(0), (16, 8, 16, 16, 3))

def run(group_size, data_devices):
  model = build_model("s3dg", num_classes=3, depth_multiplier=0.125, min_depth=4,
                      final_endpoint="Mixed_3b", bn_group_size=group_size)
  variables = nn.unbox(jax.jit(lambda: model.init(jax.random.PRNGKey(1), x[:1]))())
  mesh = sharding_lib.make_mesh((("data", data_devices),))
  batch = jax.device_put(x, sharding_lib.batch_sharding(mesh))
  variables = jax.device_put(variables, sharding_lib.replicated(mesh))
  forward = jax.jit(lambda v, b: model.apply(v, b, train=True, mutable=["batch_stats"],
                                             rngs={"dropout": jax.random.PRNGKey(2)}))
  with jax.set_mesh(mesh), sharding_lib.logical_rules():
    compiled = forward.lower(variables, batch).compile()
    (logits, endpoints), updates = compiled(variables, batch)
  hlo = compiled.as_text()
  return dict(
      logits=np.asarray(logits).tolist(),
      stats=[float(a.sum()) for a in jax.tree_util.tree_leaves(updates)],
      devices_of_mixed_3b=len(endpoints["Mixed_3b"].sharding.device_set),
      mixed_3b_batch_axis=(tuple(endpoints["Mixed_3b"].sharding.spec) + (None,))[0],
      gathers=hlo.count("all-gather"), permutes=hlo.count("collective-permute"),
      all_to_all=hlo.count("all-to-all"), all_reduces=hlo.count("all-reduce"))

print(json.dumps({f"{g}/{d}": run(g, d) for g in (0, 2, 4) for d in (1, 8)}))
"""


def test_eight_devices_give_the_single_device_result_and_keep_the_batch_sharded():
  env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS=(
      os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"))
  result = subprocess.run([sys.executable, "-c", _SHARDED], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  runs = json.loads(result.stdout.strip().splitlines()[-1])
  for group_size in (0, 2, 4):
    one, eight = runs[f"{group_size}/1"], runs[f"{group_size}/8"]
    np.testing.assert_allclose(eight["logits"], one["logits"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eight["stats"], one["stats"], rtol=1e-4, atol=1e-5)
    assert (eight["devices_of_mixed_3b"], eight["mixed_3b_batch_axis"]) == (8, "data")
  # Statistics per group really differ from the global batch's.
  assert not np.allclose(runs["2/8"]["logits"], runs["0/8"]["logits"], atol=1e-3)
  # 2 clips per device, groups of 2: every group is on one device, so the activations are
  # never gathered or moved between devices (the only collectives are all-reduces: the
  # mean over groups of the moving statistics).
  two = runs["2/8"]
  assert (two["gathers"], two["permutes"], two["all_to_all"]) == (0, 0, 0), two
