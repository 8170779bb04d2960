"""Tiny networks for import tests: reference layouts at 1/8 width, 8x32x32 clips.

Each configuration is traced once per test process: templates come from
`jax.eval_shape` (no initialisation compute) and the forward pass is one `jax.jit`
shared by every test of that configuration.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from d3d_jax.models import build_model

TINY = dict(depth_multiplier=0.125, min_depth=8)
NUM_CLASSES = 5
CLIP = (1, 8, 32, 32)


@functools.lru_cache(maxsize=None)
def model(name, input_channels=3, num_classes=NUM_CLASSES, **options):
  return build_model(name, num_classes, input_channels=input_channels, **TINY, **options)


def clip(input_channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, CLIP + (input_channels,)).astype(np.float32)


def template(name, input_channels=3, num_classes=NUM_CLASSES, **options):
  """(params, batch_stats) as boxed ShapeDtypeStructs, like an abstract `model.init`."""
  m = model(name, input_channels, num_classes, **options)
  variables = jax.eval_shape(
      lambda: m.init(jax.random.PRNGKey(0), jnp.zeros(CLIP + (input_channels,))))
  return variables["params"], variables["batch_stats"]


def random_variables(name, input_channels=3, num_classes=NUM_CLASSES, seed=0, **options):
  """Boxed (params, batch_stats) with random values (positive BN variances and scales)."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    key = jax.tree_util.keystr(path)
    if "'var'" in key or "'scale'" in key:
      return rng.uniform(0.5, 1.5, leaf.shape).astype(leaf.dtype)
    scale = 1.0 / np.sqrt(max(1, int(np.prod(leaf.shape[:-1]))))
    return (rng.standard_normal(leaf.shape) * scale).astype(leaf.dtype)

  params, batch_stats = template(name, input_channels, num_classes, **options)
  return (jax.tree_util.tree_map_with_path(fill, params),
          jax.tree_util.tree_map_with_path(fill, batch_stats))


@functools.lru_cache(maxsize=None)
def _forward(name, input_channels, num_classes, options):
  m = model(name, input_channels, num_classes, **dict(options))

  @jax.jit
  def run(params, batch_stats, x):
    logits, endpoints = m.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
    return logits, endpoints["Conv3d_1a_7x7"]

  return run


def forward(name, params, batch_stats, x, num_classes=NUM_CLASSES, **options):
  """(logits, Conv3d_1a_7x7 endpoint) of the tiny model, eval mode, as NumPy."""
  run = _forward(name, x.shape[-1], num_classes, tuple(sorted(options.items())))
  logits, stem = run(nn.meta.unbox(params), nn.meta.unbox(batch_stats), x)
  return np.asarray(logits), np.asarray(stem)


def flat(tree):
  """{'a/b/kernel': np.ndarray} of a (boxed) tree."""
  from flax import traverse_util  # pylint: disable=g-import-not-at-top
  return {k: np.asarray(v) for k, v in
          traverse_util.flatten_dict(nn.meta.unbox(tree), sep="/").items()}
