"""TV-L1 in JAX: each building block against a numpy / OpenCV reference, the
whole solver against OpenCV, zero flow, sign convention, and the writer."""

import json

import cv2
import jax.numpy as jnp
import numpy as np
import pytest

from data_pipelines import input_config
from data_pipelines import input_pipeline
from data_pipelines import label_map
from data_pipelines import schema
from data_pipelines import synthetic
from data_pipelines import tvl1
from data_pipelines import tvl1_jax
from data_pipelines import write_tfrecords
from tests.data_pipelines.test_tvl1 import _translating_texture

# Few levels and iterations so the solver compiles and runs in seconds; one
# parameter set and one frame size for all solver tests (one compilation).
SMALL = tvl1.TVL1Params(nscales=2, warps=2, inner_iterations=10,
                        outer_iterations=2)


def _smooth_image(h, w, seed=0):
  rng = np.random.default_rng(seed)
  return cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32),
                          (0, 0), 1.0)


# ---------------------------------------------------------------------------
# Finite differences: numpy loops written as tvl1flow.cpp states them.


def test_forward_gradient_is_the_next_pixel_minus_this_one_and_0_at_the_end():
  u = np.array([[1., 2., 4.], [0., 3., 9.]], np.float32)
  dx, dy = tvl1_jax.forward_gradient(jnp.asarray(u))
  np.testing.assert_array_equal(dx, [[1, 2, 0], [3, 6, 0]])
  np.testing.assert_array_equal(dy, [[-1, 1, 5], [0, 0, 0]])


def test_divergence_is_backward_differences_with_zero_before_the_first():
  v1 = np.array([[1., 2., 4.], [0., 3., 9.]], np.float32)
  v2 = np.array([[5., 1., 2.], [1., 1., 1.]], np.float32)
  div = tvl1_jax.divergence(jnp.asarray(v1), jnp.asarray(v2))
  # div = v1[x] - v1[x-1] + v2[y] - v2[y-1], with v[-1] = 0.
  np.testing.assert_array_equal(div, [[1 + 5, 1 + 1, 2 + 2],
                                      [0 - 4, 3 + 0, 6 - 1]])


def test_divergence_is_minus_the_adjoint_of_the_forward_gradient():
  rng = np.random.default_rng(0)
  u = rng.normal(size=(6, 7)).astype(np.float32)
  p1, p2 = rng.normal(size=(2, 6, 7)).astype(np.float32)
  p1[:, -1] = 0  # the dual variables are 0 where the gradient is
  p2[-1, :] = 0
  ux, uy = tvl1_jax.forward_gradient(jnp.asarray(u))
  div = tvl1_jax.divergence(jnp.asarray(p1), jnp.asarray(p2))
  np.testing.assert_allclose(np.sum(ux * p1 + uy * p2), -np.sum(u * div),
                             rtol=1e-5)


def test_centered_gradient_halves_central_and_one_sided_differences():
  a = np.array([[0., 1., 4., 9.], [2., 2., 2., 2.], [1., 0., 1., 0.]],
               np.float32)
  dx, dy = tvl1_jax.centered_gradient(jnp.asarray(a))
  np.testing.assert_array_equal(dx, [[0.5, 2, 4, 2.5], [0, 0, 0, 0],
                                     [-0.5, 0, 0, -0.5]])
  np.testing.assert_array_equal(dy, [[1, 0.5, -1, -3.5], [0.5, -0.5, -1.5,
                                                          -4.5],
                                     [-0.5, -1, -0.5, -1]])


# ---------------------------------------------------------------------------
# The thresholding step TH (IPOL Eq. 18).


def test_thresholding_step_takes_each_of_its_three_branches():
  l_t = 0.5
  i1wx = jnp.array([2., 2., 2., 0.])
  i1wy = jnp.array([0., 0., 0., 0.])
  grad = i1wx ** 2 + i1wy ** 2  # 4, 4, 4, 0
  u = (jnp.array([1., 1., 1., 1.]), jnp.array([3., 3., 3., 3.]))
  # rho = rho_c + 2 u1 = rho_c + 2: -10 (< -l_t grad = -2), +10 (> 2), 1.
  rho_c = jnp.array([-12., 8., -1., 5.])
  v1, v2 = tvl1_jax.estimate_v(i1wx, i1wy, grad, rho_c, u, 0.0, l_t)
  # below: u + l_t grad I; above: u - l_t grad I; inside: u - rho grad I /
  # |grad I|^2 = 1 - 1 * 2 / 4; flat image (|grad I|^2 = 0): u unchanged.
  np.testing.assert_array_equal(v1, [2., 0., 0.5, 1.])
  np.testing.assert_array_equal(v2, [3., 3., 3., 3.])


def test_thresholding_step_with_gamma_moves_the_illumination_variable():
  u = (jnp.array([0.]), jnp.array([0.]), jnp.array([0.]))
  v = tvl1_jax.estimate_v(jnp.array([1.]), jnp.array([0.]), jnp.array([1.]),
                          jnp.array([-10.]), u, 2.0, 0.5)
  # rho = -10 < -0.5: v = u + l_t (I_x, I_y, gamma).
  np.testing.assert_array_equal(np.concatenate(v), [0.5, 0., 1.0])


# ---------------------------------------------------------------------------
# Warping, pyramid and median filter against OpenCV's own functions.


def _numpy_remap_bicubic(img, mx, my, a=-0.75):
  """OpenCV's INTER_CUBIC remap with BORDER_CONSTANT 0, in plain numpy."""
  h, w = img.shape
  x0, y0 = np.floor(mx).astype(int), np.floor(my).astype(int)

  def weights(t):
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return [w0, w1, w2, 1 - w0 - w1 - w2]
  wx, wy = weights(mx - x0), weights(my - y0)
  out = np.zeros_like(img, dtype=np.float64)
  for j in range(4):
    for i in range(4):
      xs, ys = x0 + i - 1, y0 + j - 1
      inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
      tap = img[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
      out += np.where(inside, tap, 0) * wx[i] * wy[j]
  return out


@pytest.mark.parametrize('interpolation,cv_flag', [
    ('bicubic', cv2.INTER_CUBIC), ('bilinear', cv2.INTER_LINEAR)])
def test_warp_matches_opencv_remap_inside_and_across_the_border(
    interpolation, cv_flag):
  img = _smooth_image(13, 17)
  rng = np.random.default_rng(1)
  mx = (np.arange(17)[None] + rng.uniform(-3, 3, (13, 17))).astype(np.float32)
  my = (np.arange(13)[:, None] + rng.uniform(-3, 3, (13, 17))).astype(
      np.float32)
  ours = tvl1_jax.warp(jnp.asarray(img)[None], jnp.asarray(mx),
                       jnp.asarray(my), interpolation)[0]
  np.testing.assert_allclose(ours, cv2.remap(img, mx, my, cv_flag), atol=1e-3)
  if interpolation == 'bicubic':
    np.testing.assert_allclose(ours, _numpy_remap_bicubic(img, mx, my),
                               atol=1e-3)


def test_pyramid_sizes_follow_scale_step_and_stop_under_16_pixels():
  assert tvl1_jax.pyramid_sizes(37, 45, 5, 0.8) == [
      (37, 45), (30, 36), (24, 29), (19, 23)]  # next would be 15 x 18
  assert tvl1_jax.pyramid_sizes(256, 256, 5, 0.8) == [
      (256, 256), (205, 205), (164, 164), (131, 131), (105, 105)]


def test_pyramid_levels_match_opencv_resize():
  img = _smooth_image(37, 45)
  sizes = tvl1_jax.pyramid_sizes(37, 45, 5, 0.8)
  levels = tvl1_jax.build_pyramid(jnp.asarray(img), sizes, 0.8)
  expected = img
  for level in levels[1:]:
    expected = cv2.resize(expected, None, fx=0.8, fy=0.8,
                          interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(level, expected, atol=1e-3)


def test_flow_upsampling_matches_opencv_resize_and_scales_by_1_over_step():
  u = _smooth_image(24, 29) / 50
  ours = tvl1_jax.upsample_flow(jnp.asarray(u), (30, 36), 0.8)
  expected = cv2.resize(u, (36, 30), interpolation=cv2.INTER_LINEAR) / 0.8
  np.testing.assert_allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize('n', [9, 25])
def test_median_network_puts_the_median_in_the_middle(n):
  values = list(np.random.default_rng(0).normal(size=(n, 1000)))
  for i, j in tvl1_jax.median_network(n):
    values[i], values[j] = np.minimum(values[i], values[j]), np.maximum(
        values[i], values[j])
  np.testing.assert_array_equal(values[n // 2],
                                np.median(np.stack(values), axis=0))


def test_median_filter_matches_opencv_median_blur():
  img = _smooth_image(11, 14)
  np.testing.assert_array_equal(
      tvl1_jax.median_filter(jnp.asarray(img), 5), cv2.medianBlur(img, 5))


# ---------------------------------------------------------------------------
# The whole solver.


def test_solver_matches_opencv_with_reduced_iterations():
  frames = _translating_texture(dx=2, dy=-1)
  ours = tvl1_jax.compute_flow(frames, SMALL)
  reference = tvl1.compute_flow(frames, SMALL)
  epe = np.linalg.norm(ours - reference, axis=-1)
  # Measured: max 1e-5 px (float32 rounding only). Bound: mean 0.01 px.
  assert ours.shape == reference.shape == (3, 40, 40, 2)
  assert epe.mean() < 0.01 and np.median(epe) < 0.01


def test_identical_frames_give_zero_flow():
  frame = _translating_texture(dx=0, dy=0)[:1]
  flow = tvl1_jax.compute_flow(np.concatenate([frame] * 4), SMALL)
  np.testing.assert_array_equal(flow, np.zeros((3, 40, 40, 2), np.float32))


def test_positive_x_is_rightward_and_positive_y_downward():
  flow = tvl1_jax.compute_flow(_translating_texture(dx=2, dy=-1), SMALL)
  inner = flow[:, 8:-8, 8:-8]  # away from the borders (content enters there)
  np.testing.assert_allclose(np.median(inner[..., 0]), 2.0, atol=0.1)
  np.testing.assert_allclose(np.median(inner[..., 1]), -1.0, atol=0.1)


def test_videos_batched_together_get_the_flow_each_gets_alone():
  a = _translating_texture(dx=2, dy=-1)
  b = _translating_texture(dx=0, dy=0)
  flows = tvl1_jax.compute_flows([a, b], SMALL, batch_size=4)
  # Float32 rounding of the iterated solver only: XLA vectorises a batch of 4 and a
  # batch of 1 differently. Measured: 1e-5 px with jax 0.10, 7e-5 px with jax 0.12.
  np.testing.assert_allclose(flows[0], tvl1_jax.compute_flow(a, SMALL),
                             atol=1e-4)
  np.testing.assert_array_equal(flows[1], np.zeros((3, 40, 40, 2)))


def test_bad_frames_are_rejected_with_their_shape():
  with pytest.raises(ValueError, match='at least 2 frames'):
    tvl1_jax.compute_flow(np.zeros((1, 8, 8, 3), np.uint8))
  with pytest.raises(ValueError, match='uint8'):
    tvl1_jax.compute_flow(np.zeros((3, 8, 8, 3), np.float32))


# ---------------------------------------------------------------------------
# The writer.


def test_writer_with_jax_backend_writes_records_the_pipeline_reads(tmp_path):
  render = synthetic.RenderOptions(num_frames=4, height=40, width=40)
  sources = synthetic.split_sources('train', num_classes=2,
                                    videos_per_class=1, seed=0, render=render)
  entries, records = {}, {}
  for backend in ('opencv', 'jax'):
    out = tmp_path / backend
    options = write_tfrecords.EncodeOptions(tvl1=SMALL, flow_backend=backend)
    entries[backend] = write_tfrecords.write_split(
        sources, output_dir=out, split='train', class_names=['left', 'right'],
        num_shards=1, options=options, workers=1, show_progress=False)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    records[backend] = [
        tf.train.SequenceExample.FromString(r.numpy()) for r in
        tf.data.TFRecordDataset(str(out / 'train-00000-of-00001.tfrecord'))]
  with open(tmp_path / 'jax' / 'manifest.json') as f:
    manifest = json.load(f)
  assert manifest['splits']['train']['options']['flow_backend'] == 'jax'
  assert entries['opencv']['options']['flow_backend'] == 'opencv'
  assert entries['jax']['num_written'] == 2
  # Same keys; flow JPEGs decode to the same quantised flow (within 1 level
  # of 255 / 40 px, as the two solvers agree to far better than 0.16 px).
  for ours, reference in zip(records['jax'], records['opencv']):
    assert set(ours.feature_lists.feature_list) == set(
        reference.feature_lists.feature_list)
    assert set(ours.context.feature) == set(reference.context.feature)
    for a, b in zip(ours.feature_lists.feature_list['flow/encoded'].feature,
                    reference.feature_lists.feature_list['flow/encoded'].feature):
      flow_a = schema.decode_flow_jpeg(a.bytes_list.value[0])
      flow_b = schema.decode_flow_jpeg(b.bytes_list.value[0])
      assert np.abs(flow_a - flow_b).max() <= 2 * 40 / 255 + 1e-6
  label_map.write_label_map(tmp_path / 'jax' / label_map.LABEL_MAP_FILENAME,
                            ['left', 'right'])
  c = input_config.get_input_config()
  c.data_dir = str(tmp_path / 'jax')
  c.update(dict(num_frames=2, stride=1, min_resize=0, crop_size=32,
                batch_size=2, shuffle_buffer=2, deterministic=True,
                prefetch=1, random_flip=False, eval_split='train'))
  batch = next(iter(input_pipeline.make_train_dataset(
      c, process_index=0, process_count=1)))
  assert batch['flow'].shape == (2, 2, 32, 32, 2)
