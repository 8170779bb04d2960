"""One process of a multi-host job in the multi-host tests: `python -m d3d_jax.main`
with a record of what this process wrote.

  JAX_COORDINATOR_ADDRESS=localhost:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=I \
  WRITES_LOG=FILE python -m tests.multihost.host_process --config=... --workdir=DIR ...

Everything after the module name is d3d_jax.main's command line; the process joins the
job through the same environment variables as on a cluster. At exit it writes to
WRITES_LOG (JSON) every path under the workdir that its Python code opened for
writing, created, renamed or removed, from the interpreter's audit events (PEP 578).
Writes from C++ (TensorFlow's event files, tensorstore's array chunks) raise no audit
event; the tests check those by the files' names instead.
"""

import atexit
import importlib
import json
import os
import sys

# CPU only, fast compiles, the test compilation cache (set up on import).
importlib.import_module("tests.conftest")

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = ("os.mkdir", "os.remove", "os.rmdir", "os.rename", "shutil.rmtree",
                "shutil.move", "shutil.copyfile")


def _workdir(argv) -> str:
  for arg in argv:
    if arg.startswith("--workdir="):
      return os.path.realpath(arg[len("--workdir="):])
  raise SystemExit("host_process needs --workdir=DIR")


def _install_write_recorder(workdir: str, log_path: str) -> None:
  written = set()

  def under_workdir(path) -> bool:
    if isinstance(path, int) or path is None:
      return False
    path = os.path.realpath(os.fsdecode(path))
    return path == workdir or path.startswith(workdir + os.sep)

  def hook(event, args):
    if event == "open":
      path, mode, flags = args
      writing = (any(c in mode for c in "wax+") if isinstance(mode, str)
                 else bool(flags & _WRITE_FLAGS))
      if writing and under_workdir(path):
        written.add(os.path.relpath(os.path.realpath(os.fsdecode(path)), workdir))
    elif event in _PATH_EVENTS:
      for path in args[:2]:
        if isinstance(path, (str, bytes, os.PathLike)) and under_workdir(path):
          written.add(os.path.relpath(os.path.realpath(os.fsdecode(path)), workdir))

  def dump():
    with open(log_path, "w") as f:
      json.dump(sorted(written), f)

  sys.addaudithook(hook)
  atexit.register(dump)


if __name__ == "__main__":
  _install_write_recorder(_workdir(sys.argv[1:]), os.environ["WRITES_LOG"])
  from d3d_jax import main  # pylint: disable=g-import-not-at-top
  main.run()
