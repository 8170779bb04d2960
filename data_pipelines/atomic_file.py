"""Atomic file writes: write a temporary file, then rename it into place.

Readers (and re-runs after a crash) only ever see a complete old file or a
complete new one, never a half-written label map, manifest or status file.
On an object store (``gs://``) a rename is a copy plus a delete, so the file is
written directly: one object upload is atomic there (the object appears only once
the upload completes, and replaces the old one in a single step).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from etils import epath

from data_pipelines import paths


def write_text(path: epath.PathLike, text: str) -> None:
  """Atomically replaces `path` with `text` (permissions follow the umask)."""
  target = paths.resolve(path)
  target.parent.mkdir(parents=True, exist_ok=True)
  if paths.is_url(target):
    target.write_text(text)  # A single-object upload: atomic.
    return
  path = os.fspath(target)
  directory = os.path.dirname(path)
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


def write_json(path: epath.PathLike, obj: Any) -> None:
  """Atomically writes `obj` as indented, key-sorted JSON."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')
