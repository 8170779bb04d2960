"""Modules that run inside the network's conv blocks, chosen by name (`BLOCK_MODULES`).

``build_model(..., block_module='temporal_shift', block_module_blocks=('Mixed_4b', ...),
block_module_options={...})`` puts the named module into each listed block
(every block of `s3dg.CONV_BLOCKS` from ``Mixed_3b`` on when the list is empty), with no
change to the network's code: a method that needs modules inside the blocks (W3's
attention, a temporal shift) registers a class here. A block module

* is a Flax module built as ``cls(**block_module_options, name=cls.scope_name)``, so its
  parameters live inside the block, e.g. ``Mixed_4b/<scope_name>/...`` (not ``scope``:
  Flax owns that attribute of every module and sets it to None);
* declares `position`: ``'input'`` runs on the block's input (before the branches),
  ``'output'`` on its output (after the concatenation and gating);
* is called as ``module(x, train)`` and returns ``(x, maps)``: the new tensor, same
  shape, and a dict of named tensors the network records as endpoints
  ``<block>/<scope_name>/<key>`` (attention maps, say), so losses and evaluators read them;
* declares `new_parameters`: whether it adds parameters that published backbone
  checkpoints do not have (the model then lists ``<block>/<scope_name>/`` among its new
  modules, which `model.init_from` leaves at their initial values).
"""

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from d3d_jax.models import w3


class TemporalShift(nn.Module):
  """Temporal shift (Lin et al., "TSM: Temporal Shift Module for Efficient Video
  Understanding", ICCV 2019): a parameter-free temporal mixing for 2-D networks.

  Of the C channels, the first C/`fold_div` move one step back in time (frame t sees
  t+1), the next C/`fold_div` one step forward (t sees t-1), the rest stay; vacated
  steps are zeros. TSM's default `fold_div` = 8 shifts 1/4 of the channels. Run on a
  block's input it is TSM's "in-place" shift.
  """

  scope_name: ClassVar[str] = "TemporalShift"
  position: ClassVar[str] = "input"
  new_parameters: ClassVar[bool] = False

  fold_div: int = 8

  @nn.compact
  def __call__(self, x, train: bool):
    del train
    fold = x.shape[-1] // self.fold_div
    if fold == 0 or x.shape[1] < 2:
      return x, {}
    back, forward, rest = x[..., :fold], x[..., fold:2 * fold], x[..., 2 * fold:]
    zeros = jnp.zeros_like(back[:, :1])
    back = jnp.concatenate([back[:, 1:], zeros], axis=1)
    forward = jnp.concatenate([zeros, forward[:, :-1]], axis=1)
    return jnp.concatenate([back, forward, rest], axis=-1), {}


# W3 (Perez-Rua et al. ECCV 2020) and its CBAM baseline live in `d3d_jax.models.w3`.
BLOCK_MODULES: dict[str, type] = {
    "temporal_shift": TemporalShift,
    "w3": w3.W3Attention,
    "cbam": w3.CBAM,
}


def option_pairs(options) -> tuple:
  """A mapping or ``(key, value)`` pairs as sorted pairs (hashable module attributes)."""
  items = options.items() if hasattr(options, "items") else options
  return tuple(sorted((str(k), v) for k, v in items))


def get_block_module(name: str) -> type:
  if name not in BLOCK_MODULES:
    raise ValueError(f"block_module must be one of {sorted(BLOCK_MODULES)}, got {name!r}")
  return BLOCK_MODULES[name]


def new_module_patterns(block_module, blocks, attention_refinement: bool) -> list[str]:
  """Regexes of the parameter paths that a backbone's block modules (`block_module` in
  `blocks`) and W3's feature refinement add: published backbone checkpoints lack them."""
  patterns = []
  if block_module is not None and get_block_module(block_module).new_parameters:
    scope = get_block_module(block_module).scope_name
    patterns += [f"^{block}/{scope}/" for block in blocks]
  if attention_refinement:
    patterns.append("^AttentionRefinement/")
  return patterns
