"""Atomic file writes: write a temporary file, then rename it into place.

Readers (and re-runs after a crash) only ever see a complete old file or a
complete new one, never a half-written label map, manifest or status file.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_text(path: str, text: str) -> None:
  """Atomically replaces `path` with `text` (permissions follow the umask)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory,
                             prefix='.' + os.path.basename(path) + '.tmp-')
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600.
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path: str, obj: Any) -> None:
  """Atomically writes `obj` as indented, key-sorted JSON."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')
