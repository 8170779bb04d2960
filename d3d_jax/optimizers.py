"""The optax optimisers and learning-rate schedules described by a config.

SGD with (Nesterov) momentum is the I3D / S3D-G / D3D recipe; Adam serves the CVAE
stage of generative KD. Weight decay is slim's L2 regulariser (added to the gradient)
and, as there, never touches BatchNorm parameters or biases.

**Parameter groups.** ``config.optimizer.groups`` maps a group name to a section
(`group_config`): a regex `pattern` searched in each parameter's path
(``student/Mixed_4b/.../kernel``, ``extra/<module>/...``), a `lr_multiplier`, `frozen`,
and optionally the group's own `optimizer` / `schedule` sections. The first group whose
pattern matches takes a parameter; the rest form the group ``'default'``, which follows
``config.optimizer`` and ``config.schedule``. Examples: the attention and classifier
layers at 10x the learning rate (the attention-distillation authors' code), a frozen
backbone under trained flow decoders, a CVAE with its own Adam.

**Frozen** means no update and no weight decay (the group's transform is
`optax.set_to_zero`), no gradient computed (the train step stops it), and BatchNorm
layers in inference mode (`frozen_norms`).

**Phases** (`d3d_jax.objectives.Phase`) freeze further groups for a stretch of steps;
`build_phase_optimizer` makes the optimiser of a phase, each with its own state.
"""

import re
from typing import Any, Mapping, Sequence

from flax import traverse_util
import jax
import ml_collections
import optax

DEFAULT_GROUP = "default"


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


def _update_rule(o, schedule: optax.Schedule) -> optax.GradientTransformation:
  """L2 decay (kernels only) -> sgd / adam / adamw, without clipping."""
  chain = []
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


# ---------------------------------------------------------------------------------------
# Parameter groups and phases.


def group_config(pattern: str, lr_multiplier: float = 1.0, frozen: bool = False,
                 optimizer=None, schedule=None) -> ml_collections.ConfigDict:
  """A ``config.optimizer.groups`` entry. `optimizer` / `schedule`: the group's own
  sections (same fields as ``config.optimizer`` / ``config.schedule``) or None."""
  g = ml_collections.ConfigDict()
  g.pattern = pattern
  g.lr_multiplier = float(lr_multiplier)
  g.frozen = bool(frozen)
  if optimizer is not None:
    g.optimizer = optimizer
  if schedule is not None:
    g.schedule = schedule
  return g


def parameter_paths(params) -> dict[tuple, str]:
  return {k: "/".join(map(str, k)) for k in traverse_util.flatten_dict(params)}


def parameter_labels(params, groups: Mapping[str, Any]):
  """A pytree like `params` holding each parameter's group name.

  Raises when a group's pattern is not a regex or matches no parameter (a misspelt
  pattern would otherwise silently leave those parameters in 'default').
  """
  compiled = {}
  for name, group in groups.items():
    if name == DEFAULT_GROUP:
      raise ValueError(f"config.optimizer.groups: {DEFAULT_GROUP!r} is the name of the "
                       f"unmatched parameters; pick another group name")
    try:
      compiled[name] = re.compile(group.pattern)
    except re.error as e:
      raise ValueError(f"config.optimizer.groups.{name}.pattern {group.pattern!r} is not "
                       f"a valid regex: {e}") from e
  labels, used = {}, set()
  paths = parameter_paths(params)
  for key, path in paths.items():
    label = next((n for n, p in compiled.items() if p.search(path)), DEFAULT_GROUP)
    labels[key] = label
    used.add(label)
  unused = sorted(set(compiled) - used)
  if unused:
    raise ValueError(f"config.optimizer.groups {unused}: the pattern matches no parameter "
                     f"(parameter paths look like {next(iter(paths.values()))!r})")
  return traverse_util.unflatten_dict(labels)


def frozen_groups(groups: Mapping[str, Any], phase_frozen: Sequence[str] = ()) -> set[str]:
  """The groups frozen throughout (``frozen=True``) plus those a phase freezes."""
  unknown = set(phase_frozen) - set(groups) - {DEFAULT_GROUP}
  if unknown:
    raise ValueError(f"a phase freezes groups {sorted(unknown)}, which config.optimizer."
                     f"groups does not define (groups: {sorted(groups)})")
  return {n for n, g in groups.items() if g.frozen} | set(phase_frozen)


def frozen_mask(labels, frozen: set[str]):
  """A pytree of bools: True where the parameter's group is frozen."""
  return jax.tree_util.tree_map(lambda label: label in frozen, labels)


def frozen_norms(labels, frozen: set[str], network: str = "student") -> tuple[str, ...]:
  """Paths (inside `network`) of the BatchNorm layers whose parameters are all frozen:
  they run in inference mode, so their statistics stay as they are."""
  by_module: dict[str, set[bool]] = {}
  for key, label in traverse_util.flatten_dict(labels.get(network, {})).items():
    by_module.setdefault("/".join(key[:-1]), set()).add(label in frozen)
  return tuple(sorted(path for path, states in by_module.items()
                      if states == {True} and path.rsplit("/", 1)[-1] in ("bn", "temporal_bn")))


def build_phase_optimizer(config, labels, frozen: set[str]) -> optax.GradientTransformation:
  """The optimiser of one phase: global-norm clipping, then each group's update rule
  (`set_to_zero` for frozen groups), with lr = the group's schedule x lr_multiplier."""
  groups = config.optimizer.groups
  default_schedule = learning_rate_schedule(config.schedule, config.total_steps)
  transforms = {DEFAULT_GROUP: optax.set_to_zero() if DEFAULT_GROUP in frozen
                else _update_rule(config.optimizer, default_schedule)}
  for name, group in groups.items():
    if name in frozen:
      transforms[name] = optax.set_to_zero()
      continue
    schedule = (learning_rate_schedule(group.schedule, config.total_steps)
                if "schedule" in group else default_schedule)
    transforms[name] = _update_rule(group.get("optimizer", config.optimizer),
                                    _scaled(schedule, group.lr_multiplier))
  chain = []
  if config.optimizer.grad_clip_norm:
    chain.append(optax.clip_by_global_norm(config.optimizer.grad_clip_norm))
  chain.append(optax.multi_transform(transforms, labels))
  return optax.chain(*chain)


def _scaled(schedule: optax.Schedule, multiplier: float) -> optax.Schedule:
  if multiplier == 1.0:
    return schedule
  return lambda step: schedule(step) * multiplier
