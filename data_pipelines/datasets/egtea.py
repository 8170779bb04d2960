r"""EGTEA Gaze+ (Li et al. 2018), official splits 1-3 -> CSVs for write_tfrecords.

Official layout under --root (action_annotation.zip and the trimmed action
clips, video_clips.tar, extracted):

  action_annotation/train_splitN.txt   "CLIP ACTION VERB NOUN" per line: a clip
  action_annotation/test_splitN.txt      name and 1-based indices into ...
  action_annotation/action_idx.txt     "Open fridge 1": a class name, then its
  action_annotation/verb_idx.txt         1-based index (106 action classes)
  action_annotation/noun_idx.txt
  cropped_clips/SESSION/CLIP.mp4       (found at any depth by the clip name)

  python -m data_pipelines.datasets.egtea --root=/data/egtea --split=1 \
      --label=action --output_dir=/data/egtea/split1

Writes train.csv and test.csv for `--label` (action by default, the 106-way
task of the papers) and that task's label map.
"""

from __future__ import annotations

import os

from data_pipelines import paths
from data_pipelines.datasets import recipe as recipe_lib

LABEL_COLUMNS = {'action': 1, 'verb': 2, 'noun': 3}


def read_index(path) -> dict[int, str]:
  """`NAME WORDS INDEX` lines -> {index: name}."""
  names = {}
  for lineno, line in enumerate(recipe_lib.read_lines(path), 1):
    name, _, index = line.rpartition(' ')
    if not name or not index.isdigit():
      raise recipe_lib.RecipeError(f'{path}:{lineno}: expected "NAME INDEX", '
                                   f'got {line!r}')
    names[int(index)] = name.strip()
  return names


def build(root: str, split: int, label: str = 'action',
          annotations_dir: str = 'action_annotation',
          videos_dir: str = 'cropped_clips') -> recipe_lib.Recipe:
  if split not in (1, 2, 3):
    raise recipe_lib.RecipeError(f'--split must be 1, 2 or 3, got {split}')
  if label not in LABEL_COLUMNS:
    raise recipe_lib.RecipeError(f'--label must be one of {list(LABEL_COLUMNS)}, '
                                 f'got {label!r}')
  annotations = paths.resolve(root) / annotations_dir
  names = read_index(annotations / f'{label}_idx.txt')
  video_root = paths.resolve(root) / videos_dir
  on_disk = {os.path.splitext(os.path.basename(v))[0]: v
             for v in recipe_lib.list_videos(video_root, ('.mp4',))}
  result = []
  for name in ('train', 'test'):
    file = annotations / f'{name}_split{split}.txt'
    listed = []
    for lineno, line in enumerate(recipe_lib.read_lines(file), 1):
      parts = line.split()
      try:
        listed.append((parts[0], names[int(parts[LABEL_COLUMNS[label]])]))
      except (IndexError, ValueError, KeyError) as e:
        raise recipe_lib.RecipeError(
            f'{file}:{lineno}: expected "CLIP ACTION VERB NOUN" with indices '
            f'in {label}_idx.txt, got {line!r}') from e
    result.append(recipe_lib.split_from_listed(name, listed, on_disk))
  return recipe_lib.Recipe(f'egtea_{label}', str(video_root),
                           sorted(names.values()), result)


if __name__ == '__main__':
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer('split', 1, 'Official split: 1, 2 or 3.')
  flags.DEFINE_enum('label', 'action', list(LABEL_COLUMNS), 'Which task.')
  flags.DEFINE_string('annotations_dir', 'action_annotation', 'Split and index '
                      'files under --root.')
  flags.DEFINE_string('videos_dir', 'cropped_clips', 'Clip folder under --root.')
  recipe_lib.run(build)
