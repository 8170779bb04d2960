"""The label map: sorted class names, one per line; the line number is the index.

It is written once (from the first split converted) and reused for every
other split, so `clip/label/index` means the same class in train and test.
DMVR's own converter built its map from `set(labels)` per CSV, which gave
different indices per split (DMVR issue #6); a file avoids that.
The file may be local or a URL (gs://...): it is read and written through
`data_pipelines.paths` (etils.epath), like the records next to it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from etils import epath

from data_pipelines import atomic_file
from data_pipelines import paths

LABEL_MAP_FILENAME = 'label_map.txt'


class LabelMapError(ValueError):
  """The label map is malformed or does not cover the classes of a split."""


def read_label_map(path: epath.PathLike) -> list[str]:
  """Reads a label map file; raises LabelMapError naming the file and line."""
  file = paths.resolve(path)
  if not file.exists():
    raise LabelMapError(f'{path}: label map file not found')
  lines = file.read_text().splitlines()
  names = []
  for lineno, line in enumerate(lines, 1):
    name = line.strip()
    if not name:
      if lineno == len(lines):
        continue
      raise LabelMapError(f'{path}:{lineno}: empty class name')
    names.append(name)
  if not names:
    raise LabelMapError(f'{path}: label map is empty')
  if len(set(names)) != len(names):
    dup = sorted({n for n in names if names.count(n) > 1})
    raise LabelMapError(f'{path}: duplicate class names {dup}')
  return names


def write_label_map(path: epath.PathLike,
                    class_names: Sequence[str]) -> list[str]:
  """Writes class names atomically, in the given order, and returns them."""
  names = list(class_names)
  if len(set(names)) != len(names):
    raise LabelMapError(f'{path}: duplicate class names')
  for name in names:
    if not name.strip() or '\n' in name or name != name.strip():
      raise LabelMapError(f'{path}: invalid class name {name!r}')
  atomic_file.write_text(path, ''.join(n + '\n' for n in names))
  return names


def load_or_create(path: epath.PathLike,
                   class_names: Iterable[str]) -> list[str]:
  """Reuses the map at `path` if present, else writes one from `class_names`.

  Raises:
    LabelMapError: the existing map lacks some of `class_names` (the split
      holds a class the map does not know; indices would be wrong).
  """
  class_names = set(class_names)
  if paths.resolve(path).exists():
    names = read_label_map(path)
    unknown = sorted(class_names - set(names))
    if unknown:
      raise LabelMapError(
          f'{path}: classes {unknown} are not in the label map; pass the '
          'label map that covers every split, or delete it to rebuild')
    return names
  return write_label_map(path, sorted(class_names))
