"""DeepMind kinetics-i3d TF checkpoints: names, quirks, numerics, round trip."""

import numpy as np
import pytest

from d3d_jax import weights as ci
from tests.weights import (numpy_units, reference_files, reference_layouts,
                                     tf_reference_nets)
from tests.weights import round_trip
from tests.weights import tiny_models as tiny

RGB = "RGB/inception_i3d/"


def _write(tmp_path, layout, seed=0, name="model.ckpt"):
  tensors = reference_layouts.random_tensors(layout, seed)
  prefix = reference_files.write_tf_checkpoint(tmp_path / name, tensors)
  return prefix, tensors


def _rgb_layout(**kwargs):
  return reference_layouts.deepmind_i3d(reference_layouts.tiny_depth,
                                        tiny.NUM_CLASSES, **kwargs)


def test_written_checkpoint_lists_reference_names(tmp_path):
  prefix, tensors = _write(tmp_path, _rgb_layout())
  listed = reference_files.list_tf_variables(prefix)
  assert len(listed) == 230
  assert listed[RGB + "Conv3d_1a_7x7/conv_3d/w"] == [7, 7, 7, 3, 8]
  assert RGB + "Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w" in listed


def test_every_tensor_lands_where_the_reference_puts_it(tmp_path):
  prefix, tensors = _write(tmp_path, _rgb_layout())
  params, batch_stats = tiny.template("i3d")
  params, batch_stats, report = ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats)
  p, s = tiny.flat(params), tiny.flat(batch_stats)
  assert len(report.loaded) == len(p) + len(s) == 230
  assert report.scope == RGB
  # Sonnet w is (T,H,W,Cin,Cout) like ours; beta / moving statistics -> BN bias / stats.
  for name, value in tensors.items():
    unit, _, leaf = name[len(RGB):].rpartition("/")
    unit = unit.replace("Mixed_5b/Branch_2/Conv3d_0a_3x3", "Mixed_5b/Branch_2/Conv3d_0b_3x3")
    unit = unit.replace("/conv_3d", "").replace("/batch_norm", "")
    ours = {"w": (p, "conv/kernel"), "beta": (p, "bn/bias"), "moving_mean": (s, "bn/mean"),
            "moving_variance": (s, "bn/var"), "b": (p, "bias")}[leaf]
    if unit == "Logits/Conv3d_0c_1x1":
      ours = (p, {"w": "kernel", "b": "bias"}[leaf])
    np.testing.assert_array_equal(ours[0][f"{unit}/{ours[1]}"], value, err_msg=name)
  # The naming quirk, spelled out.
  np.testing.assert_array_equal(
      p["Mixed_5b/Branch_2/Conv3d_0b_3x3/conv/kernel"],
      tensors[RGB + "Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"])


def test_flow_checkpoint_builds_a_two_channel_network(tmp_path):
  layout = _rgb_layout(in_channels=2, prefix="Flow/inception_i3d/")
  prefix, tensors = _write(tmp_path, layout)
  fmt = ci.get_format("deepmind_i3d")
  options = ci.infer_model_options(fmt, fmt.open(prefix))
  assert options == {"input_channels": 2, "first_temporal_kernel_size": 7,
                     "num_classes": tiny.NUM_CLASSES}
  params, batch_stats = tiny.template("i3d", input_channels=2)
  params, _, report = ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats)
  assert report.scope == "Flow/inception_i3d/"
  np.testing.assert_array_equal(tiny.flat(params)["Conv3d_1a_7x7/conv/kernel"],
                                tensors["Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w"])


def test_kinetics600_layout_no_prefix_5d_statistics_momentum_slots(tmp_path):
  layout = _rgb_layout(kinetics600=True)
  prefix, tensors = _write(tmp_path, layout)
  params, batch_stats = tiny.template("i3d")
  params, batch_stats, report = ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats)
  assert report.scope == ""
  assert len(report.loaded) == 230
  momentum = [n for n in layout if n.endswith("/Momentum")]
  assert len(momentum) == 116  # 58 w + 57 beta + 1 b, as in the published index
  assert sorted(report.skipped) == sorted(momentum)
  np.testing.assert_array_equal(
      tiny.flat(batch_stats)["Mixed_4c/Branch_1/Conv3d_0b_3x3/bn/var"],
      tensors["Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"].reshape(-1))


def test_file_with_rgb_and_flow_needs_a_scope(tmp_path):
  layout = {**_rgb_layout(), **_rgb_layout(in_channels=2, prefix="Flow/inception_i3d/")}
  prefix, _ = _write(tmp_path, layout)
  params, batch_stats = tiny.template("i3d")
  with pytest.raises(ValueError, match="Flow/inception_i3d/.*RGB/inception_i3d/"):
    ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats)
  _, _, report = ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats,
                                      scope="RGB/inception_i3d")
  assert len(report.skipped) == 230
  assert set(report.skipped.values()) == {"another network (scope 'Flow/inception_i3d/')"}


def test_missing_extra_and_misshapen_tensors_are_named(tmp_path):
  layout = _rgb_layout()
  del layout[RGB + "Mixed_4d/Branch_3/Conv3d_0b_1x1/batch_norm/beta"]
  layout[RGB + "Mixed_4d/Branch_4/Conv3d_0a_1x1/conv_3d/w"] = (1, 1, 1, 8, 8)
  layout[RGB + "Conv3d_2b_1x1/conv_3d/w"] = (1, 1, 1, 8, 9)
  prefix, _ = _write(tmp_path, layout)
  params, batch_stats = tiny.template("i3d")
  with pytest.raises(ci.CheckpointMismatchError) as error:
    ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats)
  message = str(error.value)
  assert "params/Mixed_4d/Branch_3/Conv3d_0b_1x1/bn/bias" in message
  assert RGB + "Mixed_4d/Branch_3/Conv3d_0b_1x1/batch_norm/beta" in message
  assert RGB + "Mixed_4d/Branch_4/Conv3d_0a_1x1/conv_3d/w [1, 1, 1, 8, 8]" in message
  assert ("params/Conv3d_2b_1x1/conv/kernel: file tensor 'RGB/inception_i3d/Conv3d_2b_1x1/"
          "conv_3d/w' has shape [1, 1, 1, 8, 9], the model needs [1, 1, 1, 8, 8]") in message
  counts = len(error.value.missing), len(error.value.extra), len(error.value.mismatched)
  assert counts == (1, 1, 1)


def test_not_a_deepmind_checkpoint_says_so(tmp_path):
  prefix, _ = _write(tmp_path, reference_layouts.slim_s3dg(reference_layouts.tiny_depth, 5))
  params, batch_stats = tiny.template("i3d")
  with pytest.raises(ValueError, match="not a deepmind_i3d checkpoint.*Conv3d_1a_7x7/conv_3d/w"):
    ci.import_checkpoint("deepmind_i3d", prefix, params, batch_stats)


def test_stem_matches_numpy_from_the_raw_file(tmp_path):
  prefix, tensors = _write(tmp_path, _rgb_layout())
  params, batch_stats = ci.import_checkpoint("deepmind_i3d", prefix, *tiny.template("i3d"))[:2]
  x = tiny.clip()
  _, stem = tiny.forward("i3d", params, batch_stats, x)
  unit = RGB + "Conv3d_1a_7x7/"
  pads = [numpy_units.tf_same_pads(n, 7, 2) for n in x.shape[1:4]]
  expected = numpy_units.batch_norm_relu(
      numpy_units.conv_ndhwc(x.astype(np.float64), tensors[unit + "conv_3d/w"], (2, 2, 2), pads),
      tensors[unit + "batch_norm/moving_mean"], tensors[unit + "batch_norm/moving_variance"],
      tensors[unit + "batch_norm/beta"])
  assert stem.shape == expected.shape == (1, 4, 16, 16, 8)
  np.testing.assert_allclose(stem, expected, rtol=1e-4, atol=1e-4)


def test_round_trip_gives_identical_logits(tmp_path):
  prefix = round_trip.assert_round_trip("deepmind_i3d", "i3d", tmp_path / "out" / "model.ckpt",
                                        seed=1)
  assert reference_files.list_tf_variables(prefix).keys() == _rgb_layout().keys()


def test_whole_network_matches_tensorflow_ops_on_the_raw_file(tmp_path):
  prefix, tensors = _write(tmp_path, _rgb_layout(), seed=9)
  params, batch_stats, _ = ci.import_checkpoint("deepmind_i3d", prefix, *tiny.template("i3d"))
  x = tiny.clip(seed=1)
  logits, _ = tiny.forward("i3d", params, batch_stats, x)
  expected = tf_reference_nets.deepmind_i3d_logits(tensors, x)
  assert np.ptp(expected) > 1e-2
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
