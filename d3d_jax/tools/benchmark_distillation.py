r"""What distillation costs per train step: D3D step time / plain student step time.

  python -m d3d_jax.tools.benchmark_distillation [--model=s3dg --frames=16 --size=112 \
      --batch=2 --depth_multiplier=1.0 --steps=5]

Builds the same RGB student twice on one random batch: with the `ce` objective, and with
`d3d_logits` and a flow teacher of the same architecture (random weights; the step time
does not depend on them). Prints compile time, median step time and clips/s of each, and
the ratio. The teacher only runs forward, so the ideal ratio is about 1 + 1/3.
"""

if __name__ == "__main__":
  # Before TensorFlow is imported below: drop its C++ start-up noise from stderr.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()

import os
import tempfile
import time

from absl import app, flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from configs.base import get_base_config
from d3d_jax import trainer
from d3d_jax import sharding as sharding_lib
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_call, build_from_config

_MODEL = flags.DEFINE_string("model", "s3dg", "Student and teacher preset.")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip.")
_SIZE = flags.DEFINE_integer("size", 112, "Crop size.")
_BATCH = flags.DEFINE_integer("batch", 2, "Clips per step.")
_DEPTH = flags.DEFINE_float("depth_multiplier", 1.0, "Width multiplier of both networks.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps (after one warm-up step).")
_CLASSES = flags.DEFINE_integer("num_classes", 400, "Classes.")


def _config(objective: str, teacher_dir: str):
  c = get_base_config()
  c.input.num_frames, c.input.crop_size, c.input.batch_size = (
      _FRAMES.value, _SIZE.value, _BATCH.value)
  c.input.modalities = ("rgb", "flow")
  for m, modality in ((c.model, "rgb"), (c.teacher.model, "flow")):
    m.name, m.modality = _MODEL.value, modality
    m.options.depth_multiplier = _DEPTH.value
  c.objective.name = objective
  c.teacher.checkpoint = teacher_dir
  return c


def _time_steps(config, batch):
  exp = trainer.build_experiment_for_classes(config, "", _CLASSES.value)
  state, shardings = trainer.create_state(exp, checkpointer=None)
  step = trainer.make_train_step(exp, shardings)
  teacher = exp.teacher_variables
  global_batch = sharding_lib.global_batch(batch, exp.mesh)
  start = time.perf_counter()
  state, metrics = step(state, teacher, global_batch)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(_STEPS.value):
    start = time.perf_counter()
    state, metrics = step(state, teacher, global_batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  return compile_s, float(np.median(times))


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  shape = (_BATCH.value, _FRAMES.value, _SIZE.value, _SIZE.value)
  batch = {"rgb": rng.uniform(-1, 1, shape + (3,)).astype(np.float32),
           "flow": rng.uniform(-1, 1, shape + (2,)).astype(np.float32),
           "label": rng.integers(0, _CLASSES.value, _BATCH.value).astype(np.int32)}
  with tempfile.TemporaryDirectory() as tmp:
    teacher_dir = os.path.join(tmp, "teacher")
    config = _config("d3d_logits", teacher_dir)
    model = build_from_config(config.teacher.model, _CLASSES.value, "float32")
    clip = jnp.zeros((1,) + shape[1:] + (2,))
    variables = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(1), clip))
    save_model_variables(teacher_dir, variables["params"], variables["batch_stats"],
                         metadata=build_call(config.teacher.model, _CLASSES.value))
    results = {name: _time_steps(_config(name, teacher_dir), batch)
               for name in ("ce", "d3d_logits")}
  print(f"{_MODEL.value} student and flow teacher, batch {_BATCH.value} x "
        f"{_FRAMES.value}x{_SIZE.value}x{_SIZE.value}, depth_multiplier {_DEPTH.value}, "
        f"backend {jax.default_backend()}")
  print("| objective  | compile s | step s | clips/s |")
  for name, (compile_s, step_s) in results.items():
    print(f"| {name:<10} | {compile_s:9.1f} | {step_s:6.3f} | {_BATCH.value / step_s:7.2f} |")
  print(f"D3D step / plain step = {results['d3d_logits'][1] / results['ce'][1]:.2f}")


if __name__ == "__main__":
  app.run(main)
