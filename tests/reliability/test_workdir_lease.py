"""One live run per workdir: the lease, its takeover rules, and its compare-and-swap."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from d3d_jax import trainer
from data_pipelines import atomic_file
from d3d_jax.workdir_lease import (LEASE_FILE, LeaseLostError, WorkdirBusyError,
                                   WorkdirLease)
from tests.trainer.conftest import tiny_config


def _write_lease(workdir, host, pid, heartbeat_age, generation=1):
  now = time.time()
  os.makedirs(workdir, exist_ok=True)
  # Atomically, as another run's lease writes are: the holder may read it meanwhile.
  atomic_file.write_json(os.path.join(workdir, LEASE_FILE), {
      "host": host, "pid": pid, "started": now - 3600, "heartbeat": now - heartbeat_age,
      "token": "other", "generation": generation})


def _dead_pid():
  process = subprocess.Popen([sys.executable, "-c", "pass"])
  process.wait()
  return process.pid


def test_a_second_run_on_a_live_workdir_fails_at_once_naming_host_pid_and_start(
    tiny_dataset, tmp_path):
  holder = WorkdirLease(str(tmp_path), heartbeat_seconds=30, stale_seconds=300).acquire()
  try:
    start = time.time()
    with pytest.raises(WorkdirBusyError) as error:
      trainer.train(tiny_config(tiny_dataset), str(tmp_path))
    assert time.time() - start < 5  # Before any dataset, model or compile work.
    message = str(error.value)
    assert f"host {socket.gethostname()}, pid {os.getpid()}, started " in message
    assert "UTC, last heartbeat 0 s ago" in message
    assert not (tmp_path / "checkpoints").exists()
  finally:
    holder.release()
  assert not (tmp_path / LEASE_FILE).exists()  # Released = removed.


def test_a_live_lease_of_another_host_is_refused(tmp_path):
  _write_lease(tmp_path, "other-host", 1, heartbeat_age=10)
  with pytest.raises(WorkdirBusyError, match="host other-host, pid 1, started "):
    WorkdirLease(str(tmp_path), heartbeat_seconds=30, stale_seconds=300).acquire()


def test_a_lease_whose_heartbeat_is_older_than_stale_seconds_is_taken_over(tmp_path):
  _write_lease(tmp_path, "other-host", 1, heartbeat_age=301)
  lease = WorkdirLease(str(tmp_path), heartbeat_seconds=30, stale_seconds=300).acquire()
  stored = json.loads((tmp_path / LEASE_FILE).read_text())
  assert (stored["host"], stored["pid"], stored["generation"]) == (
      socket.gethostname(), os.getpid(), 2)
  lease.release()


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
  _write_lease(tmp_path, socket.gethostname(), _dead_pid(), heartbeat_age=0)
  lease = WorkdirLease(str(tmp_path), heartbeat_seconds=30, stale_seconds=300).acquire()
  assert json.loads((tmp_path / LEASE_FILE).read_text())["pid"] == os.getpid()
  lease.release()


def test_of_runs_racing_for_one_workdir_exactly_one_takes_it(tmp_path):
  _write_lease(tmp_path, "other-host", 1, heartbeat_age=1000)  # Stale: all race for it.
  barrier, outcomes = threading.Barrier(8), []

  def contend():
    lease = WorkdirLease(str(tmp_path), heartbeat_seconds=30, stale_seconds=300)
    barrier.wait()
    try:
      outcomes.append(lease.acquire())
    except WorkdirBusyError:
      outcomes.append(None)

  threads = [threading.Thread(target=contend) for _ in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  winners = [lease for lease in outcomes if lease is not None]
  assert len(winners) == 1
  assert json.loads((tmp_path / LEASE_FILE).read_text())["token"] == winners[0].holder.token
  winners[0].release()


def test_the_heartbeat_refreshes_the_lease_and_a_takeover_stops_the_holder(tmp_path):
  lease = WorkdirLease(str(tmp_path), heartbeat_seconds=0.05, stale_seconds=300).acquire()
  first = json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"]
  time.sleep(0.3)
  stored = json.loads((tmp_path / LEASE_FILE).read_text())
  assert stored["heartbeat"] > first
  lease.check()  # Still ours.
  _write_lease(tmp_path, "other-host", 2, heartbeat_age=0, generation=stored["generation"] + 5)
  time.sleep(0.3)
  with pytest.raises(LeaseLostError, match="taken over by another run .host other-host, "
                                           "pid 2"):
    lease.check()
  lease.release()
  assert json.loads((tmp_path / LEASE_FILE).read_text())["host"] == "other-host"  # Kept.


def test_a_lease_on_gcs_is_exclusive_and_released(gcs):
  bucket, list_objects = gcs
  workdir = f"{bucket}/runs/leased"
  lease = WorkdirLease(workdir, heartbeat_seconds=30, stale_seconds=300).acquire()
  assert list_objects("runs/leased/") == [f"runs/leased/{LEASE_FILE}"]
  with pytest.raises(WorkdirBusyError, match=f"pid {os.getpid()}, started "):
    WorkdirLease(workdir, heartbeat_seconds=30, stale_seconds=300).acquire()
  # The compare-and-swap itself: a write against a stale generation is refused.
  store = lease._store  # pylint: disable=protected-access
  _, generation = store.read()
  assert store.write({"host": "x"}, generation + 1) is None
  assert store.write({"host": "x"}, 0) is None  # "Only if absent" fails: it exists.
  lease.release()
  assert list_objects("runs/leased/") == []
