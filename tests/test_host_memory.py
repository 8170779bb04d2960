"""`d3d_jax.host_memory`: freed host memory stays in the process on CPU."""

import json
import os
import platform
import subprocess
import sys

import pytest

from d3d_jax import host_memory

# One jitted computation with a 64 MiB temporary: 10 warm-up runs, then the minor page
# faults of each of 3 more, and the line `keep_freed_memory` returned. The warm-up lets
# the heap grow to its steady size: with jax 0.10 the second run already faults nothing;
# with jax 0.12 (Python >= 3.12) some of runs 3-7 still fault the temporary in (measured
# over 4 processes), none from the eighth.
_CHILD = r"""
import json, resource, sys
from d3d_jax import host_memory
line = host_memory.keep_freed_memory()
import jax, jax.numpy as jnp
x = jnp.ones((4096, 256)); w = jnp.ones((256, 4096)) / 256
step = jax.jit(lambda x, w: jnp.sum(jnp.tanh(x @ w) @ w.T))
for _ in range(10):
  jax.block_until_ready(step(x, w))
faults = []
for _ in range(3):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  jax.block_until_ready(step(x, w))
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"line": line, "faults": faults}))
"""

_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _run_child(mode: str) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu", **{host_memory.MODE_VARIABLE: mode})
  done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                        text=True, timeout=300, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _GLIBC, reason="the setting applies to glibc only")
def test_kept_memory_means_a_repeated_step_does_not_page_fault():
  kept = _run_child("keep")
  assert "kept" in kept["line"]
  assert max(kept["faults"]) < 500  # The 64 MiB temporary alone is 16,384 pages.


@pytest.mark.skipif(not _GLIBC, reason="the setting applies to glibc only")
def test_release_mode_faults_the_temporary_in_on_every_step():
  released = _run_child("release")
  assert "release" in released["line"]
  assert min(released["faults"]) > 16_000


def test_an_accelerator_platform_leaves_the_allocator_alone(monkeypatch):
  monkeypatch.setenv("JAX_PLATFORMS", "cuda")
  monkeypatch.delenv(host_memory.MODE_VARIABLE, raising=False)
  assert "accelerator" in host_memory.keep_freed_memory()


def test_unknown_mode_is_an_error_naming_the_variable(monkeypatch):
  monkeypatch.setenv(host_memory.MODE_VARIABLE, "sometimes")
  with pytest.raises(ValueError, match=host_memory.MODE_VARIABLE):
    host_memory.keep_freed_memory()
