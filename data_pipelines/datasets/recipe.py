"""What every dataset recipe shares: official layout -> split CSVs + label map.

A recipe (one module per dataset in this package) reads a dataset's official
download layout and split files and turns them into the input that
`data_pipelines.write_tfrecords` accepts:

  OUTPUT_DIR/label_map.txt     every class of the dataset, sorted (the repo's
                               label-map convention), fixed before any split
                               is converted, so train and test indices agree
  OUTPUT_DIR/SPLIT.csv         `path,label` rows; paths relative to the video
                               root (passed as `--video_root`)
  OUTPUT_DIR/SPLIT_missing.txt videos the split file lists that are not on
                               disk (Kinetics: YouTube videos that vanished)

and prints, or with `--run` runs, one `python -m data_pipelines.write_tfrecords`
command per split. Extra flags for that tool (`--num_shards`, `--workers`,
`--num_workers/--shard_index` for many machines, `--fps` ...) go in
`--tfrecords_flags`.

The label map holds class names, sorted; an official 1-based index
(UCF-101 classInd.txt, EGTEA action_idx.txt) is used only to find a clip's
class name. All paths go through `data_pipelines.paths`, so the layout may be
on gs:// too.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import os
import shlex
import subprocess
import sys
from typing import Callable, Iterable, Sequence

from etils import epath

from data_pipelines import label_map as label_map_lib
from data_pipelines import paths


@dataclasses.dataclass
class Split:
  """One split of a dataset, ready to be written as a CSV.

  Attributes:
    name: split name (train, test, validation, ...): the CSV and TFRecord name.
    videos: (path relative to the recipe's video root, class name) pairs.
    missing: videos the split file lists that are not on disk.
  """
  name: str
  videos: list[tuple[str, str]]
  missing: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Recipe:
  """A dataset's splits, its complete class list and where its videos are."""
  dataset: str
  video_root: str
  class_names: list[str]
  splits: list[Split]


class RecipeError(ValueError):
  """The official layout is not as expected; the message names the file."""


def read_lines(path: epath.PathLike) -> list[str]:
  """The non-empty lines of a text file, stripped; a clear error if absent."""
  file = paths.resolve(path)
  if not file.exists():
    raise RecipeError(f'{path}: not found (is --root the folder of the '
                      'official download?)')
  return [l.strip() for l in file.read_text().splitlines() if l.strip()]


def list_videos(root: epath.PathLike, extensions: Sequence[str]) -> list[str]:
  """Every video under `root` (any depth), relative to `root`, sorted.

  One listing of the tree, so that checking thousands of split entries costs
  no request per video on an object store.
  """
  base = paths.resolve(root)
  if not base.is_dir():
    raise RecipeError(f'{root}: video folder not found')
  return sorted(os.fspath((folder / name).relative_to(base))
                for folder, _, names in base.walk() for name in names
                if name.lower().endswith(tuple(extensions)))


def split_from_listed(name: str, listed: Iterable[tuple[str, str]],
                      on_disk: dict[str, str]) -> Split:
  """A split from (lookup key, class) pairs and `on_disk`: lookup key ->
  video path relative to the video root, for the videos that exist."""
  split = Split(name, [])
  for key, label in listed:
    if key in on_disk:
      split.videos.append((on_disk[key], label))
    else:
      split.missing.append(key)
  if not split.videos:
    raise RecipeError(f'split {name!r}: none of its {len(split.missing)} '
                      'listed videos is on disk (check --root / --videos_dir)')
  return split


def check_labels(recipe: Recipe) -> None:
  known = set(recipe.class_names)
  for split in recipe.splits:
    unknown = sorted({label for _, label in split.videos} - known)
    if unknown:
      raise RecipeError(f'split {split.name!r}: classes {unknown[:5]} are not '
                        'in the class list')


def write_recipe(recipe: Recipe, output_dir: epath.PathLike) -> dict[str, dict]:
  """Writes label_map.txt, SPLIT.csv and SPLIT_missing.txt; returns counts."""
  check_labels(recipe)
  out = paths.resolve(output_dir)
  out.mkdir(parents=True, exist_ok=True)
  label_map_lib.write_label_map(out / label_map_lib.LABEL_MAP_FILENAME,
                                sorted(recipe.class_names))
  summary = {}
  for split in recipe.splits:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(['path', 'label'])
    writer.writerows(split.videos)
    (out / f'{split.name}.csv').write_text(text.getvalue())
    (out / f'{split.name}_missing.txt').write_text(
        ''.join(m + '\n' for m in split.missing))
    summary[split.name] = {'videos': len(split.videos),
                           'missing': len(split.missing)}
  return summary


def write_tfrecords_commands(recipe: Recipe, output_dir: epath.PathLike,
                             records_dir: epath.PathLike,
                             extra_flags: Sequence[str] = ()) -> list[list[str]]:
  """One `python -m data_pipelines.write_tfrecords` argv per split."""
  out = os.fspath(paths.resolve(output_dir))
  return [[sys.executable, '-m', 'data_pipelines.write_tfrecords',
           f'--input={out}/{split.name}.csv',
           f'--video_root={recipe.video_root}',
           f'--output_dir={records_dir}', f'--split={split.name}',
           f'--label_map={out}/{label_map_lib.LABEL_MAP_FILENAME}',
           *extra_flags] for split in recipe.splits]


def run(build: Callable[..., Recipe]) -> None:
  """A recipe module's entry point, after it has defined its own flags.

  Adds the common flags, then calls `build` with the flag of each of its
  parameters (`root` and the module's own), writes the CSVs and label map,
  and prints (or with --run runs) the write_tfrecords commands.
  """
  from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
  flags.DEFINE_string('root', None, 'Folder of the official download.',
                      required=True)
  flags.DEFINE_string('output_dir', None, 'Where the split CSVs and '
                      'label_map.txt are written.', required=True)
  flags.DEFINE_string('records_dir', '', 'TFRecord output of the printed '
                      'commands (default: OUTPUT_DIR/tfrecords).')
  flags.DEFINE_bool('run', False, 'Run write_tfrecords for every split '
                    'instead of printing the commands.')
  flags.DEFINE_string('tfrecords_flags', '', 'Extra write_tfrecords flags, '
                      "one shell-quoted string, e.g. '--num_shards=256 "
                      "--workers=32'.")

  def main(argv):
    del argv
    f = flags.FLAGS
    recipe = build(**{name: f[name].value
                      for name in inspect.signature(build).parameters})
    summary = write_recipe(recipe, f.output_dir)
    for name, counts in summary.items():
      print(f'{recipe.dataset} {name}: {counts["videos"]} videos, '
            f'{counts["missing"]} listed but missing '
            f'({f.output_dir}/{name}_missing.txt)', file=sys.stderr)
    records_dir = f.records_dir or os.fspath(
        paths.resolve(f.output_dir) / 'tfrecords')
    for argv in write_tfrecords_commands(recipe, f.output_dir, records_dir,
                                         shlex.split(f.tfrecords_flags)):
      print(shlex.join(argv))
      if f.run:
        subprocess.run(argv, check=True)

  app.run(main)
