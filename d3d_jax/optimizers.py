"""The optax optimiser and learning-rate schedule described by a config.

SGD with (Nesterov) momentum is the I3D / S3D-G / D3D recipe; Adam serves the CVAE
stage of generative KD. Weight decay is slim's L2 regulariser (added to the gradient)
and, as there, never touches BatchNorm parameters or biases.
"""

import jax
import optax


def learning_rate_schedule(config, total_steps: int) -> optax.Schedule:
  """`config.schedule`: 'cosine' (linear warmup then cosine to 0), 'step' or 'constant'."""
  s = config
  if s.name == "cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if s.warmup_steps else s.base_lr, peak_value=s.base_lr,
        warmup_steps=s.warmup_steps, decay_steps=max(total_steps, s.warmup_steps + 1))
  if s.name == "step":
    decay = optax.piecewise_constant_schedule(
        s.base_lr, {int(b): s.decay_factor for b in s.boundaries})
    if not s.warmup_steps:
      return decay
    warmup = optax.linear_schedule(0.0, s.base_lr, s.warmup_steps)
    return optax.join_schedules([warmup, decay], [s.warmup_steps])
  if s.name == "constant":
    return optax.constant_schedule(s.base_lr)
  raise ValueError(f"schedule.name must be 'cosine', 'step' or 'constant', got {s.name!r}")


def decay_mask(params):
  """True for parameters that get weight decay: conv and dense kernels only."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def build_optimizer(optimizer_config, schedule: optax.Schedule) -> optax.GradientTransformation:
  """`config.optimizer` -> clip -> L2 decay (kernels only) -> sgd / adam."""
  o = optimizer_config
  chain = []
  if o.grad_clip_norm:
    chain.append(optax.clip_by_global_norm(o.grad_clip_norm))
  if o.weight_decay and o.name != "adamw":
    chain.append(optax.add_decayed_weights(o.weight_decay, mask=decay_mask))
  if o.name == "sgd":
    chain.append(optax.sgd(schedule, momentum=o.momentum or None, nesterov=o.nesterov))
  elif o.name == "adam":
    chain.append(optax.adam(schedule, b1=o.b1, b2=o.b2, eps=o.eps))
  elif o.name == "adamw":
    chain.append(optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps,
                             weight_decay=o.weight_decay, mask=decay_mask))
  else:
    raise ValueError(f"optimizer.name must be 'sgd', 'adam' or 'adamw', got {o.name!r}")
  return optax.chain(*chain)
