"""Device mesh, parameter / batch shardings and host-to-global batches, from the config.

Sharding is declared: `config.mesh` names the axes (e.g. ``(('data', -1), ('model', 1))``),
the batch is split over 'data', and parameters are replicated unless `config.fsdp`
shards each large parameter along its largest dimension divisible by the 'data' axis.
Activations carry logical names (`d3d_jax.models.logical_axes`) mapped by the same
rules. Under jit, BatchNorm statistics of a batch-sharded array are global-batch
statistics.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from d3d_jax.models.logical_axes import DATA_PARALLEL_RULES


def make_mesh(axes: Sequence[tuple[str, int]], devices=None) -> Mesh:
  """A mesh with the named axes; one size may be -1 (all remaining devices)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  names = tuple(name for name, _ in axes)
  sizes = [int(size) for _, size in axes]
  if sizes.count(-1) > 1:
    raise ValueError(f"config.mesh: at most one axis may be -1, got {tuple(axes)}")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if devices.size % known:
      raise ValueError(f"config.mesh {tuple(axes)} does not divide {devices.size} devices")
    sizes[sizes.index(-1)] = devices.size // known
  if math.prod(sizes) > devices.size:
    raise ValueError(f"config.mesh {tuple(axes)} needs {math.prod(sizes)} devices, "
                     f"found {devices.size}")
  # A mesh smaller than the machine (e.g. one device for a reference run) takes the
  # first devices.
  return Mesh(devices.flatten()[:math.prod(sizes)].reshape(sizes), names)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def _fsdp_spec(shape, data_size: int, min_size: int) -> P:
  if math.prod(shape) < min_size:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % data_size == 0:
      spec = [None] * len(shape)
      spec[dim] = "data"
      return P(*spec)
  return P()


def state_shardings(abstract_state, mesh: Mesh, fsdp: bool = False, fsdp_min_size: int = 1):
  """Shardings for every leaf of a train state: replicated, or FSDP over 'data'."""
  data_size = mesh.shape["data"]
  def leaf_sharding(leaf):
    shape = getattr(leaf, "shape", ())
    if not fsdp or not shape:
      return replicated(mesh)
    return NamedSharding(mesh, _fsdp_spec(shape, data_size, fsdp_min_size))
  return jax.tree_util.tree_map(leaf_sharding, abstract_state)


def logical_rules():
  """Rules mapping the models' logical axis names to mesh axes (data parallel)."""
  return nn.logical_axis_rules(DATA_PARALLEL_RULES)


def global_batch(host_batch: dict, mesh: Mesh) -> dict:
  """Assembles each host's batch into global arrays sharded on 'data'."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in host_batch.items()}


def sum_across_hosts(values):
  """The sum over hosts of a host-local numpy array (itself on a single host)."""
  values = np.asarray(values)
  if jax.process_count() == 1:
    return values
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(values)).sum(0)


def host_copy(tree):
  """NumPy copies of a tree of global arrays, on every host.

  `jax.device_get` reads only arrays whose shards are all on this host; a parameter
  that FSDP shards across hosts is gathered from them first (a collective: every
  process calls this together)."""
  def copy(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return jax.device_get(x)
  return jax.tree_util.tree_map(copy, tree)
