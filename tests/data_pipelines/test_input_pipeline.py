"""The tf.data pipeline: shapes, shared augmentation, host sharding, eval
views and padding, bad input, determinism, TFDS adapter."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import input_config
from data_pipelines import input_pipeline
from data_pipelines import spatial_transforms
from tests.data_pipelines import records


def _config(data_dir, **overrides):
  c = input_config.get_input_config()
  c.data_dir = str(data_dir)
  c.update(dict(num_frames=4, stride=1, min_resize=0, crop_size=16,
                batch_size=4, eval_batch_size=4, shuffle_buffer=16,
                deterministic=True, prefetch=1))
  c.update(overrides)
  return c


def _batches(ds, n):
  return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


# ---------------------------------------------------------------------------
# Output contract.


def test_train_batches_from_synthetic_records(synthetic_dir):
  c = _config(synthetic_dir, num_frames=6, crop_size=28, batch_size=8,
              random_flip=False)
  info = input_pipeline.dataset_info(c)
  assert info.class_names == ('down', 'left', 'right', 'up')
  assert info.num_classes == 4 and info.modalities == ('rgb', 'flow')
  assert info.num_examples == {'train': 12, 'test': 8}
  assert info['num_classes'] == 4
  ds = input_pipeline.make_train_dataset(c, process_index=0, process_count=1)
  spec = ds.element_spec
  assert set(spec) == {'rgb', 'flow', 'label'}
  assert spec['rgb'].shape == (8, 6, 28, 28, 3)
  assert spec['flow'].shape == (8, 6, 28, 28, 2)
  assert spec['rgb'].dtype == spec['flow'].dtype == tf.float32
  assert spec['label'].dtype == tf.int32
  batches = _batches(ds, 3)  # more than one epoch of 12 videos: repeats
  for b in batches:
    assert -1 <= b['rgb'].min() and b['rgb'].max() <= 1
    assert -1 <= b['flow'].min() and b['flow'].max() <= 1
  # Moving-right objects have positive stored flow x; a flip negates it.
  right = info.class_names.index('right')
  b = batches[0]
  flow = b['flow'][b['label'] == right]
  assert len(flow)
  moving = np.linalg.norm(flow, axis=-1) > 0.3 / 20
  assert flow[..., 0][moving].mean() > 0.3 / 20  # > 0.3 px per frame
  flipped = spatial_transforms.flip_left_right(
      tf.constant(flow), spatial_transforms.ChannelLayout(False, True)).numpy()
  np.testing.assert_array_equal(flipped[..., 0], -flow[:, :, :, ::-1, 0])
  np.testing.assert_array_equal(flipped[..., 1], flow[:, :, :, ::-1, 1])
  assert flipped[..., 0][moving[:, :, :, ::-1]].mean() < -0.3 / 20


def test_deterministic_mode_reproduces_batches(synthetic_dir):
  def first(seed):
    c = _config(synthetic_dir, seed=seed, color_jitter_prob=0.5,
                multi_scale_crop=True, min_resize=32, crop_size=24)
    return _batches(input_pipeline.make_train_dataset(
        c, process_index=0, process_count=1), 2)
  a, b, other = first(0), first(0), first(1)
  for x, y in zip(a, b):
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])
  assert not np.array_equal(a[0]['rgb'], other[0]['rgb'])


@pytest.mark.parametrize('skip_bad_examples', [False, True])
def test_skipping_batches_resumes_the_uninterrupted_stream(synthetic_dir,
                                                           skip_bad_examples):
  c = _config(synthetic_dir, color_jitter_prob=0.5, multi_scale_crop=True,
              min_resize=32, crop_size=24, skip_bad_examples=skip_bad_examples)
  # 12 train videos, batch 4: skipping 4 batches crosses an epoch boundary.
  uninterrupted = _batches(input_pipeline.make_train_dataset(
      c, process_index=0, process_count=1), 6)
  resumed = _batches(input_pipeline.make_train_dataset(
      c, process_index=0, process_count=1, skip_batches=4), 2)
  for x, y in zip(uninterrupted[4:], resumed):
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


# ---------------------------------------------------------------------------
# RGB and flow share the temporal window, the crop and the flip.


def _ramp_video(t=10, h=40, w=48):
  """RGB: R = 20 t, G = 5 x, B = 5 y. Flow (px): x = (x - 24) / 4,
  y = (t - 5) + (y - 20) / 10. Both encode where (t, x, y) came from."""
  tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w),
                           indexing='ij')
  rgb = np.stack([20 * tt, 5 * xx, 5 * yy], -1).astype(np.uint8)
  flow = np.stack([(xx - 24) / 4, (tt - 5) + (yy - 20) / 10],
                  -1)[:-1].astype(np.float32)
  return rgb, flow


def test_rgb_and_flow_share_window_crop_and_flip(tmp_path):
  rgb, flow = _ramp_video()
  records.write_label_map(tmp_path, 1)
  records.write_records(tmp_path / 'train-00000-of-00001.tfrecord',
                        [records.video_example('v', 0, rgb, flow)])
  c = _config(tmp_path, num_frames=4, stride=2, crop_size=24, batch_size=16,
              eval_split='train')
  b = _batches(input_pipeline.make_train_dataset(c, process_index=0,
                                                 process_count=1), 1)[0]
  flips = []
  for clip_rgb, clip_flow in zip(b['rgb'], b['flow']):
    stored = (clip_rgb + 1) * 127.5  # back to 0..255
    t_rgb = stored[..., 0].mean(axis=(1, 2)) / 20
    x_src = stored[0, :, :, 1].mean(axis=0) / 5  # per output column
    y_src = stored[0, :, :, 2].mean(axis=1) / 5  # per output row
    flipped = x_src[-1] < x_src[0]
    flips.append(flipped)
    # Temporal window: same frame indices, stride 2, wrapping at the 9
    # frames that have flow.
    px = clip_flow * 20
    t_flow = px[..., 1].mean(axis=(1, 2)) - (y_src.mean() - 20) / 10 + 5
    np.testing.assert_allclose(t_rgb, t_flow, atol=0.25)
    steps = np.round(t_rgb).astype(int)
    assert all((steps[i + 1] - steps[i]) % 9 == 2 for i in range(3))
    # Crop and flip: flow at output column j belongs to RGB's source
    # column x_src[j]; flow x is negated when the clip is flipped.
    expected_x = (x_src - 24) / 4 * (-1 if flipped else 1)
    np.testing.assert_allclose(px[0, :, :, 0].mean(axis=0), expected_x,
                               atol=0.35)
    expected_y_part = (y_src - 20) / 10
    measured_y_part = px[0, :, :, 1].mean(axis=1) - px[0, :, :, 1].mean()
    np.testing.assert_allclose(measured_y_part,
                               expected_y_part - expected_y_part.mean(),
                               atol=0.35)
  assert any(flips) and not all(flips)


# ---------------------------------------------------------------------------
# Hosts read disjoint data that covers the split.


def _labelled_files(data_dir, split, labels_per_file, num_classes, t=3):
  rng = np.random.default_rng(0)
  records.write_label_map(data_dir, num_classes)
  n = len(labels_per_file)
  for k, labels in enumerate(labels_per_file):
    examples = []
    for label in labels:
      rgb, flow = records.random_video(rng, t=t, h=16, w=16)
      examples.append(records.video_example(f'{split}{label}', label, rgb,
                                            flow))
    records.write_records(data_dir / f'{split}-{k:05d}-of-{n:05d}.tfrecord',
                          examples)


@pytest.mark.parametrize('labels_per_file', [
    [[0, 1], [2, 3], [4, 5], [6, 7]],  # file-level sharding
    [[0, 1, 2, 3, 4, 5, 6, 7]],  # fewer files than hosts: example-level
], ids=['file_level', 'example_level'])
def test_train_hosts_read_disjoint_data_covering_the_split(tmp_path,
                                                           labels_per_file):
  _labelled_files(tmp_path, 'train', labels_per_file, 8)
  c = _config(tmp_path, num_frames=2, batch_size=4, eval_split='train')
  seen = []
  for host in range(2):
    ds = input_pipeline.make_train_dataset(c, process_index=host,
                                           process_count=2)
    batches = _batches(ds, 6)  # 12 clips = 3 epochs of this host's 4
    assert all(b['label'].shape == (2,) for b in batches)  # host batch
    seen.append(set(np.concatenate([b['label'] for b in batches]).tolist()))
  assert not seen[0] & seen[1]
  assert seen[0] | seen[1] == set(range(8))


@pytest.mark.parametrize('labels_per_file', [
    [[0, 1], [2, 3], [4]],
    [[0, 1, 2, 3, 4]],
], ids=['file_level', 'example_level'])
def test_eval_views_and_padding_count_each_video_once(tmp_path,
                                                      labels_per_file):
  # The label of each video is its global index, so rows can be checked.
  _labelled_files(tmp_path, 'test', labels_per_file, 5, t=6)
  _labelled_files(tmp_path, 'train', [[0]], 5)
  c = _config(tmp_path, num_frames=3, num_test_clips=2, num_test_crops=3,
              eval_batch_size=8, min_resize=16, crop_size=12)
  num_views = 6
  counts = collections.Counter()
  num_batches = []
  for host in range(2):
    ds = input_pipeline.make_eval_dataset(c, process_index=host,
                                          process_count=2)
    batches = _batches(ds, 100)
    num_batches.append(len(batches))
    for b in batches:
      assert b['rgb'].shape == (4, 3, 12, 12, 3)
      assert b['flow'].shape == (4, 3, 12, 12, 2)
      assert b['mask'].dtype == bool
      for vi, wi, m, label in zip(b['video_index'], b['view_index'],
                                  b['mask'], b['label']):
        if m:
          assert vi == label
          counts[(vi, wi)] += 1
        else:
          assert vi == -1 and wi == -1
  assert num_batches[0] == num_batches[1] == input_pipeline.eval_num_batches(
      c, process_count=2)
  assert counts == {(v, w): 1 for v in range(5) for w in range(num_views)}


def test_three_crops_and_linspace_clips(tmp_path):
  rgb, flow = _ramp_video(t=10, h=24, w=48)
  records.write_label_map(tmp_path, 1)
  for split in ('train', 'test'):
    records.write_records(tmp_path / f'{split}-00000-of-00001.tfrecord',
                          [records.video_example('v', 0, rgb, flow)])
  c = _config(tmp_path, num_frames=2, stride=1, num_test_clips=3,
              num_test_crops=3, crop_size=24, eval_batch_size=9)
  b = _batches(input_pipeline.make_eval_dataset(c, process_index=0,
                                                process_count=1), 9)
  assert len(b) == 1
  stored = (b[0]['rgb'] + 1) * 127.5
  first_t = np.round(stored[:, 0, ..., 0].mean(axis=(1, 2)) / 20)
  first_x = np.round(stored[:, 0, 0, 0, 1] / 5)
  assert b[0]['view_index'].tolist() == list(range(9))
  # Views are clip-major: clips start at frames 0, 4, 7 (linspace over the
  # 9 frames with flow), crops at x = 0, 12, 24 (left, centre, right).
  assert first_t.tolist() == [0, 0, 0, 4, 4, 4, 7, 7, 7]
  assert first_x.tolist() == [0, 12, 24] * 3


# ---------------------------------------------------------------------------
# Bad input: a named error, or a counted skip.


def _good(rng, label):
  return records.video_example(f'good{label}', label,
                               *records.random_video(rng, t=4, h=16, w=16))


def _bad_record(kind, rng):
  if kind == 'missing_key':
    ex = _good(rng, 0)
    del ex.feature_lists.feature_list['image/encoded']
    return ex
  if kind == 'label':
    return _good(rng, 7)
  if kind == 'jpeg':
    ex = _good(rng, 2)
    for f in ex.feature_lists.feature_list['image/encoded'].feature:
      f.bytes_list.value[0] = f.bytes_list.value[0][:-30]
    return ex
  raise ValueError(kind)


def _bad_dataset(data_dir, kind):
  """train-00000: good(0), BAD, good(1); or, for kind 'truncated', the last
  of 3 good records cut short. test-00000: good records."""
  rng = np.random.default_rng(0)
  records.write_label_map(data_dir, 3)
  path = data_dir / 'train-00000-of-00001.tfrecord'
  if kind == 'truncated':
    records.write_records(path, [_good(rng, i) for i in range(3)])
    path.write_bytes(path.read_bytes()[:-40])
  else:
    records.write_records(path, [_good(rng, 0), _bad_record(kind, rng),
                                 _good(rng, 1)])
  records.write_records(data_dir / 'test-00000-of-00001.tfrecord',
                        [_good(rng, 0), _good(rng, 1)])
  return path


@pytest.mark.parametrize('kind,field,expected', [
    ('missing_key', 'image/encoded', 'missing or empty feature list'),
    ('label', 'clip/label/index', 'label 7 is outside [0, 3)'),
    ('jpeg', 'image/encoded', 'is not a complete JPEG'),
    ('truncated', 'TFRecord framing', 'truncated or corrupt record after 2'),
])
def test_bad_records_raise_errors_naming_file_and_field(tmp_path, kind, field,
                                                        expected):
  path = _bad_dataset(tmp_path, kind)
  c = _config(tmp_path, num_frames=2, batch_size=1)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    list(input_pipeline.make_train_dataset(c, process_index=0,
                                           process_count=1).take(10))
  message = str(error.value)
  assert str(path) in message and f'field {field}' in message, message
  assert expected in message, message
  if kind == 'truncated':
    # Eval counts records up front: the same file and field, at build time.
    c.eval_split = 'train'
    with pytest.raises(ValueError, match='TFRecord framing'):
      input_pipeline.make_eval_dataset(c, process_index=0, process_count=1)


def _all_bad_dataset(data_dir):
  """train-00000: good(0), 3 bad records, good(1); train-00001: good(2),
  then a truncated record."""
  rng = np.random.default_rng(0)
  records.write_label_map(data_dir, 3)
  file1 = data_dir / 'train-00001-of-00002.tfrecord'
  records.write_records(
      data_dir / 'train-00000-of-00002.tfrecord',
      [_good(rng, 0)] + [_bad_record(k, rng) for k in ('missing_key', 'label',
                                                       'jpeg')]
      + [_good(rng, 1)])
  records.write_records(file1, [_good(rng, 2), _good(rng, 2)])
  file1.write_bytes(file1.read_bytes()[:-40])


def test_skip_bad_examples_counts_and_keeps_hosts_in_step(tmp_path):
  _all_bad_dataset(tmp_path)
  c = _config(tmp_path, num_frames=2, batch_size=2, eval_split='train',
              skip_bad_examples=True, eval_batch_size=2)
  ds = input_pipeline.make_train_dataset(c, process_index=0, process_count=1)
  labels = np.concatenate([b['label'] for b in _batches(ds, 8)])
  assert set(labels.tolist()) <= {0, 1, 2}  # never the out-of-range 7
  assert collections.Counter(labels.tolist())[2] >= 1
  # Eval: the 3 bad records of file 0 are masked out; of file 1 only the
  # record before the truncation is read.
  ds = input_pipeline.make_eval_dataset(c, process_index=0, process_count=1)
  rows = [(int(v), bool(m)) for b in _batches(ds, 100)
          for v, m in zip(b['video_index'], b['mask'])]
  assert {v for v, m in rows if m} == {0, 4, 5}
  assert {v for v, m in rows if not m and v >= 0} == {1, 2, 3}


def test_modalities_missing_from_records_fail_fast(tmp_path):
  rng = np.random.default_rng(0)
  records.write_label_map(tmp_path, 2)
  for split in ('train', 'test'):
    records.write_records(
        tmp_path / f'{split}-00000-of-00001.tfrecord',
        [records.video_example('v', 0, *records.random_video(
            rng, t=3, h=16, w=16, with_flow=False))])
  c = _config(tmp_path)
  with pytest.raises(ValueError, match=r'input\.modalities.*train-00000-of-'
                     r'00001\.tfrecord.*flow/encoded'):
    input_pipeline.make_train_dataset(c, process_index=0, process_count=1)
  c.modalities = ('rgb',)
  c.num_classes = 3
  with pytest.raises(ValueError, match=r'input\.num_classes is 3'):
    input_pipeline.dataset_info(c)
  c.num_classes = 2
  b = _batches(input_pipeline.make_train_dataset(
      c, process_index=0, process_count=1), 1)[0]
  assert set(b) == {'rgb', 'label'}
  c.data_dir = str(tmp_path / 'nowhere')
  with pytest.raises(ValueError, match='input.label_map'):
    input_pipeline.dataset_info(c)


# ---------------------------------------------------------------------------
# TFDS video datasets.


def test_tfds_adapter_reads_rgb_clips(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from data_pipelines import tfds_synthetic  # pylint: disable=unused-import,g-import-not-at-top
  tfds.builder('synthetic_motion/tiny',
               data_dir=str(tmp_path)).download_and_prepare()
  c = _config(tmp_path, source='tfds', tfds_name='synthetic_motion/tiny',
              tfds_data_dir=str(tmp_path), modalities=('rgb',),
              random_flip=False, eval_batch_size=2)
  info = input_pipeline.dataset_info(c)
  assert info.num_classes == 4 and info.modalities == ('rgb',)
  assert info.num_examples == {'train': 8, 'test': 4}
  b = _batches(input_pipeline.make_train_dataset(
      c, process_index=0, process_count=1), 1)[0]
  assert b['rgb'].shape == (4, 4, 16, 16, 3)
  seen = collections.Counter()
  for host in range(2):
    for b in _batches(input_pipeline.make_eval_dataset(
        c, process_index=host, process_count=2), 100):
      seen.update(int(v) for v, m in zip(b['video_index'], b['mask']) if m)
  assert seen == {i: 1 for i in range(4)}
