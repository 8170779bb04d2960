"""`python -m d3d_jax.tools.compile_time`: a cold and a warm start, on a tiny model."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_FLAGS = ["--model=i3d", "--depth_multiplier=0.125", "--batch=2", "--frames=8",
              "--size=32", "--num_classes=5"]
HEADER = ("| start | whole start s | state init s | first step s | tracing s | lowering s | "
          "compile or cache read s | cache hits |")


@pytest.mark.slow  # Two fresh processes, one compiling a train step from scratch.
def test_the_warm_start_reads_every_compilation_from_the_cache():
  # Every compilation is cached, however short (the default keeps those over 1 s only).
  env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  done = subprocess.run([sys.executable, "-m", "d3d_jax.tools.compile_time", *TINY_FLAGS],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = done.stdout.splitlines()
  assert lines[0].startswith("i3d train step, batch 2 x 8x32x32, depth_multiplier 0.125, "
                             "backend cpu, "), lines
  header = lines.index(HEADER)
  cold, warm = ([cell.strip() for cell in line.strip("|").split("|")]
                for line in lines[header + 2:header + 4])
  assert cold[0] == "cold" and warm[0] == "warm"
  assert all(float(seconds) >= 0 for seconds in cold[1:7] + warm[1:7])
  assert int(cold[7]) == 0
  assert int(warm[7]) >= 2  # The state init and the train step, at least.
  assert float(warm[4]) > 0  # A warm start still traces.
  assert lines[header + 4].startswith("warm / cold whole start = ")
