"""The video -> TFRecord tool, end to end on .mp4 files from the generator."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines import label_map
from data_pipelines import schema
from data_pipelines import synthetic
from data_pipelines import write_tfrecords

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def video_folder(tmp_path_factory):
  """CLASS/VIDEO.mp4 for 3 classes x 2 videos, plus a corrupt video and a
  non-video file."""
  out = str(tmp_path_factory.mktemp('videos'))
  result = synthetic.generate_dataset(
      out, num_classes=3, videos_per_class=2, num_frames=8, height=32,
      width=32, splits=('train',), write_tfrecords_files=False,
      write_videos=True)
  root = os.path.join(result['videos_dir'], 'train')
  with open(os.path.join(root, 'left', 'corrupt.mp4'), 'wb') as f:
    f.write(b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 100)
  with open(os.path.join(root, 'right', 'notes.txt'), 'w') as f:
    f.write('not a video')
  return root


def _run_tool(*args):
  cmd = [sys.executable, '-m', 'data_pipelines.write_tfrecords', *args]
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                        timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def _tfrecords(directory):
  return sorted(f for f in os.listdir(directory) if f.endswith('.tfrecord'))


def test_tool_on_folder_writes_shards_label_map_manifest_and_resumes(
    video_folder, tmp_path):
  out = str(tmp_path / 'records')
  args = [f'--input={video_folder}', f'--output_dir={out}', '--split=train',
          '--num_shards=2', '--fps=25', '--min_resize=32', '--workers=2',
          '--tvl1_nscales=3', '--tvl1_warps=1']
  proc = _run_tool(*args)
  assert 'ETA' in proc.stderr  # the progress bar
  assert _tfrecords(out) == ['train-00000-of-00002.tfrecord',
                             'train-00001-of-00002.tfrecord']
  assert label_map.read_label_map(os.path.join(out, 'label_map.txt')) == [
      'left', 'right', 'up']
  with open(os.path.join(out, 'manifest.json')) as f:
    manifest = json.load(f)
  entry = manifest['splits']['train']
  assert manifest['tool'] == 'data_pipelines.write_tfrecords'
  assert manifest['version'] and manifest['label_map'] == ['left', 'right',
                                                           'up']
  assert entry['num_written'] == 6
  assert entry['counts_per_class'] == {'left': 2, 'right': 2, 'up': 2}
  assert sum(entry['shards'].values()) == 6
  assert entry['options']['fps'] == 25 and entry['options']['flow'] == 'tvl1'
  assert entry['options']['tvl1']['nscales'] == 3
  skipped = {os.path.basename(s['source']): s['reason']
             for s in entry['skipped']}
  assert set(skipped) == {'corrupt.mp4', 'notes.txt'}
  assert 'corrupt.mp4' in skipped['corrupt.mp4']  # reason names the file
  assert 'extension' in skipped['notes.txt']

  # Records: one JPEG per frame, flow has one frame fewer, labels by map.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  names = manifest['label_map']
  for record in tf.data.TFRecordDataset(
      [os.path.join(out, f) for f in _tfrecords(out)]):
    r = schema.read_sequence_example(record.numpy())
    assert len(r[schema.FLOW_KEY]) == len(r[schema.RGB_KEY]) - 1 == 7
    assert names[r[schema.LABEL_INDEX_KEY]] == r[
        schema.LABEL_STRING_KEY].decode()
    assert schema.decode_rgb_jpeg(r[schema.RGB_KEY][0]).shape == (32, 32, 3)

  # Re-running skips finished shards (files untouched).
  mtimes = {f: os.stat(os.path.join(out, f)).st_mtime_ns
            for f in _tfrecords(out)}
  _run_tool(*args)
  with open(os.path.join(out, 'manifest.json')) as f:
    entry = json.load(f)['splits']['train']
  assert entry['resumed_shards'] == 2 and entry['num_written'] == 6
  assert {f: os.stat(os.path.join(out, f)).st_mtime_ns
          for f in _tfrecords(out)} == mtimes


def test_interrupted_run_redoes_only_missing_shards(video_folder, tmp_path):
  out = str(tmp_path / 'records')
  sources, skipped = write_tfrecords.find_videos_in_folder(video_folder)
  options = write_tfrecords.EncodeOptions(min_resize=32, flow='none')
  names = label_map.load_or_create(os.path.join(out, 'label_map.txt'),
                                   {s.label for s in sources})
  kwargs = dict(output_dir=out, split='test', class_names=names,
                num_shards=3, options=options, workers=1,
                pre_skipped=skipped, show_progress=False)
  write_tfrecords.write_split(sources, **kwargs)
  shards = _tfrecords(out)
  # Simulate a crash while writing shard 1: final file gone, temp left.
  os.rename(os.path.join(out, shards[1]),
            os.path.join(out, shards[1] + '.tmp-12345'))
  kept = os.stat(os.path.join(out, shards[0])).st_mtime_ns
  entry = write_tfrecords.write_split(sources, **kwargs)
  assert entry['resumed_shards'] == 2
  assert _tfrecords(out) == shards
  assert not [f for f in os.listdir(out) if '.tmp-' in f]
  assert os.stat(os.path.join(out, shards[0])).st_mtime_ns == kept
  assert entry['modalities'] == ['rgb'] and entry['num_written'] == 6
  # A different input list must not silently reuse finished shards.
  with pytest.raises(FileExistsError, match='different input list'):
    write_tfrecords.write_split(sources[:-1], **kwargs)


def test_csv_input_and_label_map_reuse(video_folder, tmp_path):
  videos = sorted(
      os.path.join(c, f) for c in os.listdir(video_folder)
      for f in os.listdir(os.path.join(video_folder, c)) if f.startswith(
          'train_'))
  csv_path = tmp_path / 'list.csv'
  csv_path.write_text('path,label,start,end\n' + ''.join(
      f'{v},{v.split(os.sep)[0]},0,0.2\n' for v in videos))
  sources = write_tfrecords.read_csv(str(csv_path), video_folder)
  assert len(sources) == 6 and sources[0].end_sec == 0.2
  assert '@0.0-0.2' in sources[0].video_id
  frames = sources[0].load_frames(write_tfrecords.EncodeOptions(
      min_resize=0)).frames
  assert frames.shape[0] == 5  # 0.2 s at 25 fps
  # An existing label map is reused; a class outside it is an error.
  map_path = str(tmp_path / 'label_map.txt')
  label_map.write_label_map(map_path, ['left', 'right', 'up', 'zoom'])
  assert label_map.load_or_create(map_path, {'up', 'left'}) == [
      'left', 'right', 'up', 'zoom']
  with pytest.raises(label_map.LabelMapError, match='jump'):
    label_map.load_or_create(map_path, {'up', 'jump'})


def test_plan_shards_is_deterministic_and_balanced():
  ids = [f'v{i}' for i in range(10)]
  plan = write_tfrecords.plan_shards(ids, 3, seed=0)
  assert plan == write_tfrecords.plan_shards(ids, 3, seed=0)
  assert sorted(i for shard in plan for i in shard) == list(range(10))
  assert sorted(len(s) for s in plan) == [3, 3, 4]
  assert np.any([plan != write_tfrecords.plan_shards(ids, 3, seed=1)])


def test_machines_write_disjoint_shards_and_the_last_writes_the_manifest(
    video_folder, tmp_path):
  sources, _ = write_tfrecords.find_videos_in_folder(video_folder)
  options = write_tfrecords.EncodeOptions(min_resize=32, flow='none')
  names = sorted({s.label for s in sources})  # The label map, fixed up front.
  kwargs = dict(split='train', class_names=names, num_shards=3, options=options,
                show_progress=False)
  out = tmp_path / 'machines'
  first = write_tfrecords.write_split(sources, output_dir=str(out), shard_index=0,
                                      num_workers=2, **kwargs)
  assert _tfrecords(out) == ['train-00000-of-00003.tfrecord',
                             'train-00002-of-00003.tfrecord']
  assert first['complete'] is False and first['shards_complete'] == 2
  assert not (out / 'manifest.json').exists()
  last = write_tfrecords.write_split(sources, output_dir=str(out), shard_index=1,
                                     num_workers=2, **kwargs)
  assert _tfrecords(out) == ['train-00000-of-00003.tfrecord',
                             'train-00001-of-00003.tfrecord',
                             'train-00002-of-00003.tfrecord']
  assert last['num_written'] == 6 and last['resumed_shards'] == 0
  assert write_tfrecords.read_manifest(out)['splits']['train']['num_written'] == 6
  # Same shards, byte for byte, as one machine writing everything.
  single = tmp_path / 'single'
  write_tfrecords.write_split(sources, output_dir=str(single), **kwargs)
  for shard in _tfrecords(single):
    assert (single / shard).read_bytes() == (out / shard).read_bytes()


@pytest.mark.parametrize('num_shards, shard_index, num_workers, message', [
    (4, 2, 2, r'--shard_index=2 must be in \[0, --num_workers=2\)'),
    (2, 0, 3, '--num_shards=2 < --num_workers=3'),
])
def test_bad_machine_sharding_is_a_clear_error(num_shards, shard_index,
                                               num_workers, message):
  with pytest.raises(ValueError, match=message):
    write_tfrecords.machine_shards(num_shards, shard_index, num_workers)
