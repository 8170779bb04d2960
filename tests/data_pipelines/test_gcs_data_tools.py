"""The data tools with every path on gs://, read back by the input pipeline.

A local GCS (gcp-storage-emulator, the `gcs` fixture of tests/conftest.py)
serves one bucket. The synthetic generator writes records, label map,
manifest, shard status and .mp4 videos to it; the video tool (its command
line, as a user runs it) converts those videos from a gs:// folder into a
gs:// output_dir; a gs:// CSV is read; an interrupted gs:// run resumes; the
tf.data pipeline trains and evaluates from both gs:// data dirs. Nothing in
the code under test knows about the emulator: TensorFlow's GCS filesystem
(epath's backend here, and tf.data's reader) reaches it through libcurl's
proxy and CA variables.
"""

import json
import os
import subprocess
import sys

from etils import epath
import numpy as np
import pytest

from data_pipelines import input_config
from data_pipelines import input_pipeline
from data_pipelines import label_map
from data_pipelines import synthetic
from data_pipelines import video_io
from data_pipelines import write_tfrecords

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TINY = dict(num_classes=2, num_frames=6, height=16, width=16, seed=0,
            workers=1, show_progress=False)


def _config(data_dir, **overrides):
  c = input_config.get_input_config()
  c.data_dir = data_dir
  c.update(dict(num_frames=4, stride=1, min_resize=0, crop_size=16,
                batch_size=2, eval_batch_size=2, shuffle_buffer=4,
                deterministic=True, prefetch=1, random_flip=False))
  c.update(overrides)
  return c


def _read_back(data_dir, train_split, eval_split, num_eval_videos):
  """One training batch and a full eval pass through input_pipeline."""
  c = _config(data_dir, train_split=train_split, eval_split=eval_split)
  info = input_pipeline.dataset_info(c)
  assert info.class_names == ('left', 'right')
  assert info.label_map_path == f'{data_dir}/label_map.txt'
  assert all(f.startswith(f'{data_dir}/') for fs in info.files.values()
             for f in fs)
  batch = next(iter(input_pipeline.make_train_dataset(
      c, process_index=0, process_count=1)))
  assert batch['rgb'].shape == (2, 4, 16, 16, 3)
  assert batch['flow'].shape == (2, 4, 16, 16, 2)
  seen = []
  for b in input_pipeline.make_eval_dataset(c, process_index=0,
                                            process_count=1):
    seen += b['video_index'].numpy()[b['mask'].numpy()].tolist()
  assert sorted(seen) == list(range(num_eval_videos))
  return info


def test_synthetic_and_video_tool_write_to_gcs_and_the_pipeline_reads_back(
    gcs, tmp_path):
  bucket, list_objects = gcs

  # The generator: records + label map + manifest + status + videos on gs://.
  synth = f'{bucket}/synth'
  result = synthetic.generate_dataset(
      synth, videos_per_class={'train': 2, 'test': 1},
      num_shards={'train': 2, 'test': 1}, write_videos=True, **TINY)
  assert result['label_map'] == f'{synth}/label_map.txt'
  assert result['videos_dir'] == f'{synth}/videos'
  objects = set(list_objects('synth/'))
  assert {'synth/label_map.txt', 'synth/manifest.json',
          'synth/train-00000-of-00002.tfrecord',
          'synth/train-00001-of-00002.tfrecord',
          'synth/test-00000-of-00001.tfrecord',
          'synth/.write_tfrecords/train-00001-of-00002.tfrecord.json',
          'synth/videos/train/left/train_00001_left.mp4',
          'synth/videos/test/right/test_00000_right.mp4'} <= objects
  assert not [o for o in objects if '.tmp-' in o]
  # A re-run finds every shard complete from the status files on gs://.
  again = synthetic.generate_dataset(
      synth, videos_per_class={'train': 2, 'test': 1},
      num_shards={'train': 2, 'test': 1}, **TINY)
  assert [again['splits'][s]['resumed_shards'] for s in ('train', 'test')] == [
      2, 1]
  _read_back(synth, 'train', 'test', num_eval_videos=2)

  # The video tool's command line: a gs:// folder of videos (one corrupt)
  # into a gs:// output_dir.
  videos = epath.Path(f'{synth}/videos/train')
  (videos / 'left' / 'corrupt.mp4').write_bytes(
      b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 100)
  out = f'{bucket}/tfr'
  proc = subprocess.run(
      [sys.executable, '-m', 'data_pipelines.write_tfrecords',
       f'--input={videos}', f'--output_dir={out}', '--split=train',
       '--num_shards=2', '--workers=1', '--min_resize=16', '--progress=false',
       '--tvl1_nscales=1', '--tvl1_warps=1'],
      cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'see {out}/manifest.json' in proc.stderr
  assert not os.path.exists(os.path.join(REPO, 'gs:'))  # os.path.abspath(URL)
  manifest = json.loads(epath.Path(f'{out}/manifest.json').read_text())
  entry = manifest['splits']['train']
  assert manifest['label_map'] == ['left', 'right']
  assert entry['num_written'] == 4 and entry['resumed_shards'] == 0
  assert entry['counts_per_class'] == {'left': 2, 'right': 2}
  corrupt = f'{bucket}/synth/videos/train/left/corrupt.mp4'
  (skip,) = entry['skipped']
  assert skip['source'] == corrupt
  # The reason names the gs:// path, not the local copy PyAV opened.
  assert skip['reason'].startswith(f'{corrupt}: cannot open')
  assert label_map.read_label_map(f'{out}/label_map.txt') == ['left', 'right']
  assert {o for o in list_objects('tfr/') if not o.endswith('/')} == {
      'tfr/label_map.txt', 'tfr/manifest.json',
      'tfr/train-00000-of-00002.tfrecord', 'tfr/train-00001-of-00002.tfrecord',
      'tfr/.write_tfrecords/train-00000-of-00002.tfrecord.json',
      'tfr/.write_tfrecords/train-00001-of-00002.tfrecord.json'}
  info = _read_back(out, 'train', 'train', num_eval_videos=4)
  assert info.num_examples == {'train': 4}

  # An interrupted gs:// run: shard 1 never got past its temporary name.
  shard = epath.Path(f'{out}/train-00001-of-00002.tfrecord')
  shard.rename(f'{shard}.tmp-12345')
  sources, skipped = write_tfrecords.find_videos_in_folder(videos)
  kwargs = dict(output_dir=out, split='train', class_names=['left', 'right'],
                num_shards=2, pre_skipped=skipped, show_progress=False,
                options=write_tfrecords.EncodeOptions(min_resize=16))
  entry = write_tfrecords.write_split(sources, **kwargs)
  assert entry['resumed_shards'] == 1 and entry['num_written'] == 4
  assert shard.exists()
  assert not [o for o in list_objects('tfr/') if '.tmp-' in o]
  with pytest.raises(FileExistsError, match='different input list'):
    write_tfrecords.write_split(sources[:-1], **kwargs)

  # A CSV on gs:// with paths relative to it; the video is downloaded to decode.
  epath.Path(f'{synth}/videos/list.csv').write_text(
      'path,label\ntrain/left/train_00001_left.mp4,left\n')
  (source,) = write_tfrecords.read_csv(f'{synth}/videos/list.csv')
  assert source.path == f'{synth}/videos/train/left/train_00001_left.mp4'
  assert source.video_id == 'train/left/train_00001_left'
  frames = source.load_frames(write_tfrecords.EncodeOptions(min_resize=0))
  assert frames.frames.shape == (6, 16, 16, 3)
  local = tmp_path / 'copy.mp4'  # The same bytes, decoded from a local file.
  epath.Path(source.path).copy(local)
  np.testing.assert_array_equal(
      frames.frames, video_io.decode_video(local, min_resize=0).frames)
