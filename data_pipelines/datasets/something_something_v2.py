r"""Something-Something v2 (Goyal et al. 2017) -> CSVs for write_tfrecords.

Official layout under --root (the 20BN / Qualcomm download, extracted):

  labels.json        {"Approaching something with your camera": "0", ...}: 174
                     templates, placeholders already written as "something"
  train.json         [{"id": "78687", "template": "Holding [something] next to
  validation.json      [something]", "label": ..., "placeholders": [...]}, ...]
  20bn-something-something-v2/ID.webm

(the download names the files something-something-v2-labels.json etc.; both
names are found). A video's class is its template with the brackets around
the placeholders removed, which is how labels.json spells it.

  python -m data_pipelines.datasets.something_something_v2 --root=/data/ssv2 \
      --output_dir=/data/ssv2/csv --tfrecords_flags='--num_shards=512'

Writes train.csv and validation.csv (168,913 / 24,777 videos in the official
files) and the 174-class label map. test.json has no labels and is not
converted.
"""

from __future__ import annotations

import json

from data_pipelines import paths
from data_pipelines.datasets import recipe as recipe_lib

_PREFIX = 'something-something-v2-'


def _annotation(base, name):
  for candidate in (base / f'{name}.json', base / f'{_PREFIX}{name}.json'):
    if candidate.exists():
      try:
        return candidate, json.loads(candidate.read_text())
      except json.JSONDecodeError as e:
        raise recipe_lib.RecipeError(f'{candidate}: not valid JSON ({e})') from e
  raise recipe_lib.RecipeError(f'{base}/{name}.json (or {_PREFIX}{name}.json): '
                               'not found')


def build(root: str, annotations_dir: str = '',
          videos_dir: str = '20bn-something-something-v2',
          splits=('train', 'validation')) -> recipe_lib.Recipe:
  base = paths.resolve(root)
  annotations = base / annotations_dir if annotations_dir else base
  _, labels = _annotation(annotations, 'labels')
  classes = sorted(labels)
  video_root = base / videos_dir
  on_disk = {v.rsplit('.', 1)[0]: v
             for v in recipe_lib.list_videos(video_root, ('.webm',))}
  result = []
  for name in splits:
    file, items = _annotation(annotations, name)
    listed = []
    for item in items:
      if 'template' not in item:
        raise recipe_lib.RecipeError(f'{file}: video {item.get("id")} has no '
                                     'template (the unlabelled test set?)')
      label = item['template'].replace('[', '').replace(']', '')
      if label not in labels:
        raise recipe_lib.RecipeError(f'{file}: video {item["id"]}: template '
                                     f'{label!r} is not in labels.json')
      listed.append((str(item['id']), label))
    result.append(recipe_lib.split_from_listed(name, listed, on_disk))
  return recipe_lib.Recipe('something_something_v2', str(video_root), classes,
                           result)


if __name__ == '__main__':
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('annotations_dir', '', 'Folder of the JSON files under '
                      '--root (default: --root itself).')
  flags.DEFINE_string('videos_dir', '20bn-something-something-v2', 'Folder of '
                      'ID.webm under --root.')
  flags.DEFINE_list('splits', ['train', 'validation'], 'Splits to convert.')
  recipe_lib.run(build)
