"""A fresh train state: initialised by one compiled program, placed on its shardings,
with the same values however it is sharded or compiled."""

import json
import os
import subprocess
import sys

import jax
import numpy as np

from d3d_jax import trainer
from tests.trainer.conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_FSDP_INIT = r"""
import json, sys
import jax, numpy as np
from d3d_jax import trainer
from tests.trainer.conftest import tiny_config

def init(fsdp):
  config = tiny_config(sys.argv[1], mesh=(("data", -1), ("model", 1)),
                       fsdp=fsdp, fsdp_min_size=64)
  return trainer.create_state(trainer.build_experiment(config, workdir=""), None)

replicated, _ = init(False)
sharded, shardings = init(True)
leaves = jax.tree_util.tree_leaves(sharded)
print(json.dumps(dict(
    devices=jax.device_count(),
    placed=all(x.sharding.is_equivalent_to(s, x.ndim) for x, s in zip(
        leaves, jax.tree_util.tree_leaves(shardings))),
    split_over_data=sum("data" in s.spec for s in jax.tree_util.tree_leaves(shardings)),
    leaves=len(leaves),
    equal=all(np.array_equal(a, b) for a, b in zip(
        jax.device_get(leaves), jax.device_get(jax.tree_util.tree_leaves(replicated)))))))
"""


def test_an_fsdp_state_is_placed_on_its_shardings_with_the_replicated_values(tiny_dataset):
  env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS=(
      os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"))
  done = subprocess.run([sys.executable, "-c", _FSDP_INIT, tiny_dataset], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  out = json.loads(done.stdout.strip().splitlines()[-1])
  assert out["devices"] == 4
  assert out["placed"]
  assert 0 < out["split_over_data"] < out["leaves"]  # Large leaves only.
  assert out["equal"]


def test_the_cheap_init_compile_gives_the_parameters_of_a_full_compile(tiny_dataset):
  exp = trainer.build_experiment(tiny_config(tiny_dataset), workdir="")
  rng = jax.random.PRNGKey(0)
  lowered = jax.jit(trainer._init_state_fn(exp)).lower(rng)
  cheap = lowered.compile(compiler_options=trainer.CPU_INIT_COMPILER_OPTIONS)(rng)
  full = lowered.compile(compiler_options={"xla_backend_optimization_level": 3})(rng)
  jax.tree_util.tree_map(np.testing.assert_array_equal, cheap, full)


def test_an_optimization_level_in_xla_flags_wins_over_the_init_options(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
  assert trainer._init_compiler_options() is None
  monkeypatch.setenv("XLA_FLAGS", "")
  assert trainer._init_compiler_options() == trainer.CPU_INIT_COMPILER_OPTIONS
