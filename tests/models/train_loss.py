"""The training loss whose values and gradients the model-equivalence tests compare."""

import jax
import jax.numpy as jnp


def cross_entropy_loss_fn(model, batch_stats, clips, labels):
  """``params -> (loss, (logits, new batch_stats))``: one training-mode forward pass
  (batch statistics, dropout from a fixed key) and softmax cross-entropy."""

  def loss_fn(params):
    (logits, _), updates = model.apply(
        {"params": params, "batch_stats": batch_stats}, clips, train=True,
        mutable=["batch_stats"], rngs={"dropout": jax.random.PRNGKey(2)})
    loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], -1))
    return loss, (logits, updates["batch_stats"])

  return loss_fn
