"""Preemption and resume, and data-parallel sharding, reproduce the plain single run."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from d3d_jax import trainer
from tests.trainer.conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(workdir, data_dir, *overrides):
  return [sys.executable, "-m", "d3d_jax.main", "--config=configs/synthetic_rgb_baseline.py",
          f"--workdir={workdir}", f"--config.input.data_dir={data_dir}", *overrides]


def _tiny_overrides(config, total_steps):
  """The tiny_config values as --config overrides, for the CLI."""
  flat = {
      "mode": "train", "total_steps": total_steps, "checkpoint.every_steps": 10,
      "checkpoint.async_save": False, "log_every_steps": 10, "exact_resume": True,
      "input.num_frames": config.input.num_frames, "input.crop_size": config.input.crop_size,
      "input.batch_size": config.input.batch_size, "input.shuffle_buffer": 16,
      "input.deterministic": True, "schedule.name": "constant",
      "model.options.depth_multiplier": 0.125, "model.options.min_depth": 4,
      "model.options.final_endpoint": "Mixed_3b",
  }
  return [f"--config.{k}={v}" for k, v in flat.items()]


def test_killed_run_resumes_and_ends_with_the_uninterrupted_parameters(tiny_dataset, tmp_path):
  total_steps = 200
  config = tiny_config(tiny_dataset, "rgb", "ce", total_steps=total_steps,
                       **{"checkpoint.every_steps": 10, "log_every_steps": 10})
  reference = trainer.train(config, str(tmp_path / "uninterrupted"))

  workdir = tmp_path / "preempted"
  command = _cli(workdir, tiny_dataset, *_tiny_overrides(config, total_steps))
  env = dict(os.environ, PYTHONPATH=REPO)
  first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while not (workdir / "checkpoints" / "10").exists() and first.poll() is None:
    assert time.time() < deadline, "no checkpoint appeared"
    time.sleep(0.02)
  first.send_signal(signal.SIGTERM)
  stderr = first.communicate(timeout=300)[1]
  assert first.returncode == 0, stderr[-3000:]
  steps_saved = sorted(int(p) for p in os.listdir(workdir / "checkpoints") if p.isdigit())
  assert steps_saved and max(steps_saved) < total_steps, "the run was not interrupted"
  assert not (workdir / "export").exists()

  second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
  assert second.returncode == 0, second.stderr[-3000:]
  assert f"Resumed from {workdir / 'checkpoints'} step {max(steps_saved)}" in second.stderr

  from d3d_jax.export import load_model_variables
  params, batch_stats = load_model_variables(str(workdir / "export"))
  jax.tree_util.tree_map(np.testing.assert_array_equal, params,
                         jax.device_get(reference.params["student"]))
  jax.tree_util.tree_map(np.testing.assert_array_equal, batch_stats,
                         jax.device_get(reference.batch_stats["student"]))


_SHARDED_STEP = r"""
import json, sys
import jax, numpy as np
from d3d_jax import trainer
from data_pipelines import input_pipeline
from tests.trainer.conftest import tiny_config

def run(mesh):
  config = tiny_config(sys.argv[1], "rgb", "ce", mesh=mesh, **{
      "input.batch_size": 8, "model.options.head": sys.argv[2],
      "model.options.attention_source": "Conv3d_2c_3x3", "optimizer.name": sys.argv[3]})
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  step = trainer.make_train_step(exp, shardings)
  batches = input_pipeline.make_train_dataset(config.input).as_numpy_iterator()
  losses = []
  for _ in range(2):
    batch = trainer.sharding_lib.global_batch(next(batches), exp.mesh)
    state, metrics = step(state, None, batch)
    losses.append(float(metrics["loss"]))
  devices = len(jax.tree_util.tree_leaves(state.params)[0].sharding.device_set)
  return losses, jax.device_get(state.params), devices

assert jax.device_count() == 8
one_loss, one_params, one_devices = run((("data", 1), ("model", 1)))
eight_loss, eight_params, eight_devices = run((("data", -1), ("model", 1)))
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(
    jax.tree_util.tree_leaves(one_params), jax.tree_util.tree_leaves(eight_params)))
print(json.dumps(dict(one=one_loss, eight=eight_loss, max_param_diff=diff,
                      devices=[one_devices, eight_devices])))
"""


# 'soft_atten': an attention head, whose [B, T, H, W] map endpoints are sharded on the
# batch axis like every activation. It trains with SGD: Adam divides each gradient by
# its own magnitude, so a near-zero gradient (the map conv's, at init) turns float32
# summation-order noise into a full lr-sized step; SGD compares the gradients as they are.
@pytest.mark.parametrize("head,optimizer", [("logits", "adam"), ("soft_atten", "sgd")])
def test_eight_device_data_parallel_step_equals_the_single_device_step(tiny_dataset, head,
                                                                       optimizer):
  env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS=(
      os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"))
  result = subprocess.run([sys.executable, "-c", _SHARDED_STEP, tiny_dataset, head, optimizer],
                          cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["devices"] == [1, 8]
  np.testing.assert_allclose(out["one"], out["eight"], rtol=1e-5)
  assert out["max_param_diff"] < 1e-5
