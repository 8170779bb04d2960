"""kill -9 of write_tfrecords leaves no worker processes behind."""

import os
import signal
import subprocess
import sys

import psutil

from tests.reliability.conftest import REPO

# A converter-like parent: write_tfrecords' worker pool (spawn, its initializer), busy
# with long jobs; prints the workers' pids once they run.
_PARENT = r"""
import concurrent.futures, multiprocessing, os, sys, time
from data_pipelines import write_tfrecords
if __name__ == '__main__':
  pool = concurrent.futures.ProcessPoolExecutor(
      2, mp_context=multiprocessing.get_context('spawn'),
      initializer=write_tfrecords._init_worker, initargs=(os.getpid(),))
  futures = [pool.submit(time.sleep, 600) for _ in range(2)]
  while len(pool._processes) < 2:
    time.sleep(0.05)
  time.sleep(0.5)
  print(' '.join(str(p) for p in pool._processes), flush=True)
  time.sleep(600)
"""


def test_workers_exit_when_the_converter_is_killed(tmp_path):
  script = tmp_path / "parent.py"
  script.write_text(_PARENT)
  parent = subprocess.Popen([sys.executable, str(script)], cwd=REPO, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE)
  workers = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
  assert len(workers) == 2 and all(w.is_running() for w in workers)
  parent.send_signal(signal.SIGKILL)
  parent.wait()
  _, alive = psutil.wait_procs(workers, timeout=30)
  assert not alive, f"orphaned workers still running: {[w.pid for w in alive]}"
