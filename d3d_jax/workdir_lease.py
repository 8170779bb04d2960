"""One live run per workdir: the lease object ``WORKDIR/LEASE.json``.

Two runs writing checkpoints into one workdir mix their states silently (a second run
"resumes" the first one's checkpoints, both export over each other). The trainer
therefore holds a lease on its workdir while it trains:

* The lease is a small JSON object: the holder's host, pid, start time, a random
  token and a heartbeat time that the holder rewrites every
  `checkpoint.lease_heartbeat_seconds`.
* A second run finds a live lease and fails at once, naming the holder (host, pid,
  start time, heartbeat age).
* A lease is stale, and is taken over, when its heartbeat is older than
  `checkpoint.lease_stale_seconds`, or at once when the holder ran on this host and
  its pid is gone (kill -9 then an immediate re-run resumes).
* Every write is a compare-and-swap on the lease's generation, so of two runs that
  start together, or take over one stale lease together, exactly one wins: on
  ``gs://`` the object generation precondition of Cloud Storage
  (``if_generation_match``; 0 = "only if absent"); on a local or NFS directory a
  generation counter inside the file, compared and replaced under an exclusive
  ``fcntl.flock`` of ``LEASE.json.lock``.
* A holder that finds its lease taken over (its heartbeat write fails) stops training
  before its next checkpoint: `WorkdirLease.check` raises.
* On a multi-host job, process 0 takes the lease and the other processes wait for
  its outcome (`workdir_lease`), so they fail with it or train with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from typing import Iterator, Optional

from absl import logging

from data_pipelines import atomic_file, paths

LEASE_FILE = "LEASE.json"


class WorkdirBusyError(RuntimeError):
  """Another live run holds the workdir's lease."""


class LeaseLostError(RuntimeError):
  """This run's lease was taken over by another run."""


@dataclasses.dataclass(frozen=True)
class Holder:
  """Who holds a lease, as stored in ``LEASE.json``."""

  host: str
  pid: int
  started: float
  heartbeat: float
  token: str

  @classmethod
  def of_this_process(cls) -> "Holder":
    now = time.time()
    return cls(host=socket.gethostname(), pid=os.getpid(), started=now, heartbeat=now,
               token=uuid.uuid4().hex)

  def describe(self, now: Optional[float] = None) -> str:
    started = datetime.datetime.fromtimestamp(self.started, datetime.timezone.utc)
    age = (now or time.time()) - self.heartbeat
    return (f"host {self.host}, pid {self.pid}, started {started:%Y-%m-%d %H:%M:%S} UTC, "
            f"last heartbeat {age:.0f} s ago")

  def stale_reason(self, stale_seconds: float, now: float) -> Optional[str]:
    """Why this holder is no longer live, or None while it is."""
    if now - self.heartbeat > stale_seconds:
      return f"its heartbeat is {now - self.heartbeat:.0f} s old (> {stale_seconds:g} s)"
    if self.host == socket.gethostname() and not _pid_alive(self.pid):
      return f"its process {self.pid} on this host has exited"
    return None


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


# ---------------------------------------------------------------------------------------
# Compare-and-swap stores: read -> (text, generation); write only if the generation
# is still the one read (0 = only if absent).


class _LocalStore:
  """``LEASE.json`` in a local directory; its generation is a counter in the JSON,
  compared and replaced under an exclusive flock of a sidecar lock file."""

  def __init__(self, path):
    self.path = os.fspath(path)
    os.makedirs(os.path.dirname(self.path), exist_ok=True)

  @contextlib.contextmanager
  def _locked(self):
    with open(self.path + ".lock", "a") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      try:
        yield
      finally:
        fcntl.flock(lock, fcntl.LOCK_UN)

  def _read_unlocked(self) -> tuple[Optional[str], int]:
    try:
      with open(self.path) as f:
        text = f.read()
    except FileNotFoundError:
      return None, 0
    try:
      return text, int(json.loads(text).get("generation", 1))
    except (ValueError, AttributeError):
      return text, -1  # Unreadable: replaceable only by a writer that read it as such.

  def read(self) -> tuple[Optional[str], int]:
    with self._locked():
      return self._read_unlocked()

  def write(self, record: dict, if_generation: int) -> Optional[int]:
    with self._locked():
      _, generation = self._read_unlocked()
      if generation != if_generation:
        return None
      new = max(generation, 0) + 1
      atomic_file.write_text(self.path, json.dumps(dict(record, generation=new)))
      return new

  def delete(self, if_generation: int) -> None:
    with self._locked():
      if self._read_unlocked()[1] == if_generation:
        os.remove(self.path)


class _CloudStorageStore:
  """``LEASE.json`` as a Cloud Storage object; generation preconditions make each write
  a compare-and-swap (google-cloud-storage, which honours STORAGE_EMULATOR_HOST)."""

  def __init__(self, url: str):
    from google.cloud import storage  # pylint: disable=g-import-not-at-top
    bucket, _, name = url[len("gs://"):].partition("/")
    self._blob = storage.Client().bucket(bucket).blob(name)

  def read(self) -> tuple[Optional[str], int]:
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    try:
      self._blob.reload()
      return self._blob.download_as_text(if_generation_match=self._blob.generation), int(
          self._blob.generation)
    except exceptions.NotFound:
      return None, 0
    except exceptions.PreconditionFailed:
      return self.read()  # Replaced between the two calls: read the new one.

  def write(self, record: dict, if_generation: int) -> Optional[int]:
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    try:
      self._blob.upload_from_string(json.dumps(record), content_type="application/json",
                                    if_generation_match=if_generation)
    except exceptions.PreconditionFailed:
      return None
    return int(self._blob.generation)

  def delete(self, if_generation: int) -> None:
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    try:
      self._blob.delete(if_generation_match=if_generation)
    except (exceptions.PreconditionFailed, exceptions.NotFound):
      pass


def _store(workdir: str):
  path = paths.resolve(workdir) / LEASE_FILE
  if str(path).startswith("gs://"):
    return _CloudStorageStore(str(path))
  if paths.is_url(path):
    raise ValueError(f"workdir {workdir}: a lease needs a local directory or gs://")
  return _LocalStore(path)


def _parse(text: Optional[str]) -> Optional[Holder]:
  if text is None:
    return None
  try:
    record = json.loads(text)
    return Holder(**{f.name: record[f.name] for f in dataclasses.fields(Holder)})
  except (ValueError, KeyError, TypeError):
    return None  # A damaged lease names no live holder.


# ---------------------------------------------------------------------------------------
# The lease.


class WorkdirLease:
  """This process's lease on a workdir, with its heartbeat thread."""

  def __init__(self, workdir: str, heartbeat_seconds: float, stale_seconds: float):
    self.workdir = workdir
    self._store = _store(workdir)
    self._heartbeat_seconds = heartbeat_seconds
    self._stale_seconds = stale_seconds
    self.holder = Holder.of_this_process()
    self._generation = 0
    self._lost: Optional[str] = None
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None

  def acquire(self) -> "WorkdirLease":
    """Takes the lease, or raises `WorkdirBusyError` naming the live holder."""
    for _ in range(5):  # Retried only when another run wins a race we then re-read.
      text, generation = self._store.read()
      current, now = _parse(text), time.time()
      if text is not None and current is not None:
        reason = current.stale_reason(self._stale_seconds, now)
        if reason is None:
          raise WorkdirBusyError(
              f"workdir {self.workdir} is in use by another run ({current.describe(now)}; "
              f"lease {paths.resolve(self.workdir) / LEASE_FILE}). One run per workdir: "
              f"wait for it, stop it, or use another --workdir")
        logging.warning("Taking over the stale lease of %s (%s): %s", self.workdir,
                        current.describe(now), reason)
      elif text is not None:
        logging.warning("Replacing the unreadable lease %s", paths.resolve(self.workdir)
                        / LEASE_FILE)
      written = self._store.write(dataclasses.asdict(self.holder), generation)
      if written is not None:
        self._generation = written
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name="workdir-lease-heartbeat")
        self._thread.start()
        return self
    raise WorkdirBusyError(f"workdir {self.workdir}: could not take its lease (other runs "
                           f"keep replacing {LEASE_FILE})")

  def _beat(self) -> None:
    while not self._stop.wait(self._heartbeat_seconds):
      self.holder = dataclasses.replace(self.holder, heartbeat=time.time())
      try:
        written = self._store.write(dataclasses.asdict(self.holder), self._generation)
      except Exception as e:  # pylint: disable=broad-except
        logging.warning("Workdir lease heartbeat failed (will retry): %s", e)
        continue
      if written is None:
        now_holder = _parse(self._store.read()[0])
        self._lost = (f"this run's lease on {self.workdir} was taken over by another run"
                      f" ({now_holder.describe() if now_holder else 'unknown holder'})")
        logging.error("%s", self._lost)
        return
      self._generation = written

  def check(self) -> None:
    """Raises `LeaseLostError` when another run took the lease over."""
    if self._lost:
      raise LeaseLostError(self._lost + ": stopping without writing to the workdir")

  def release(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
    if not self._lost:
      self._store.delete(self._generation)


@contextlib.contextmanager
def workdir_lease(workdir: str, heartbeat_seconds: float, stale_seconds: float
                  ) -> Iterator[Optional[WorkdirLease]]:
  """Holds the workdir's lease (process 0) for the body; every process fails if process
  0 could not take it. Yields the lease on process 0, None on the others."""
  import jax  # pylint: disable=g-import-not-at-top
  lease, error = None, None
  if jax.process_index() == 0:
    try:
      lease = WorkdirLease(workdir, heartbeat_seconds, stale_seconds).acquire()
    except WorkdirBusyError as e:
      error = e
  if jax.process_count() > 1:
    import numpy as np  # pylint: disable=g-import-not-at-top
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    taken = int(multihost_utils.broadcast_one_to_all(np.int32(error is None)))
    if not taken and error is None:
      error = WorkdirBusyError(f"process 0 could not take the lease of workdir {workdir} "
                               f"(its log names the holder)")
  if error is not None:
    raise error
  try:
    yield lease
  finally:
    if lease is not None:
      lease.release()
