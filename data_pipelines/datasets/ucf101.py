r"""UCF-101 (Soomro et al. 2012), official splits 1-3 -> CSVs for write_tfrecords.

Official layout under --root (UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip
extracted side by side):

  UCF-101/CLASS/v_CLASS_gGG_cCC.avi
  ucfTrainTestlist/classInd.txt        "1 ApplyEyeMakeup" (1-based index, name)
  ucfTrainTestlist/trainlist0N.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
  ucfTrainTestlist/testlist0N.txt      "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

  python -m data_pipelines.datasets.ucf101 --root=/data/ucf101 --split=1 \
      --output_dir=/data/ucf101/split1 --tfrecords_flags='--num_shards=64'

Writes train.csv and test.csv (9,537 / 3,783 videos for split 1 in the
official lists) and the 101-class label map.
"""

from __future__ import annotations

from data_pipelines import paths
from data_pipelines.datasets import recipe as recipe_lib


def build(root: str, split: int, videos_dir: str = 'UCF-101',
          lists_dir: str = 'ucfTrainTestlist') -> recipe_lib.Recipe:
  """The train and test splits of official split `split` (1, 2 or 3)."""
  if split not in (1, 2, 3):
    raise recipe_lib.RecipeError(f'--split must be 1, 2 or 3, got {split}')
  lists = paths.resolve(root) / lists_dir
  classes = {}
  for line in recipe_lib.read_lines(lists / 'classInd.txt'):
    index, name = line.split()
    classes[int(index)] = name
  video_root = paths.resolve(root) / videos_dir
  on_disk = {v: v for v in recipe_lib.list_videos(video_root, ('.avi',))}
  # A copy re-packed on a case-insensitive file system may differ in case.
  by_lower_case = {v.lower(): v for v in on_disk}
  splits = []
  for name, file in (('train', f'trainlist0{split}.txt'),
                     ('test', f'testlist0{split}.txt')):
    listed = []
    for lineno, line in enumerate(recipe_lib.read_lines(lists / file), 1):
      video, *index = line.split()
      label = video.split('/')[0]
      if index and classes.get(int(index[0])) != label:
        raise recipe_lib.RecipeError(
            f'{lists / file}:{lineno}: class index {index[0]} is '
            f'{classes.get(int(index[0]))!r} in classInd.txt, but the video '
            f'is in folder {label!r}')
      if video not in on_disk and video.lower() in by_lower_case:
        on_disk[video] = by_lower_case[video.lower()]
      listed.append((video, label))
    splits.append(recipe_lib.split_from_listed(name, listed, on_disk))
  return recipe_lib.Recipe('ucf101', str(video_root), sorted(classes.values()),
                           splits)


if __name__ == '__main__':
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer('split', 1, 'Official split: 1, 2 or 3.')
  flags.DEFINE_string('videos_dir', 'UCF-101', 'Video folder under --root.')
  flags.DEFINE_string('lists_dir', 'ucfTrainTestlist', 'Split lists under --root.')
  recipe_lib.run(build)
