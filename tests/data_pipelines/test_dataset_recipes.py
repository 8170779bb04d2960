"""Dataset recipes on tiny fakes of each official layout (videos + split files).

Each fake copies one small generated .mp4 under the official names; the
recipes only list and match files, and the end-to-end test decodes them.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines import label_map
from data_pipelines import schema
from data_pipelines import video_io
from data_pipelines import write_tfrecords
from data_pipelines.datasets import egtea
from data_pipelines.datasets import hmdb51
from data_pipelines.datasets import kinetics
from data_pipelines.datasets import recipe as recipe_lib
from data_pipelines.datasets import something_something_v2
from data_pipelines.datasets import ucf101

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def video_bytes(tmp_path_factory):
  """A 6-frame 32x32 H.264 video (a square moving right)."""
  frames = np.zeros((6, 32, 32, 3), np.uint8)
  for t in range(6):
    frames[t, 10:20, 4 + 2 * t:14 + 2 * t] = 255
  path = tmp_path_factory.mktemp('video') / 'v.mp4'
  video_io.write_video(str(path), frames, fps=25)
  return path.read_bytes()


def _files(root, contents):
  """Writes {relative path: text or bytes} under root."""
  for relative, content in contents.items():
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
      path.write_bytes(content)
    else:
      path.write_text(content)


def _csv_rows(path):
  with open(path, newline='') as f:
    return list(csv.reader(f))


@pytest.fixture
def ucf_root(tmp_path, video_bytes):
  _files(tmp_path, {
      'ucfTrainTestlist/classInd.txt': '1 ApplyEyeMakeup\n2 Archery\n3 YoYo\n',
      'ucfTrainTestlist/trainlist01.txt':
          'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n'
          'Archery/v_Archery_g08_c01.avi 2\n'
          'YoYo/v_YoYo_g08_c01.avi 3\n'
          'YoYo/v_YoYo_g09_c01.avi 3\n',
      'ucfTrainTestlist/testlist01.txt':
          'ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nYoYo/v_YoYo_g01_c01.avi\n',
      'UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi': video_bytes,
      'UCF-101/Archery/v_archery_g08_c01.avi': video_bytes,  # Other case than listed.
      'UCF-101/YoYo/v_YoYo_g08_c01.avi': video_bytes,  # g09 is missing.
      'UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi': video_bytes,
      'UCF-101/YoYo/v_YoYo_g01_c01.avi': video_bytes,
  })
  return tmp_path


def test_ucf101_split_lists_become_csvs_and_the_class_index_label_map(ucf_root):
  recipe = ucf101.build(str(ucf_root), split=1)
  out = ucf_root / 'out'
  summary = recipe_lib.write_recipe(recipe, out)
  assert summary == {'train': {'videos': 3, 'missing': 1},
                     'test': {'videos': 2, 'missing': 0}}
  assert _csv_rows(out / 'train.csv') == [
      ['path', 'label'],
      ['ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi', 'ApplyEyeMakeup'],
      ['Archery/v_archery_g08_c01.avi', 'Archery'],
      ['YoYo/v_YoYo_g08_c01.avi', 'YoYo']]
  assert _csv_rows(out / 'test.csv')[1:] == [
      ['ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi', 'ApplyEyeMakeup'],
      ['YoYo/v_YoYo_g01_c01.avi', 'YoYo']]
  assert (out / 'train_missing.txt').read_text() == 'YoYo/v_YoYo_g09_c01.avi\n'
  assert label_map.read_label_map(out / 'label_map.txt') == [
      'ApplyEyeMakeup', 'Archery', 'YoYo']


def test_ucf101_class_index_that_contradicts_the_folder_is_an_error(ucf_root):
  (ucf_root / 'ucfTrainTestlist/trainlist02.txt').write_text(
      'Archery/v_Archery_g08_c01.avi 3\n')
  (ucf_root / 'ucfTrainTestlist/testlist02.txt').write_text('')
  with pytest.raises(recipe_lib.RecipeError,
                     match=r"trainlist02.txt:1: class index 3 is 'YoYo'"):
    ucf101.build(str(ucf_root), split=2)


def test_ucf101_recipe_output_converts_end_to_end_and_reads_back(ucf_root):
  recipe = ucf101.build(str(ucf_root), split=1)
  out = ucf_root / 'out'
  recipe_lib.write_recipe(recipe, out)
  names = label_map.read_label_map(out / 'label_map.txt')
  sources = write_tfrecords.read_csv(str(out / 'test.csv'), recipe.video_root)
  entry = write_tfrecords.write_split(
      sources, output_dir=str(out / 'records'), split='test', class_names=names,
      num_shards=1, options=write_tfrecords.EncodeOptions(min_resize=0, flow='none'),
      show_progress=False)
  assert entry['num_written'] == 2
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  records = [schema.read_sequence_example(r.numpy()) for r in tf.data.TFRecordDataset(
      str(out / 'records' / 'test-00000-of-00001.tfrecord'))]
  assert sorted((r[schema.LABEL_INDEX_KEY], r[schema.LABEL_STRING_KEY].decode(),
                 len(r[schema.RGB_KEY])) for r in records) == [
                     (0, 'ApplyEyeMakeup', 6), (2, 'YoYo', 6)]


def test_recipe_command_line_prints_one_write_tfrecords_command_per_split(ucf_root):
  out = ucf_root / 'cli'
  proc = subprocess.run(
      [sys.executable, '-m', 'data_pipelines.datasets.ucf101', f'--root={ucf_root}',
       f'--output_dir={out}', '--records_dir=gs://bucket/ucf101',
       '--tfrecords_flags=--num_shards=8 --num_workers=2 --shard_index=1'],
      cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.splitlines() == [
      f'{sys.executable} -m data_pipelines.write_tfrecords --input={out}/{split}.csv '
      f'--video_root={ucf_root}/UCF-101 --output_dir=gs://bucket/ucf101 '
      f'--split={split} --label_map={out}/label_map.txt --num_shards=8 '
      '--num_workers=2 --shard_index=1' for split in ('train', 'test')]
  assert 'ucf101 train: 3 videos, 1 listed but missing' in proc.stderr


def test_hmdb51_tags_select_train_test_and_unused(tmp_path, video_bytes):
  _files(tmp_path, {
      'testTrainMulti_7030_splits/brush_hair_test_split1.txt':
          'a.avi 1 \nb.avi 2 \nc.avi 0 \n',
      'testTrainMulti_7030_splits/shoot_ball_test_split1.txt': 'd.avi 2 \ne.avi 1 \n',
      'testTrainMulti_7030_splits/brush_hair_test_split2.txt': 'a.avi 2 \n',
      **{f'hmdb51_org/brush_hair/{v}.avi': video_bytes for v in 'abc'},
      **{f'hmdb51_org/shoot_ball/{v}.avi': video_bytes for v in 'de'},
  })
  recipe = hmdb51.build(str(tmp_path), split=1)
  assert recipe.class_names == ['brush_hair', 'shoot_ball']
  assert {s.name: s.videos for s in recipe.splits} == {
      'train': [('brush_hair/a.avi', 'brush_hair'), ('shoot_ball/e.avi', 'shoot_ball')],
      'test': [('brush_hair/b.avi', 'brush_hair'), ('shoot_ball/d.avi', 'shoot_ball')]}


def test_kinetics_cvdf_csvs_match_trimmed_clips_and_replacements(tmp_path, video_bytes):
  _files(tmp_path, {
      'annotations/train.csv':
          'label,youtube_id,time_start,time_end,split,is_cc\n'
          '"passing American football (in game)",aaaaaaaaaaa,14,24,train,0\n'
          'abseiling,bbbbbbbbbbb,0,10,train,0\n'
          'abseiling,ccccccccccc,100,110,train,0\n',  # Vanished from YouTube.
      'annotations/val.csv':
          'label,youtube_id,time_start,time_end,split,is_cc\n'
          'zumba,ddddddddddd,5,15,val,0\n',
      'annotations/test.csv':
          'youtube_id,time_start,time_end,split\neeeeeeeeeee,0,10,test\n',
      'train/aaaaaaaaaaa_000014_000024.mp4': video_bytes,
      'train/bbbbbbbbbbb_000000_000010.mp4': b'corrupt',
      'replacement/replacement_for_corrupted_k400/bbbbbbbbbbb_000000_000010.mp4':
          video_bytes,
      'val/ddddddddddd_000005_000015.mp4': video_bytes,
  })
  recipe = kinetics.build(str(tmp_path))
  assert recipe.dataset == 'kinetics3'
  assert recipe.class_names == ['abseiling', 'passing American football (in game)',
                                'zumba']
  train, val = recipe.splits
  assert train.videos == [
      ('train/aaaaaaaaaaa_000014_000024.mp4', 'passing American football (in game)'),
      ('replacement/replacement_for_corrupted_k400/bbbbbbbbbbb_000000_000010.mp4',
       'abseiling')]
  assert train.missing == ['ccccccccccc_000100_000110']
  assert val.videos == [('val/ddddddddddd_000005_000015.mp4', 'zumba')]
  with pytest.raises(recipe_lib.RecipeError, match='test.csv has no label column'):
    kinetics.build(str(tmp_path), splits=('test',))


def test_kinetics_csv_without_the_expected_columns_is_an_error(tmp_path):
  _files(tmp_path, {'annotations/train.csv': 'label,video,start\nx,y,1\n'})
  with pytest.raises(recipe_lib.RecipeError,
                     match=r"train.csv: columns \['youtube_id', 'time_start', 'time_end'\]"):
    kinetics.build(str(tmp_path), splits=('train',))


def test_something_something_v2_templates_lose_their_brackets(tmp_path, video_bytes):
  labels = {'Holding something next to something': '0',
            'Putting something, something and something on the table': '1'}
  _files(tmp_path, {
      'labels.json': json.dumps(labels),
      'train.json': json.dumps([
          {'id': '78687', 'label': 'holding potato next to vicks vaporub bottle',
           'template': 'Holding [something] next to [something]',
           'placeholders': ['potato', 'vicks vaporub bottle']},
          {'id': '42326', 'label': 'putting a, b and c on the table',
           'template': 'Putting [something], [something] and [something] on the table',
           'placeholders': ['a', 'b', 'c']}]),
      'something-something-v2-validation.json': json.dumps([
          {'id': '1', 'template': 'Holding [something] next to [something]'}]),
      '20bn-something-something-v2/78687.webm': video_bytes,
      '20bn-something-something-v2/42326.webm': video_bytes,
      '20bn-something-something-v2/1.webm': video_bytes,
  })
  recipe = something_something_v2.build(str(tmp_path))
  out = tmp_path / 'out'
  recipe_lib.write_recipe(recipe, out)
  assert _csv_rows(out / 'train.csv')[1:] == [
      ['78687.webm', 'Holding something next to something'],
      ['42326.webm', 'Putting something, something and something on the table']]
  assert _csv_rows(out / 'validation.csv')[1:] == [
      ['1.webm', 'Holding something next to something']]
  assert label_map.read_label_map(out / 'label_map.txt') == sorted(labels)
  # write_tfrecords reads the quoted comma back as one label.
  sources = write_tfrecords.read_csv(str(out / 'train.csv'), recipe.video_root)
  assert [s.label for s in sources] == [
      'Holding something next to something',
      'Putting something, something and something on the table']


def test_something_something_v2_unknown_template_is_an_error(tmp_path):
  _files(tmp_path, {
      'labels.json': json.dumps({'Holding something': '0'}),
      'train.json': json.dumps([{'id': '5', 'template': 'Dropping [something]'}]),
      'validation.json': '[]',
      '20bn-something-something-v2/5.webm': b'x',
  })
  with pytest.raises(recipe_lib.RecipeError,
                     match="video 5: template 'Dropping something' is not in labels.json"):
    something_something_v2.build(str(tmp_path))


def test_egtea_split_indices_name_action_verb_or_noun_classes(tmp_path, video_bytes):
  clip = 'OP01-R01-PastaSalad-1002316-1004005-F024051-F024101'
  other = 'P20-R03-BaconAndEggs-361220-362880-F008661-F008711'
  _files(tmp_path, {
      'action_annotation/action_idx.txt': 'Inspect/Read recipe 1\nOpen fridge 2\n',
      'action_annotation/verb_idx.txt': 'Inspect/Read 1\nOpen 2\n',
      'action_annotation/noun_idx.txt': 'recipe 1\nfridge 2\n',
      'action_annotation/train_split1.txt': f'{clip} 2 2 2\n',
      'action_annotation/test_split1.txt': f'{other} 1 1 1\n',
      f'cropped_clips/OP01-R01-PastaSalad/{clip}.mp4': video_bytes,
      f'cropped_clips/P20-R03-BaconAndEggs/{other}.mp4': video_bytes,
  })
  actions = egtea.build(str(tmp_path), split=1)
  assert actions.class_names == ['Inspect/Read recipe', 'Open fridge']
  assert [s.videos for s in actions.splits] == [
      [(f'OP01-R01-PastaSalad/{clip}.mp4', 'Open fridge')],
      [(f'P20-R03-BaconAndEggs/{other}.mp4', 'Inspect/Read recipe')]]
  nouns = egtea.build(str(tmp_path), split=1, label='noun')
  assert [s.videos[0][1] for s in nouns.splits] == ['fridge', 'recipe']


def test_a_split_with_no_video_on_disk_names_the_likely_cause(tmp_path):
  _files(tmp_path, {
      'testTrainMulti_7030_splits/run_test_split1.txt': 'a.avi 1 \nb.avi 2 \n',
      'hmdb51_org/run/other.avi': b'x',
  })
  with pytest.raises(recipe_lib.RecipeError,
                     match=r"split 'train': none of its 1 listed videos is on disk"):
    hmdb51.build(str(tmp_path), split=1)
