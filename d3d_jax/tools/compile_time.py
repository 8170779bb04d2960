r"""Cold vs warm start of a train step: what the persistent compilation cache saves.

  python -m d3d_jax.tools.compile_time [--model=s3dg --frames=16 --size=224 --batch=2]

Starts a fresh Python process twice on one new, empty cache directory
(`d3d_jax.compilation_cache`): the first (cold) compiles everything and fills the
cache, the second (warm) reads it. Each child builds the `ce` experiment of
``--model`` with the trainer's own functions (`trainer.create_state`,
`trainer.make_train_step`) and runs one train step on a random batch. Prints, for
each: the whole start (process launch to the end of the first step, as the parent
sees it, imports included), the state initialisation, and the first step (compilation
+ one run); then where the compilations' time went, from JAX's own monitoring events,
summed over both: tracing to jaxprs, lowering to StableHLO, and XLA compilation or, on a
cache hit, reading the executable back (with the count of cache hits). What a warm start
still spends beyond these is running the init and the step, and Python.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_MODEL = flags.DEFINE_string("model", "s3dg", "A name of d3d_jax.models.MODELS.")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip.")
_SIZE = flags.DEFINE_integer("size", 224, "Crop size.")
_BATCH = flags.DEFINE_integer("batch", 2, "Clips per step.")
_CLASSES = flags.DEFINE_integer("num_classes", 400, "Classes.")
_DEPTH = flags.DEFINE_float("depth_multiplier", 1.0, "Width multiplier.")
_CHILD = flags.DEFINE_bool("child", False, "Internal: run one start and print JSON.")


def _config():
  from configs.base import get_base_config  # pylint: disable=g-import-not-at-top
  from d3d_jax.objectives import objective_config  # pylint: disable=g-import-not-at-top
  c = get_base_config()
  c.input.num_frames, c.input.crop_size, c.input.batch_size = (
      _FRAMES.value, _SIZE.value, _BATCH.value)
  c.model.name = _MODEL.value
  c.model.options.depth_multiplier = _DEPTH.value
  c.objective = objective_config("ce")
  return c


# JAX's monitoring events for the three stages of a compilation, and our column names.
COMPILE_STAGES = {
    "/jax/core/compile/jaxpr_trace_duration": "tracing_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lowering_s",
    "/jax/core/compile/backend_compile_duration": "compile_or_cache_read_s",
}
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


def _record_compile_stages() -> dict:
  """A dict that JAX's monitoring fills from now on: seconds per `COMPILE_STAGES` column,
  and "cache_hits"."""
  import jax  # pylint: disable=g-import-not-at-top
  totals = dict.fromkeys(COMPILE_STAGES.values(), 0.0) | {"cache_hits": 0}

  def on_duration(event, duration_secs, **_):
    if event in COMPILE_STAGES:
      totals[COMPILE_STAGES[event]] += duration_secs

  def on_event(event, **_):
    if event == CACHE_HIT_EVENT:
      totals["cache_hits"] += 1

  jax.monitoring.register_event_duration_secs_listener(on_duration)
  jax.monitoring.register_event_listener(on_event)
  return totals


def one_start() -> dict:
  """Initialises the state and runs one train step; seconds of each, and of each
  compile stage."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from d3d_jax import compilation_cache, trainer  # pylint: disable=g-import-not-at-top
  from d3d_jax import sharding as sharding_lib  # pylint: disable=g-import-not-at-top
  cache_dir = compilation_cache.enable_persistent_cache()
  stages = _record_compile_stages()
  config = _config()
  start = time.perf_counter()
  exp = trainer.build_experiment_for_classes(config, "", _CLASSES.value)
  state, shardings = trainer.create_state(exp, checkpointer=None)
  jax.block_until_ready(state)
  init_s = time.perf_counter() - start
  rng = np.random.default_rng(0)
  shape = (_BATCH.value, _FRAMES.value, _SIZE.value, _SIZE.value, 3)
  batch = sharding_lib.global_batch(
      {"rgb": rng.uniform(-1, 1, shape).astype(np.float32),
       "label": rng.integers(0, _CLASSES.value, _BATCH.value).astype(np.int32)}, exp.mesh)
  start = time.perf_counter()
  step = trainer.make_train_step(exp, shardings, 0)
  state, metrics = step(state, None, batch)
  jax.block_until_ready(metrics)
  return {"init_s": init_s, "first_step_s": time.perf_counter() - start,
          "cache_dir": cache_dir, "backend": jax.default_backend(), **stages}


def main(argv):
  if _CHILD.value:
    print("RESULT " + json.dumps(one_start()))
    return
  rows = []
  with tempfile.TemporaryDirectory() as cache_dir:
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache_dir)
    for name in ("cold", "warm"):
      start = time.perf_counter()
      done = subprocess.run([sys.executable, "-m", "d3d_jax.tools.compile_time", "--child",
                             *argv[1:]], env=env, capture_output=True, text=True, check=False)
      wall = time.perf_counter() - start
      lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
      if done.returncode or not lines:
        raise RuntimeError(f"the {name} start failed:\n{done.stderr[-3000:]}")
      rows.append((name, wall, json.loads(lines[-1][len("RESULT "):])))
  backend = rows[0][2]["backend"]
  print(f"{_MODEL.value} train step, batch {_BATCH.value} x {_FRAMES.value}x{_SIZE.value}x"
        f"{_SIZE.value}, depth_multiplier {_DEPTH.value}, backend {backend}, "
        f"{os.cpu_count()} cpus")
  print("| start | whole start s | state init s | first step s | tracing s | lowering s | "
        "compile or cache read s | cache hits |")
  print("|---|---|---|---|---|---|---|---|")
  for name, wall, result in rows:
    stages = " | ".join(f"{result[column]:.1f}" for column in COMPILE_STAGES.values())
    print(f"| {name} | {wall:.1f} | {result['init_s']:.1f} | {result['first_step_s']:.1f} | "
          f"{stages} | {result['cache_hits']} |")
  print(f"warm / cold whole start = {rows[1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
  app.run(main)
