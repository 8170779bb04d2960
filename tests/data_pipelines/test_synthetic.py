"""The synthetic motion dataset: deterministic, motion-defined, real TV-L1."""

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from data_pipelines import schema
from data_pipelines import synthetic
from data_pipelines import tf_setup

tf_setup.hide_accelerators()


def test_rendering_is_deterministic_per_seed():
  opts = synthetic.RenderOptions(num_frames=4)
  a = synthetic.render_video('right', synthetic.video_rng(0, 'train', 3),
                             opts)
  b = synthetic.render_video('right', synthetic.video_rng(0, 'train', 3),
                             opts)
  c = synthetic.render_video('right', synthetic.video_rng(1, 'train', 3),
                             opts)
  assert a.shape == (4, 32, 32, 3) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  assert np.abs(a.astype(int) - c).mean() > 10


def test_appearance_does_not_depend_on_class():
  # The same per-video random stream gives the same middle frame whatever
  # the motion class: appearance is drawn independently of the label, only
  # the motion around that frame differs.
  opts = synthetic.RenderOptions(num_frames=5, noise_std=0)
  videos = [synthetic.render_video(m, np.random.default_rng(7), opts)
            for m in synthetic.MOTIONS]
  for video in videos[1:]:
    np.testing.assert_array_equal(video[2], videos[0][2])
    assert np.abs(video[0].astype(int) - videos[0][0]).max() > 0


def test_scene_cue_paints_the_background_in_the_class_colours():
  # scene_cue=1 and camouflage=1: every surface uses the class's colour pair, so
  # each video's mean colour is nearest to its own class's palette.
  opts = synthetic.RenderOptions(num_frames=3, scene_cue=1.0, camouflage=1.0)
  palette_means = np.array([synthetic.class_palette(m).mean(0) for m in synthetic.MOTIONS])
  for index, motion in enumerate(synthetic.MOTIONS):
    video = synthetic.render_video(motion, np.random.default_rng(index), opts)
    mean_colour = video.reshape(-1, 3).mean(0)
    nearest = np.argmin(np.linalg.norm(palette_means - mean_colour, axis=1))
    assert synthetic.MOTIONS[nearest] == motion


def test_generated_records_are_deterministic_and_flow_follows_motion(
    synthetic_dir, tmp_path):
  with open(os.path.join(synthetic_dir, 'manifest.json')) as f:
    manifest = json.load(f)
  assert manifest['label_map'] == ['down', 'left', 'right', 'up']
  assert manifest['splits']['train']['num_written'] == 12
  assert manifest['splits']['test']['num_written'] == 8
  assert manifest['splits']['train']['synthetic']['flip_changes_class']

  files = sorted(tf.io.gfile.glob(os.path.join(synthetic_dir,
                                               'train-*.tfrecord')))
  assert len(files) == 3
  mean_flow = {}
  for record in tf.data.TFRecordDataset(files):
    r = schema.read_sequence_example(record.numpy())
    name = r[schema.LABEL_STRING_KEY].decode()
    flow = np.stack([schema.decode_flow_jpeg(j) for j in r[schema.FLOW_KEY]])
    moving = np.linalg.norm(flow, axis=-1) > 0.3
    mean_flow.setdefault(name, []).append(flow[moving].mean(0))
  for name, (dx, dy) in {'right': (1, 0), 'left': (-1, 0), 'up': (0, -1),
                         'down': (0, 1)}.items():
    m = np.mean(mean_flow[name], axis=0)
    # Stored TV-L1 flow points the way the objects move (> 0.3 px/frame).
    assert np.dot(m, [dx, dy]) > 0.3, (name, m)

  # Same seed, same sizes -> byte-identical records.
  again = str(tmp_path / 'again')
  synthetic.generate_dataset(
      again, num_classes=4, videos_per_class={'train': 3, 'test': 2},
      num_frames=8, height=32, width=32, seed=0,
      num_shards={'train': 3, 'test': 2}, workers=1, splits=('train',),
      show_progress=False)
  for name in os.listdir(again):
    if name.endswith('.tfrecord'):
      with open(os.path.join(again, name), 'rb') as f1, open(
          os.path.join(synthetic_dir, name), 'rb') as f2:
        assert f1.read() == f2.read(), name


def test_tfds_builder_loads_offline(tmp_path):
  from data_pipelines import tfds_synthetic  # pylint: disable=unused-import
  ds, info = tfds.load('synthetic_motion/tiny', split='train',
                       data_dir=str(tmp_path), with_info=True)
  assert info.splits['train'].num_examples == 8
  assert info.features['label'].names == ['down', 'left', 'right', 'up']
  example = next(iter(ds))
  assert example['video'].shape == (8, 32, 32, 3)
  assert example['video'].dtype == tf.uint8


def test_the_cli_reports_what_it_wrote_without_tfrecords(tmp_path):
  # --notfrecords --write_videos writes 2 classes x (1 train + 1 test) videos and no
  # records; the summary line says so (it used to say "wrote 0 videos").
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run(
      [sys.executable, "-m", "data_pipelines.synthetic", f"--output_dir={tmp_path}",
       "--num_classes=2", "--train_videos_per_class=1", "--test_videos_per_class=1",
       "--num_frames=4", "--height=16", "--width=16", "--workers=1", "--notfrecords",
       "--write_videos", "--flow=none"],
      cwd=repo, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=repo))
  assert result.returncode == 0, result.stderr[-2000:]
  assert "wrote 0 TFRecord examples and 4 video files" in result.stderr
  videos = sorted(p.name for p in (tmp_path / "videos").rglob("*.mp4"))
  assert len(videos) == 4 and not list(tmp_path.glob("*.tfrecord"))
