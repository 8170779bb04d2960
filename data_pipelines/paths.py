"""User paths as `etils.epath.Path`: a local directory or a URL (``gs://...``) alike.

Every path a user names (workdir, checkpoints, export, teacher, init_from, eval
outputs, the data tools' output_dir, label map and manifest) goes through `resolve`,
and all file I/O on it through the returned `epath.Path` (the abstraction orbax
itself uses), never `os.path` / `os.makedirs` / `open`. For ``gs://`` epath uses
TensorFlow's GCS filesystem when TensorFlow is importable, else gcsfs (fsspec);
``EPATH_USE_TF=false`` selects gcsfs. Orbax writes array data with tensorstore's
own GCS driver. TFRecords (tf.data) and TensorBoard events (tf.summary) go through
TensorFlow's filesystem, which reads the same URLs.
"""

from __future__ import annotations

import os

from etils import epath


def is_url(path: epath.PathLike) -> bool:
  """Whether `path` names a non-local filesystem (``gs://``, ``s3://``, ...)."""
  return '://' in os.fspath(path)


def resolve(path: epath.PathLike) -> epath.Path:
  """`path` as an `epath.Path`: URLs as given, local paths made absolute.

  Local paths are made absolute because orbax requires absolute directories and a
  relative path would otherwise depend on the current directory of each call.
  """
  text = os.fspath(path)
  if is_url(text):
    return epath.Path(text)
  return epath.Path(os.path.abspath(text))
