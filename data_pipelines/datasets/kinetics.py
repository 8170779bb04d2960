r"""Kinetics-400 / 600 as distributed by the CVDF -> CSVs for write_tfrecords.

Official layout under --root (k400/ or k600/ after the CVDF download and
extract scripts, github.com/cvdfoundation/kinetics-dataset):

  annotations/{train,val,test}.csv   header `label,youtube_id,time_start,time_end,
                                     split[,is_cc]` (columns found by name)
  {train,val,test}/YOUTUBEID_SSSSSS_EEEEEE.mp4   trimmed clips, start and end
                                     seconds zero-padded to 6 digits
  replacement/replacement_for_corrupted_k400/*.mp4   (K400) clips that replace
                                     corrupted ones, matched by YouTube id

  python -m data_pipelines.datasets.kinetics --root=/data/k400 \
      --output_dir=/data/k400/csv --records_dir=gs://BUCKET/k400 \
      --tfrecords_flags='--num_shards=1024 --workers=32'

Clips are already trimmed, so the CSVs hold whole files (no start/end). A
clip whose YouTube video has vanished is listed in SPLIT_missing.txt; the CVDF
notes 246,534 train / 19,906 val rows against 240,258 / 19,881 clips for K400.
The label map is every class named in the labelled annotation files (400 or
600). The K600 test CSV has no labels; converting it is an error.
"""

from __future__ import annotations

import collections
import csv
import io
import os

from data_pipelines import paths
from data_pipelines.datasets import recipe as recipe_lib

REPLACEMENT_DIR = 'replacement/replacement_for_corrupted_k400'
_COLUMNS = ('youtube_id', 'time_start', 'time_end')
_YOUTUBE_ID_LENGTH = 11


def clip_stem(youtube_id: str, start: str, end: str) -> str:
  """The CVDF name of a trimmed clip, without .mp4."""
  return f'{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}'


def read_annotations(path) -> list[dict[str, str]] | None:
  """Rows of an annotation CSV; None when it has no label column (test)."""
  file = paths.resolve(path)
  if not file.exists():
    raise recipe_lib.RecipeError(f'{path}: not found (is --root the k400/ or '
                                 'k600/ folder of the CVDF download?)')
  rows = list(csv.DictReader(io.StringIO(file.read_text(), newline='')))
  header = set(rows[0]) if rows else set()
  missing = [c for c in _COLUMNS if c not in header]
  if missing:
    raise recipe_lib.RecipeError(f'{path}: columns {missing} missing from the '
                                 f'header {sorted(header)}')
  return rows if 'label' in header else None


def build(root: str, splits=('train', 'val'),
          annotations_dir: str = 'annotations') -> recipe_lib.Recipe:
  """The requested splits of a CVDF Kinetics download."""
  base = paths.resolve(root)
  annotations = {}
  for name in ('train', 'val', 'test'):
    if (base / annotations_dir / f'{name}.csv').exists() or name in splits:
      annotations[name] = read_annotations(base / annotations_dir / f'{name}.csv')
  classes = sorted({r['label'].strip() for rows in annotations.values() if rows
                    for r in rows})
  replacements = {}
  if (base / REPLACEMENT_DIR).is_dir():
    for video in recipe_lib.list_videos(base / REPLACEMENT_DIR, ('.mp4',)):
      replacements[os.path.basename(video)[:_YOUTUBE_ID_LENGTH]] = (
          f'{REPLACEMENT_DIR}/{video}')
  result = []
  for name in splits:
    rows = annotations[name]
    if rows is None:
      raise recipe_lib.RecipeError(
          f'{base / annotations_dir / name}.csv has no label column (the '
          'held-out test set); convert the labelled splits')
    on_disk = {}
    by_id = collections.defaultdict(list)
    for video in recipe_lib.list_videos(base / name, ('.mp4',)):
      stem = os.path.splitext(os.path.basename(video))[0]
      on_disk[stem] = f'{name}/{video}'
      by_id[stem[:_YOUTUBE_ID_LENGTH]].append(f'{name}/{video}')
    listed = []
    for row in rows:
      stem = clip_stem(row['youtube_id'], row['time_start'], row['time_end'])
      youtube_id = row['youtube_id']
      if youtube_id in replacements:
        on_disk[stem] = replacements[youtube_id]
      elif stem not in on_disk and len(by_id.get(youtube_id, ())) == 1:
        on_disk[stem] = by_id[youtube_id][0]  # Same video, other time format.
      listed.append((stem, row['label'].strip()))
    result.append(recipe_lib.split_from_listed(name, listed, on_disk))
  return recipe_lib.Recipe(f'kinetics{len(classes)}', str(base), classes, result)


if __name__ == '__main__':
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('splits', ['train', 'val'], 'Splits to convert.')
  flags.DEFINE_string('annotations_dir', 'annotations', 'Annotation CSVs under '
                      '--root.')
  recipe_lib.run(build)
