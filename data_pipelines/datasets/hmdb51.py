r"""HMDB-51 (Kuehne et al. 2011), official splits 1-3 -> CSVs for write_tfrecords.

Official layout under --root (hmdb51_org.rar with its 51 class archives, and
test_train_splits.rar, extracted):

  hmdb51_org/CLASS/VIDEO.avi
  testTrainMulti_7030_splits/CLASS_test_splitN.txt   "VIDEO.avi 1" per line:
      1 = training, 2 = testing, 0 = not used in split N (70/30 per class)

  python -m data_pipelines.datasets.hmdb51 --root=/data/hmdb51 --split=1 \
      --output_dir=/data/hmdb51/split1

Writes train.csv and test.csv (3,570 / 1,530 videos per split in the official
files) and the 51-class label map. Class names are the split files' prefixes
(`brush_hair`, `shoot_ball`, ...).
"""

from __future__ import annotations

from data_pipelines import paths
from data_pipelines.datasets import recipe as recipe_lib

_TAGS = {'1': 'train', '2': 'test'}


def build(root: str, split: int, videos_dir: str = 'hmdb51_org',
          splits_dir: str = 'testTrainMulti_7030_splits') -> recipe_lib.Recipe:
  """The train and test splits of official split `split` (1, 2 or 3)."""
  if split not in (1, 2, 3):
    raise recipe_lib.RecipeError(f'--split must be 1, 2 or 3, got {split}')
  split_folder = paths.resolve(root) / splits_dir
  if not split_folder.is_dir():
    raise recipe_lib.RecipeError(f'{split_folder}: split folder not found')
  suffix = f'_test_split{split}.txt'
  files = sorted(p for p in split_folder.iterdir() if p.name.endswith(suffix))
  if not files:
    raise recipe_lib.RecipeError(f'{split_folder}: no CLASS{suffix} files')
  listed = {'train': [], 'test': []}
  for file in files:
    label = file.name[:-len(suffix)]
    for lineno, line in enumerate(recipe_lib.read_lines(file), 1):
      parts = line.split()
      if len(parts) != 2 or parts[1] not in ('0', '1', '2'):
        raise recipe_lib.RecipeError(f'{file}:{lineno}: expected "VIDEO.avi 0|1|2", '
                                     f'got {line!r}')
      if parts[1] in _TAGS:
        listed[_TAGS[parts[1]]].append((f'{label}/{parts[0]}', label))
  video_root = paths.resolve(root) / videos_dir
  on_disk = {v: v for v in recipe_lib.list_videos(video_root, ('.avi',))}
  classes = sorted(f.name[:-len(suffix)] for f in files)
  return recipe_lib.Recipe(
      'hmdb51', str(video_root), classes,
      [recipe_lib.split_from_listed(n, listed[n], on_disk) for n in ('train', 'test')])


if __name__ == '__main__':
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer('split', 1, 'Official split: 1, 2 or 3.')
  flags.DEFINE_string('videos_dir', 'hmdb51_org', 'Video folder (CLASS/VIDEO.avi) '
                      'under --root.')
  flags.DEFINE_string('splits_dir', 'testTrainMulti_7030_splits', 'Split files '
                      'under --root.')
  recipe_lib.run(build)
