r"""What distillation costs per train step: distilled step time / plain student step time.

  python -m d3d_jax.tools.benchmark_distillation [--method=d3d|prob_distill|gkd|gkd_representation \
      --model=s3dg --student_model=... --switch_block=... --frames=16 --size=112 --batch=2 \
      --depth_multiplier=1.0 --steps=5]

Builds the RGB student twice on one random batch: the plain network (average-pool head)
with the `ce` objective, and the distilled one with a teacher of `--model` (random weights;
the step time does not depend on them):

* ``d3d``: the same student, `d3d_logits`, a plain flow teacher (D3D);
* ``prob_distill``: the student with Prob-Distill's two attention heads,
  `attention_distill`, a flow Prob-Atten teacher (Liu et al., BMVC 2020; the paper's
  backbone is ``--model=i3d``);
* ``gkd``: generative feature KD (Wang et al., AAAI 2024), RGB -> RGB: the student with
  the attention module and a CVAE, `gkd`, an RGB teacher with the attention module and
  its CVAE; both phases are timed, 'generative' (only the CVAE trains, Eq. 14) and
  'attention' (the network trains, Eq. 15). The paper's pair is ``--model=i3d
  --student_model=top_heavy_i3d --switch_block=Mixed_4d``.
* ``gkd_representation``: GKD's stage 0 on the network of ``--student_model`` (the
  paper's: ``i3d``, the teacher), the same two phases without a teacher.

Prints compile time, median step time and clips/s of each, and the ratio. The teacher
only runs forward, so the ideal ratio is about 1 + 1/3.
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
from d3d_jax.objectives import ModelOutputs, build_objective, objective_config
from d3d_jax.optimizers import group_config
from d3d_jax import trainer
from d3d_jax import host_memory
from d3d_jax import sharding as sharding_lib
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_call, build_from_config

# method -> (student head, objective, teacher head, teacher modality)
METHODS = {"d3d": ("logits", "d3d_logits", "logits", "flow"),
           "prob_distill": ("prob_distill", "attention_distill", "prob_atten", "flow"),
           "gkd": ("feature_attention", "gkd", "feature_attention", "rgb"),
           "gkd_representation": ("feature_attention", "gkd_representation", "logits", "rgb")}
_METHOD = flags.DEFINE_enum("method", "d3d", sorted(METHODS), "Distillation method.")
_MODEL = flags.DEFINE_string("model", "s3dg", "Teacher preset (and student's, by default).")
_STUDENT_MODEL = flags.DEFINE_string("student_model", None, "Student preset (default --model).")
_SWITCH_BLOCK = flags.DEFINE_string(
    "switch_block", None, "The heavy-I3D student's switch_block (GKD's Top-I3D: Mixed_4d).")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip.")
_SIZE = flags.DEFINE_integer("size", 112, "Crop size.")
_BATCH = flags.DEFINE_integer("batch", 2, "Clips per step.")
_DEPTH = flags.DEFINE_float("depth_multiplier", 1.0, "Width multiplier of both networks.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps (after one warm-up step).")
_CLASSES = flags.DEFINE_integer("num_classes", 400, "Classes.")


def _config(distilled: bool, teacher_dir: str):
  """The plain student with `ce`, or the distilled one of `--method` with its teacher."""
  student_head, objective, teacher_head, teacher_modality = METHODS[_METHOD.value]
  c = get_base_config()
  c.input.num_frames, c.input.crop_size, c.input.batch_size = (
      _FRAMES.value, _SIZE.value, _BATCH.value)
  c.input.modalities = ("rgb", "flow")
  for m, name, modality, head in (
      (c.model, _STUDENT_MODEL.value or _MODEL.value, "rgb",
       student_head if distilled else "logits"),
      (c.teacher.model, _MODEL.value, teacher_modality, teacher_head)):
    m.name, m.modality = name, modality
    m.options.depth_multiplier = _DEPTH.value
    m.options.head = head
  if _SWITCH_BLOCK.value:
    c.model.options.switch_block = _SWITCH_BLOCK.value
  c.objective = objective_config(objective if distilled else "ce")
  c.teacher.checkpoint = teacher_dir
  if distilled and objective in ("gkd", "gkd_representation"):
    c.optimizer.groups.cvae = group_config("^extra/cvae/")
  return c


def _time_steps(config, batch, phase: int = 0):
  """(compile s, median step s, median step CPU s) of the train step of objective phase
  `phase`. CPU seconds (all threads of this process) are the fairer cost on a shared
  machine, where wall time mostly measures the other users' load."""
  exp = trainer.build_experiment_for_classes(config, "", _CLASSES.value)
  state, shardings = trainer.create_state(exp, checkpointer=None)
  step = trainer.make_train_step(exp, shardings, phase)
  teacher = exp.teacher_variables
  global_batch = sharding_lib.global_batch(batch, exp.mesh)
  start = time.perf_counter()
  state, metrics = step(state, teacher, global_batch)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  times, cpu_times = [], []
  for _ in range(_STEPS.value):
    start, cpu_start = time.perf_counter(), time.process_time()
    state, metrics = step(state, teacher, global_batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  return compile_s, float(np.median(times)), float(np.median(cpu_times))


def main(argv):
  del argv
  print(host_memory.keep_freed_memory())  # Before TensorFlow or JAX start threads.
  rng = np.random.default_rng(0)
  shape = (_BATCH.value, _FRAMES.value, _SIZE.value, _SIZE.value)
  teacher_channels = 2 if METHODS[_METHOD.value][3] == "flow" else 3
  batch = {"rgb": rng.uniform(-1, 1, shape + (3,)).astype(np.float32),
           "flow": rng.uniform(-1, 1, shape + (2,)).astype(np.float32),
           "label": rng.integers(0, _CLASSES.value, _BATCH.value).astype(np.int32)}
  with tempfile.TemporaryDirectory() as tmp:
    teacher_dir = os.path.join(tmp, "teacher")
    config = _config(True, teacher_dir)
    model = build_from_config(config.teacher.model, _CLASSES.value, "float32")
    clip = jnp.zeros((1,) + shape[1:] + (teacher_channels,))
    variables = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(1), clip))
    objective = build_objective(config.objective)
    extras = {}  # the teacher's training-only modules (GKD's CVAE), random like it
    if objective.teacher_extra_modules:
      outputs = ModelOutputs(*model.apply(variables, clip))
      extras = {name: jax.jit(objective.extra_modules()[name].init)(
          jax.random.PRNGKey(2), outputs)["params"] for name in objective.teacher_extra_modules}
    save_model_variables(teacher_dir, variables["params"], variables["batch_stats"],
                         metadata=build_call(config.teacher.model, _CLASSES.value),
                         extra_modules=extras)
    results = {"plain": _time_steps(_config(False, teacher_dir), batch)}
    phases = objective.phases()
    for index, phase in enumerate(phases):
      name = _METHOD.value if len(phases) == 1 else f"{_METHOD.value}/{phase.name}"
      results[name] = _time_steps(config, batch, index)
  student = _STUDENT_MODEL.value or _MODEL.value
  print(f"{student} student and {_MODEL.value} {METHODS[_METHOD.value][3]} teacher, "
        f"batch {_BATCH.value} x "
        f"{_FRAMES.value}x{_SIZE.value}x{_SIZE.value}, depth_multiplier {_DEPTH.value}, "
        f"backend {jax.default_backend()}")
  print("| run                           | compile s | step s | step CPU s | clips/s |")
  for name, (compile_s, step_s, cpu_s) in results.items():
    print(f"| {name:<29} | {compile_s:9.1f} | {step_s:6.3f} | {cpu_s:10.3f} | "
          f"{_BATCH.value / step_s:7.2f} |")
  _, plain_s, plain_cpu_s = results["plain"]
  for name, (_, step_s, cpu_s) in results.items():
    if name != "plain":
      print(f"{name} step / plain step = {step_s / plain_s:.2f} (wall), "
            f"{cpu_s / plain_cpu_s:.2f} (CPU)")


if __name__ == "__main__":
  app.run(main)
