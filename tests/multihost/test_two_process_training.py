"""Two local CPU processes form one JAX job and train, stop, resume and evaluate as a
single-process run would.

The job is what a 2-host pod runs: every process starts the same `d3d_jax.main`
command, joins through JAX_COORDINATOR_ADDRESS (a coordinator on a free local port),
JAX_NUM_PROCESSES and JAX_PROCESS_ID, and holds DEVICES_PER_PROCESS CPU devices; the
global batch is split over the 4 devices and each process reads its own shard of the
data (`input_pipeline`'s per-host sharding). Cross-process collectives run on gloo,
JAX's CPU default. The scenario, run once per module: SIGTERM to process 1 alone
after the checkpoint of step 3, then the same command again, which resumes and
evaluates. What a real pod adds and this cannot cover is listed in README.md,
"Multi-host".
"""

import dataclasses
import glob
import json
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from configs.synthetic_common import get_synthetic_config
from d3d_jax import evaluation, trainer
from d3d_jax.workdir_lease import LEASE_FILE, WorkdirLease
from data_pipelines import input_pipeline
from tests.conftest import NUM_CLASSES
from tests.trainer.conftest import tiny_config

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUM_PROCESSES = 2
DEVICES_PER_PROCESS = 2
TOTAL_STEPS = 24  # Checkpoints every 3 steps; process 1 is signalled after step 3's.
NUM_TEST_VIDEOS = 2 * NUM_CLASSES  # tiny_dataset's test split
NUM_TEST_CLIPS = 2  # So one video's views may land in different batches.
# The multi-process run reduces gradients and BatchNorm moments over 4 devices, the
# single-process run over 1: the same sums in another order, float32 rounding apart.
# The test trains with SGD + momentum (the I3D / S3D-G recipe), under which that stays
# rounding: max relative loss difference 3e-7, parameters 2e-6 after 24 steps. Under
# Adam (the synthetic configs' optimizer) it does not: Adam divides each gradient by its
# own running magnitude, so the rounding of near-zero gradients becomes lr-sized steps.
# With Adam the same comparison measured 2e-6 and then, after a change of the summation
# order in conv kernel gradients, 3e-4 by step 22, with equally close gradients.
LOSS_RTOL = 1e-5
PARAM_ATOL = 1e-4


def _config(data_dir):
  return tiny_config(data_dir, total_steps=TOTAL_STEPS, **{
      "mode": "train_and_eval", "checkpoint.every_steps": 3,
      "input.num_test_clips": NUM_TEST_CLIPS,
      "optimizer.name": "sgd", "optimizer.momentum": 0.9})


def _cli_args(config, workdir) -> list[str]:
  """`config` as the synthetic RGB baseline's command line: --config overrides of
  every key that differs."""
  base = get_synthetic_config(modality="rgb", objective="ce").to_dict()
  flat = lambda d, prefix="": {k2: v2 for k, v in d.items() for k2, v2 in (
      flat(v, f"{prefix}{k}.").items() if isinstance(v, dict) else [(prefix + k, v)])}
  base, ours = flat(base), flat(config.to_dict())
  return ["--config=configs/synthetic_rgb_baseline.py", f"--workdir={workdir}"] + [
      f"--config.{k}={v}" for k, v in sorted(ours.items()) if base.get(k) != v]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@dataclasses.dataclass
class Process:
  popen: subprocess.Popen
  writes_log: str
  stdout: str = ""
  stderr: str = ""

  def finish(self, timeout=600) -> None:
    self.stdout, self.stderr = self.popen.communicate(timeout=timeout)

  @property
  def writes(self) -> list[str]:
    with open(self.writes_log) as f:
      return json.load(f)


def _start_job(args, logs_dir, tag) -> list[Process]:
  address = f"localhost:{_free_port()}"
  processes = []
  for index in range(NUM_PROCESSES):
    writes_log = os.path.join(logs_dir, f"{tag}_writes_{index}.json")
    env = dict(os.environ, PYTHONPATH=REPO, JAX_COORDINATOR_ADDRESS=address,
               JAX_NUM_PROCESSES=str(NUM_PROCESSES), JAX_PROCESS_ID=str(index),
               WRITES_LOG=writes_log, XLA_FLAGS=(
                   os.environ.get("XLA_FLAGS", "") +
                   f" --xla_force_host_platform_device_count={DEVICES_PER_PROCESS}"))
    popen = subprocess.Popen([sys.executable, "-m", "tests.multihost.host_process", *args],
                             cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    processes.append(Process(popen, writes_log))
  return processes


def _kill(processes) -> None:
  """Ends the job after a failure, with each process's errors and log tail in the
  error, and its whole log beside its WRITES_LOG."""
  for process in processes:
    if process.popen.poll() is None:
      process.popen.kill()
    process.finish()
  reports = []
  for i, p in enumerate(processes):
    log = p.writes_log.replace(".json", ".stderr")
    with open(log, "w") as f:
      f.write(p.stderr)
    errors = [line for line in p.stderr.splitlines()
              if "Error" in line or line.startswith(("E1", "F1"))][:20]
    reports.append(f"process {i} ({log}):\n" + "\n".join(errors) +
                   f"\n...\n{p.stderr[-2000:]}")
  raise AssertionError("\n".join(reports))


def _finish(processes) -> None:
  try:
    for process in processes:
      process.finish()
  except subprocess.TimeoutExpired:
    _kill(processes)
  for index, process in enumerate(processes):
    assert process.popen.returncode == 0, f"process {index}:\n{process.stderr[-4000:]}"


def _saved_steps(workdir) -> list[int]:
  return sorted(int(p) for p in os.listdir(os.path.join(workdir, "checkpoints"))
                if p.isdigit())


@dataclasses.dataclass
class TwoProcessRun:
  config: object
  workdir: str
  stopped: list        # run 1's processes (process 1 signalled)
  resumed: list        # run 2's processes (the same command)
  lease_holder_pid: int  # LEASE.json's pid while run 1 trained
  wall_seconds: float


@pytest.fixture(scope="module")
def two_process_run(tiny_dataset, tmp_path_factory) -> TwoProcessRun:
  start = time.time()
  tmp = tmp_path_factory.mktemp("multihost")
  workdir = str(tmp / "workdir")
  config = _config(tiny_dataset)
  args = _cli_args(config, workdir)

  stopped = _start_job(args, str(tmp), "stopped")
  try:
    # Minutes on a loaded 2-core machine: imports, then compiles in each process.
    deadline = time.time() + 900
    while not os.path.isdir(os.path.join(workdir, "checkpoints", "3")):
      assert time.time() < deadline, "no checkpoint of step 3 appeared"
      assert all(p.popen.poll() is None for p in stopped), "a process exited early"
      time.sleep(0.02)
    with open(os.path.join(workdir, LEASE_FILE)) as f:
      lease_holder_pid = json.load(f)["pid"]
  except BaseException:
    _kill(stopped)
    raise
  stopped[1].popen.terminate()  # SIGTERM to process 1 only.
  _finish(stopped)

  resumed = _start_job(args, str(tmp), "resumed")
  _finish(resumed)
  run = TwoProcessRun(config, workdir, stopped, resumed, lease_holder_pid,
                      time.time() - start)
  print(f"two-process run (stop + resume + eval): {run.wall_seconds:.0f} s")
  return run


@pytest.fixture(scope="module")
def single_process_reference(two_process_run):
  """(losses, params, batch_stats) of one process on one device training on the same
  global batches: each the concatenation of the hosts' batches, in process order."""
  config = two_process_run.config
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  step = trainer.make_train_step(exp, shardings)
  hosts = [input_pipeline.make_train_dataset(
      config.input, process_index=i, process_count=NUM_PROCESSES).as_numpy_iterator()
           for i in range(NUM_PROCESSES)]
  losses = []
  for _ in range(TOTAL_STEPS):
    parts = [next(host) for host in hosts]
    batch = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    with jax.set_mesh(exp.mesh), trainer.sharding_lib.logical_rules():
      state, metrics = step(state, None, trainer.sharding_lib.global_batch(batch, exp.mesh))
    losses.append(float(metrics["loss"]))
  return losses, jax.device_get(state.params["student"]), jax.device_get(
      state.batch_stats["student"])


def _stopped_step(run) -> int:
  marker = "The run is INCOMPLETE: a termination signal stopped it at step "
  steps = [int(p.stderr.split(marker)[1].split()[0]) for p in run.stopped]
  assert steps[0] == steps[1], steps
  return steps[0]


def _event_files(workdir) -> list[str]:
  return sorted(glob.glob(os.path.join(workdir, "events.out.tfevents.*")))


def _logged_losses(workdir) -> dict[int, float]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  losses = {}
  for path in _event_files(workdir):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == "loss":
          losses[event.step] = float(tf.make_ndarray(value.tensor))
  return losses


def test_a_signal_to_one_process_stops_both_at_the_same_checkpointed_step(two_process_run):
  step = _stopped_step(two_process_run)
  assert 3 <= step < TOTAL_STEPS
  assert _saved_steps(two_process_run.workdir)[-1] == TOTAL_STEPS
  resumed_log = two_process_run.resumed[0].stderr
  assert f"step {step}" in resumed_log.split("Resumed from")[1].splitlines()[0]


def test_losses_equal_the_single_process_run_on_the_same_global_batches(
    two_process_run, single_process_reference):
  logged = _logged_losses(two_process_run.workdir)
  assert sorted(logged) == list(range(1, TOTAL_STEPS + 1))
  measured = np.array([logged[s] for s in sorted(logged)])
  reference = np.array(single_process_reference[0])
  print(f"max relative loss difference: {np.max(np.abs(measured / reference - 1)):.2e}")
  np.testing.assert_allclose(measured, reference, rtol=LOSS_RTOL)


def test_final_params_equal_the_single_process_run(two_process_run,
                                                   single_process_reference):
  from d3d_jax.export import load_model_variables  # pylint: disable=g-import-not-at-top
  params, batch_stats = load_model_variables(os.path.join(two_process_run.workdir, "export"))
  expected = {"params": single_process_reference[1],
              "batch_stats": single_process_reference[2]}
  diffs = jax.tree_util.tree_map(lambda a, b: float(np.max(np.abs(a - b))),
                                 {"params": params, "batch_stats": batch_stats}, expected)
  print(f"max absolute param difference: {max(jax.tree_util.tree_leaves(diffs)):.2e}")
  assert max(jax.tree_util.tree_leaves(diffs)) < PARAM_ATOL


def test_every_eval_video_and_view_counts_once_across_processes(two_process_run):
  with open(os.path.join(two_process_run.workdir, "eval", "metrics.json")) as f:
    record = json.load(f)
  assert record["step"] == TOTAL_STEPS
  assert record["metrics"]["num_videos"] == NUM_TEST_VIDEOS
  assert record["metrics"]["num_views"] == NUM_TEST_VIDEOS * NUM_TEST_CLIPS
  # The same export evaluated by this single process scores the same.
  config = two_process_run.config
  member = evaluation.load_member(os.path.join(two_process_run.workdir, "export"),
                                  config.model, NUM_CLASSES, config.compute_dtype)
  single, _ = evaluation.evaluate_members([member], config,
                                          trainer.sharding_lib.make_mesh(config.mesh))
  assert record["metrics"] == pytest.approx(single, rel=1e-6)
  # Both processes printed the same, merged metrics.
  printed = [p.stdout.strip().splitlines()[-1] for p in two_process_run.resumed]
  assert printed[0] == printed[1]


def test_only_process_0_writes_the_export_summaries_lease_and_eval_files(two_process_run):
  run = two_process_run
  writes = {tag: [p.writes for p in processes]
            for tag, processes in (("stopped", run.stopped), ("resumed", run.resumed))}
  for tag in writes:
    zero, one = writes[tag]
    # Process 1 makes sure the workdir exists (as every host does) and writes its own
    # part of each collective checkpoint; nothing else.
    assert not [w for w in one if w != "." and not w.startswith("checkpoints/")], (tag, one)
    assert LEASE_FILE in zero
  assert any(w.startswith("eval/") for w in writes["resumed"][0])
  assert any(w.startswith("export") for w in writes["resumed"][0])
  # TensorFlow names event files ...<host>.<pid>.<n>.v2: all are process 0's.
  pids = {int(os.path.basename(p).split(".")[-3]) for p in _event_files(run.workdir)}
  assert pids == {run.stopped[0].popen.pid, run.resumed[0].popen.pid}
  # Orbax writes each process's array chunks under ocdbt.process_<i>.
  export_files = os.listdir(os.path.join(run.workdir, "export"))
  assert not [f for f in export_files if f.startswith("ocdbt.process_")
              and f != "ocdbt.process_0"], export_files


def test_process_0_holds_the_lease_and_releases_it(two_process_run):
  assert two_process_run.lease_holder_pid == two_process_run.stopped[0].popen.pid
  assert not os.path.exists(os.path.join(two_process_run.workdir, LEASE_FILE))


def test_a_workdir_leased_by_another_run_stops_every_process_before_training(
    tiny_dataset, tmp_path):
  workdir = str(tmp_path / "workdir")
  holder = WorkdirLease(workdir, heartbeat_seconds=30, stale_seconds=300).acquire()
  try:
    processes = _start_job(_cli_args(_config(tiny_dataset), workdir), str(tmp_path), "busy")
    for process in processes:
      process.finish(timeout=300)
  finally:
    holder.release()
  assert [p.popen.returncode for p in processes] == [1, 1]
  assert f"pid {os.getpid()}, started " in processes[0].stderr
  assert "process 0 could not take the lease of workdir" in processes[1].stderr
  assert processes[1].writes == ["."]  # It made sure the workdir exists; nothing else.
  assert not os.path.exists(os.path.join(workdir, "checkpoints"))
