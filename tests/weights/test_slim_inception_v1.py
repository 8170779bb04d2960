"""TF-slim ImageNet Inception-v1 inflated into i2d / s3d / i3d / s3dg (I3D Sec. 2.2).

What "the inflated network on a repeated image is the 2-D network" means, per network,
is in `d3d_jax.weights.slim_inception_v1`'s docstring; each statement there is a test.
"2-D network" below is TF-slim's own `inception_v1` (full size, 224 px), or, at tiny
width, our `i2d` on a one-frame clip, which the first tests show to be slim's network.
"""

import functools

import flax.linen as nn
import jax
import numpy as np
import pytest

from d3d_jax import convert
from d3d_jax.models import build_model
from d3d_jax import weights as ci
from tests.weights import reference_files, reference_layouts, round_trip
from tests.weights import slim_inception_v1_reference as slim_reference
from tests.weights import tiny_models as tiny

FORMAT = "slim_inception_v1"
SCOPE = slim_reference.SCOPE
FRAMES = 8
EXACT = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def slim_network(tmp_path_factory):
  """TF-slim's Inception-v1, random weights: (checkpoint, tensors, image, its logits)."""
  image = np.random.default_rng(3).uniform(
      -1, 1, (1, slim_reference.IMAGE_SIZE, slim_reference.IMAGE_SIZE, 3)).astype(np.float32)
  prefix = tmp_path_factory.mktemp("slim") / "inception_v1.ckpt"
  prefix, tensors, logits = slim_reference.build_random_inception_v1(prefix, image, seed=5)
  return prefix, tensors, image, logits


def _full_size_template(name, **options):
  """(model, params, batch_stats) at full size, 1001 classes, shapes only."""
  m = build_model(name, slim_reference.NUM_CLASSES, **options)
  x = np.zeros((1, 1, 32, 32, 3), np.float32)
  variables = jax.eval_shape(lambda: m.init(jax.random.PRNGKey(0), x))
  return m, variables["params"], variables["batch_stats"]


def test_names_and_shapes_are_those_of_tf_slims_inception_v1(slim_network):
  prefix, _, _, _ = slim_network
  in_file = reference_files.list_tf_variables(prefix)
  assert len(in_file) == 230
  assert sum(int(np.prod(s)) for s in in_file.values()) == 6_633_209
  assert in_file[SCOPE + "Conv2d_1a_7x7/weights"] == [7, 7, 3, 64]
  assert in_file[SCOPE + "Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"] == [3, 3, 32, 128]
  assert SCOPE + "Mixed_5b/Branch_2/Conv2d_0b_3x3/weights" not in in_file
  assert in_file[SCOPE + "Logits/Conv2d_0c_1x1/weights"] == [1, 1, 1024, 1001]
  assert not [name for name in in_file if name.endswith("/gamma")]
  assert {k: tuple(v) for k, v in in_file.items()} == slim_reference.layout()
  # Our i2d exports exactly these names and shapes.
  _, params, batch_stats = _full_size_template("i2d")
  assert ci.expected_file_shapes(FORMAT, params, batch_stats) == slim_reference.layout()


@pytest.mark.parametrize("name, options, fixed", [
    ("i2d", {}, 0), ("i3d", {}, 0), ("top_heavy_i3d", {}, 0), ("bottom_heavy_i3d", {}, 0),
    ("s3dg", {}, 19 + 19 + 37),  # temporal kernels and biases, gates
    ("s3d", {"padding": "SAME"}, 20 * 5),  # temporal kernels and BatchNorms (with scale)
])
def test_full_size_networks_fill_from_the_230_imagenet_tensors(name, options, fixed):
  _, params, batch_stats = _full_size_template(name, **options)
  plan = ci.plan_import(ci.get_format(FORMAT), "inception_v1.ckpt", slim_reference.layout(),
                        params, batch_stats, scope=SCOPE)
  assert len(plan.assignments) == 230 and len(plan.fixed) == fixed
  variables = jax.tree_util.tree_leaves((params, batch_stats))
  assert len(variables) == 230 + fixed + len(plan.filled_with_ones)


@pytest.mark.parametrize("name", ["i2d", "s3d"])
def test_inflated_network_on_a_repeated_image_gives_tf_slims_logits(slim_network, name):
  prefix, _, image, slim_logits = slim_network
  model, params, batch_stats = _full_size_template(name, padding="SAME")
  params, batch_stats, _ = ci.import_checkpoint(FORMAT, prefix, params, batch_stats)
  clip = np.repeat(image[:, None], 2, axis=1)
  logits, _ = jax.jit(model.apply)({"params": params, "batch_stats": batch_stats}, clip)
  assert np.std(slim_logits) > 1
  # 58 layers at full width: TF's and XLA's convolutions sum in different orders
  # (measured: at most 2.7e-5 apart, logits of std 7.8).
  np.testing.assert_allclose(logits, slim_logits, rtol=1e-5, atol=1e-4)


def _write(tmp_path, seed=0, **layout_options):
  tensors = reference_layouts.random_tensors(slim_reference.layout(
      reference_layouts.tiny_depth, tiny.NUM_CLASSES, **layout_options), seed)
  return reference_files.write_tf_checkpoint(tmp_path / "model.ckpt", tensors), tensors


def test_every_2d_kernel_is_repeated_over_time_and_divided_by_t(tmp_path):
  prefix, tensors = _write(tmp_path)
  params, batch_stats, report = ci.import_checkpoint(FORMAT, prefix, *tiny.template("i3d"))
  p, s = tiny.flat(params), tiny.flat(batch_stats)
  assert len(report.loaded) == len(tensors) == 230 and not report.fixed
  stem = tensors[SCOPE + "Conv2d_1a_7x7/weights"]
  assert stem.shape == (7, 7, 3, 8) and p["Conv3d_1a_7x7/conv/kernel"].shape == (7, 7, 7, 3, 8)
  for t in range(7):
    np.testing.assert_array_equal(p["Conv3d_1a_7x7/conv/kernel"][t], stem / np.float32(7))
  b2 = tensors[SCOPE + "Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"]
  np.testing.assert_array_equal(p["Mixed_5b/Branch_2/Conv3d_0b_3x3/conv/kernel"],
                                np.stack([b2 / np.float32(3)] * 3))
  np.testing.assert_array_equal(p["Mixed_4c/Branch_0/Conv3d_0a_1x1/conv/kernel"][0],
                                tensors[SCOPE + "Mixed_4c/Branch_0/Conv2d_0a_1x1/weights"])
  bn = SCOPE + "Mixed_3b/Branch_1/Conv2d_0b_3x3/BatchNorm/"
  np.testing.assert_array_equal(p["Mixed_3b/Branch_1/Conv3d_0b_3x3/bn/bias"], tensors[bn + "beta"])
  np.testing.assert_array_equal(s["Mixed_3b/Branch_1/Conv3d_0b_3x3/bn/var"],
                                tensors[bn + "moving_variance"])
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/kernel"][0],
                                tensors[SCOPE + "Logits/Conv2d_0c_1x1/weights"])
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/bias"],
                                tensors[SCOPE + "Logits/Conv2d_0c_1x1/biases"])


def test_variables_without_an_imagenet_tensor_are_set_by_the_format(tmp_path):
  prefix, _ = _write(tmp_path)
  params, batch_stats, report = ci.import_checkpoint(FORMAT, prefix, *tiny.template("s3dg"))
  p = tiny.flat(params)
  # 19 separable units (Conv3d_2c and both 3x3s of 9 blocks), 37 gates (2c, 4 per block).
  assert sorted(report.fixed.values()) == sorted(
      ["temporal kernels set to the identity (centre tap I)"] * 19
      + ["temporal biases set to 0"] * 19
      + ["self-gating weights set to 0 (gate = sigmoid(0) = 1/2)"] * 37)
  unit = "Mixed_4e/Branch_1/Conv3d_0b_3x3/"
  identity = np.zeros((3, 1, 1, 36, 36), np.float32)
  identity[1, 0, 0] = np.eye(36)
  np.testing.assert_array_equal(p[unit + "temporal/kernel"], identity)
  np.testing.assert_array_equal(p[unit + "temporal/bias"], np.zeros(36))
  np.testing.assert_array_equal(p[unit + "self_gating/transformer_W/kernel"],
                                np.zeros((36, 36)))

  params, batch_stats, report = ci.import_checkpoint(
      FORMAT, prefix, *tiny.template("s3d", padding="SAME"))
  p, s = tiny.flat(params), tiny.flat(batch_stats)
  assert len(report.fixed) == 20 * 5  # conv1 is separable too: kernel + 4 BN leaves
  assert len(report.filled_with_ones) == 57  # slim has no gamma
  for leaf, value in (("scale", 1.0), ("bias", 0.0)):
    np.testing.assert_array_equal(p[f"Conv3d_1a_7x7/temporal_bn/{leaf}"], np.full(8, value))
  np.testing.assert_array_equal(s["Conv3d_1a_7x7/temporal_bn/mean"], np.zeros(8))
  np.testing.assert_array_equal(s["Conv3d_1a_7x7/temporal_bn/var"],
                                np.full(8, 1 - 1e-3, np.float32))
  assert p["Conv3d_1a_7x7/temporal/kernel"].shape == (7, 1, 1, 8, 8)
  assert "temporal kernels set to the identity" in report.summary()


def test_a_missing_tensor_is_still_an_error(tmp_path):
  tensors = reference_layouts.random_tensors(
      slim_reference.layout(reference_layouts.tiny_depth, tiny.NUM_CLASSES))
  del tensors[SCOPE + "Mixed_4d/Branch_2/Conv2d_0b_3x3/BatchNorm/beta"]
  prefix = reference_files.write_tf_checkpoint(tmp_path / "model.ckpt", tensors)
  with pytest.raises(ci.CheckpointMismatchError) as error:
    ci.import_checkpoint(FORMAT, prefix, *tiny.template("s3dg"))
  assert error.value.missing == [
      "params/Mixed_4d/Branch_2/Conv3d_0b_3x3/bn/bias  <- "
      "'InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/BatchNorm/beta' (not in the file)"]


def test_a_3d_slim_s3dg_file_is_not_an_inception_v1(tmp_path):
  tensors = reference_layouts.random_tensors(
      reference_layouts.slim_s3dg(reference_layouts.tiny_depth, tiny.NUM_CLASSES))
  prefix = reference_files.write_tf_checkpoint(tmp_path / "model.ckpt", tensors)
  with pytest.raises(ci.CheckpointMismatchError, match=r"\[3, 7, 7, 3, 8\].*2-D"):
    ci.import_checkpoint(FORMAT, prefix, *tiny.template("s3dg"))


def test_a_flow_network_gets_conv1_averaged_over_rgb(tmp_path):
  prefix, tensors = _write(tmp_path)
  params, _, _ = ci.import_checkpoint(FORMAT, prefix, *tiny.template("s3dg", input_channels=2))
  p = tiny.flat(params)
  rgb = tensors[SCOPE + "Conv2d_1a_7x7/weights"]  # (7, 7, 3, 8)
  assert p["Conv3d_1a_7x7/conv/kernel"].shape == (3, 7, 7, 2, 8)
  for t in range(3):
    for channel in range(2):
      np.testing.assert_allclose(p["Conv3d_1a_7x7/conv/kernel"][t, :, :, channel],
                                 rgb.mean(axis=2) / 3, rtol=1e-6)
  np.testing.assert_array_equal(p["Conv3d_2b_1x1/conv/kernel"][0],
                                tensors[SCOPE + "Conv2d_2b_1x1/weights"])


def test_the_file_fixes_no_temporal_size(tmp_path):
  prefix, _ = _write(tmp_path)
  fmt = ci.get_format(FORMAT)
  assert ci.infer_model_options(fmt, fmt.open(prefix)) == {
      "input_channels": 3, "num_classes": tiny.NUM_CLASSES}


@functools.lru_cache(maxsize=None)
def _endpoints_fn(name, options):
  model = tiny.model(name, **dict(options))
  return jax.jit(lambda variables, x: model.apply(variables, x)[1])


def _endpoints(name, prefix, clip, **options):
  """The tiny network's endpoints (NumPy) on `clip`, its variables imported from `prefix`."""
  params, batch_stats, _ = ci.import_checkpoint(FORMAT, prefix, *tiny.template(name, **options))
  run = _endpoints_fn(name, tuple(sorted(options.items())))
  endpoints = run(nn.meta.unbox({"params": params, "batch_stats": batch_stats}), clip)
  return {k: np.asarray(v) for k, v in endpoints.items()}


def _image_and_clip(frames=FRAMES):
  image = tiny.clip(seed=4)[:, :1]  # [1, 1, 32, 32, 3]
  return image, np.repeat(image, frames, axis=1)


def test_i2d_and_s3d_on_a_repeated_image_equal_the_2d_network_exactly(tmp_path):
  prefix, _ = _write(tmp_path, seed=1)
  image, clip = _image_and_clip()
  two_d = _endpoints("i2d", prefix, image)
  assert np.ptp(two_d["Logits"]) > 1e-2
  for name, options in (("i2d", {}), ("s3d", {"padding": "SAME"})):
    inflated = _endpoints(name, prefix, clip, **options)
    np.testing.assert_allclose(inflated["Logits"], two_d["Logits"], **EXACT, err_msg=name)
    for endpoint in ("Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_4f", "Mixed_5c"):
      frames = inflated[endpoint].shape[1]
      np.testing.assert_allclose(inflated[endpoint],
                                 np.repeat(two_d[endpoint], frames, axis=1),
                                 **EXACT, err_msg=f"{name} {endpoint}")


def _equal_frames(inflated, two_d):
  """Indices of the frames of `inflated` [1,T,H,W,C] equal to the 2-D map [1,1,H,W,C]."""
  return [t for t in range(inflated.shape[1])
          if np.allclose(inflated[:, t], two_d[:, 0], **EXACT)]


def test_i3d_equals_the_2d_network_on_frames_away_from_the_clip_ends(tmp_path):
  prefix, _ = _write(tmp_path, seed=2)
  image, clip = _image_and_clip(frames=16)
  two_d = _endpoints("i2d", prefix, image)
  inflated = _endpoints("i3d", prefix, clip)
  # conv1 7x7x7 stride 2 on 16 frames, TF SAME pads 2 before / 3 after: output frame t
  # reads input frames 2t-2 .. 2t+4, all inside the clip for t = 1..5.
  assert _equal_frames(inflated["Conv3d_1a_7x7"], two_d["Conv3d_1a_7x7"]) == [1, 2, 3, 4, 5]
  # Conv3d_2c's 3x3x3 reads conv1 frames t-1 .. t+1.
  assert _equal_frames(inflated["Conv3d_2c_3x3"], two_d["Conv3d_2c_3x3"]) == [2, 3, 4]
  assert not np.allclose(inflated["Logits"], two_d["Logits"], **EXACT)


def test_s3dg_gates_halve_the_ungated_network_which_equals_the_2d_one_but_at_the_end(
    tmp_path):
  prefix, _ = _write(tmp_path, seed=3)
  image, clip = _image_and_clip()
  two_d = _endpoints("i2d", prefix, image)
  gated = _endpoints("s3dg", prefix, clip)
  ungated = _endpoints("s3dg", prefix, clip, gating_startat=None)
  # conv1 [3,7,7] stride 2 on 8 frames pads 0 before / 1 after: only the last of its
  # 4 output frames reads padding; the separable 2b / 2c keep frames apart.
  for endpoint in ("Conv3d_1a_7x7", "Conv3d_2c_3x3"):
    assert _equal_frames(ungated[endpoint], two_d[endpoint]) == [0, 1, 2], endpoint
  np.testing.assert_array_equal(gated["Conv3d_1a_7x7"], ungated["Conv3d_1a_7x7"])
  # The first gate (Conv3d_2c) is sigmoid(0) = 1/2.
  np.testing.assert_allclose(gated["Conv3d_2c_3x3"], 0.5 * ungated["Conv3d_2c_3x3"], **EXACT)


def test_i2d_round_trip(tmp_path):
  written = round_trip.assert_round_trip(FORMAT, "i2d", tmp_path / "model.ckpt", seed=6)
  assert reference_files.list_tf_variables(written).keys() == slim_reference.layout(
      reference_layouts.tiny_depth, tiny.NUM_CLASSES).keys()


def test_convert_inflates_into_s3dg_with_a_new_head(tmp_path):
  prefix, tensors = _write(tmp_path)
  metadata, report = convert.convert(
      FORMAT, prefix, str(tmp_path / "converted"), num_classes=7, model_name="s3dg",
      model_options=dict(tiny.TINY))
  assert metadata["model"] == "s3dg" and metadata["num_classes"] == 7
  assert metadata["model_options"] == {"padding": "SAME", "input_channels": 3, **tiny.TINY}
  assert report.excluded == ("params/Logits/Conv3d_0c_1x1/bias",
                             "params/Logits/Conv3d_0c_1x1/kernel")
  params, _ = ci.load_model_variables(str(tmp_path / "converted"))
  kernel = tiny.flat(params)["Conv3d_1a_7x7/conv/kernel"]
  assert kernel.shape == (3, 7, 7, 3, 8)  # s3dg's [3,7,7] conv1: the file fixes no t
  np.testing.assert_allclose(kernel[2], tensors[SCOPE + "Conv2d_1a_7x7/weights"] / 3,
                             rtol=1e-6)
