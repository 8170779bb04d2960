"""Logical axis names carried by parameters and activations.

Models name axes, never devices: the trainer maps these names to mesh axes with
`DATA_PARALLEL_RULES` (`d3d_jax.sharding.logical_rules`): ``('batch', 'data')`` splits
activations over the 'data' axis; parameters are replicated, or sharded by
`d3d_jax.sharding.state_shardings` when `config.fsdp` is set. Outside a
`nn.logical_axis_rules` context the annotations are no-ops, so nothing in a model
assumes a device count.
"""

import flax.linen as nn

ACTIVATION_AXES = ("batch", "time", "height", "width", "channels")
# Endpoints of other ranks: attention maps [B, T, H, W], per-time logits [B, T, K],
# pooled features or logits [B, K].
ENDPOINT_AXES = {
    5: ACTIVATION_AXES,
    4: ("batch", "time", "height", "width"),
    3: ("batch", "time", "channels"),
    2: ("batch", "channels"),
}
KERNEL_AXES = ("conv_time", "conv_height", "conv_width", "conv_in", "conv_out")
DENSE_AXES = ("conv_in", "conv_out")
NORM_AXES = ("channels_param",)

# Data parallelism: the batch is split over 'data', parameters are replicated.
DATA_PARALLEL_RULES = (
    ("batch", "data"),
    ("time", None), ("height", None), ("width", None), ("channels", None),
    ("conv_time", None), ("conv_height", None), ("conv_width", None),
    ("conv_in", None), ("conv_out", None), ("channels_param", None),
)


def constrain_activation(x):
  """Annotates an endpoint (NTHWC, or any rank of `ENDPOINT_AXES`) so its batch axis
  follows the sharding rules."""
  if x.ndim not in ENDPOINT_AXES:
    raise ValueError(f"no logical axes for an endpoint of rank {x.ndim}, shape {x.shape}")
  return nn.with_logical_constraint(x, ENDPOINT_AXES[x.ndim])
