"""`remat_blocks`: each Inception block recomputed in the backward pass, same numbers.

Rematerialisation only changes what the backward pass keeps in memory, so a model built
with ``remat_blocks=True`` must give the same logits, BatchNorm statistics and parameter
gradients as without, and must actually checkpoint every Inception block.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from d3d_jax.models import build_model
from tests.models.train_loss import cross_entropy_loss_fn

TINY = dict(num_classes=5, depth_multiplier=0.125, min_depth=4, lowering="native")
INCEPTION_BLOCKS = 9  # Mixed_3b, 3c, 4b-4f, 5b, 5c.


def _checkpoint_count(model, clips) -> int:
  """Top-level remat (`jax.checkpoint`, primitive "remat2") equations in the jaxpr of a training forward pass."""
  variables = jax.eval_shape(functools.partial(model.init, train=False),
                             jax.random.PRNGKey(0), clips)
  jaxpr = jax.make_jaxpr(lambda v, c: model.apply(
      v, c, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.PRNGKey(1)}))(
          variables, clips)
  return sum(eqn.primitive.name in ("remat2", "checkpoint") for eqn in jaxpr.jaxpr.eqns)


def test_remat_blocks_checkpoints_each_inception_block():
  clips = jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.float32)
  assert _checkpoint_count(build_model("s3dg", remat_blocks=True, **TINY), clips) == (
      INCEPTION_BLOCKS)
  assert _checkpoint_count(build_model("s3dg", **TINY), clips) == 0


def test_remat_blocks_same_logits_stats_and_gradients():
  """Up to Mixed_3c (two Inception blocks, both rematerialised) to keep the compile short."""
  shallow = dict(TINY, final_endpoint="Mixed_3c")
  plain = build_model("s3dg", **shallow)
  remat = build_model("s3dg", remat_blocks=True, **shallow)
  clips = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 32, 32, 3), jnp.float32, -1, 1)
  labels = jnp.array([3, 1])

  def loss_and_grads(model, variables):
    loss_fn = cross_entropy_loss_fn(model, variables["batch_stats"], clips, labels)
    return jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])

  @jax.jit
  def both():
    variables = plain.init(jax.random.PRNGKey(1), clips, train=False)
    return loss_and_grads(plain, variables), loss_and_grads(remat, variables)

  expected, actual = both()
  for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(expected),
                               jax.tree_util.tree_leaves(actual)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
