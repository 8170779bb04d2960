"""TF-slim S3D-G / D3D checkpoints: names, gating and separable layouts, numerics, round trip."""

import numpy as np
import pytest

from d3d_jax import weights as ci
from tests.weights import (numpy_units, reference_files, reference_layouts,
                                     tf_reference_nets)
from tests.weights import round_trip
from tests.weights import tiny_models as tiny

SCOPE = "InceptionV1/"


def _write(tmp_path, layout, seed=0):
  tensors = reference_layouts.random_tensors(layout, seed)
  return reference_files.write_tf_checkpoint(tmp_path / "model.ckpt", tensors), tensors


def _layout(**kwargs):
  return reference_layouts.slim_s3dg(reference_layouts.tiny_depth, tiny.NUM_CLASSES, **kwargs)


def test_every_tensor_lands_where_the_reference_puts_it(tmp_path):
  prefix, tensors = _write(tmp_path, _layout())
  params, batch_stats, report = ci.import_checkpoint("slim_s3dg", prefix,
                                                     *tiny.template("s3dg"))
  p, s = tiny.flat(params), tiny.flat(batch_stats)
  assert len(report.loaded) == len(p) + len(s) == len(tensors)
  leaves = {"weights": (p, "conv/kernel"), "BatchNorm/beta": (p, "bn/bias"),
            "BatchNorm/moving_mean": (s, "bn/mean"),
            "BatchNorm/moving_variance": (s, "bn/var"),
            "temporal/weights": (p, "temporal/kernel"), "temporal/biases": (p, "temporal/bias"),
            "self_gating/transformer_W/weights": (p, "self_gating/transformer_W/kernel")}
  checked = 0
  for name, value in tensors.items():
    rest = name[len(SCOPE):].replace("Conv2d_", "Conv3d_")
    for suffix, (tree, ours) in sorted(leaves.items(), key=lambda kv: -len(kv[0])):
      unit = rest[: -len(suffix) - 1]
      if rest.endswith("/" + suffix) and not unit.startswith("Logits"):
        want = value.reshape(tree[f"{unit}/{ours}"].shape) if "self_gating" in suffix else value
        np.testing.assert_array_equal(tree[f"{unit}/{ours}"], want, err_msg=name)
        checked += 1
        break
  assert checked == len(tensors) - 2  # all but the logits
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/kernel"],
                                tensors[SCOPE + "Logits/Conv2d_0c_1x1/weights"])
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/bias"],
                                tensors[SCOPE + "Logits/Conv2d_0c_1x1/biases"])
  # The gate: a [1,1,1,C,C] 1x1x1 conv in slim, a (C,C) Dense kernel here.
  gate = tensors[SCOPE + "Mixed_4e/Branch_1/Conv2d_0b_3x3/self_gating/transformer_W/weights"]
  assert gate.shape == (1, 1, 1, 36, 36)
  np.testing.assert_array_equal(
      p["Mixed_4e/Branch_1/Conv3d_0b_3x3/self_gating/transformer_W/kernel"], gate[0, 0, 0])


def test_conv1_temporal_size_is_read_off_the_file(tmp_path):
  prefix, tensors = _write(tmp_path, _layout(first_temporal_kernel_size=7))
  fmt = ci.get_format("slim_s3dg")
  options = ci.infer_model_options(fmt, fmt.open(prefix))
  assert options == {"input_channels": 3, "first_temporal_kernel_size": 7,
                     "num_classes": tiny.NUM_CLASSES}
  params, _, _ = ci.import_checkpoint("slim_s3dg", prefix,
                                      *tiny.template("s3dg", first_temporal_kernel_size=7))
  np.testing.assert_array_equal(tiny.flat(params)["Conv3d_1a_7x7/conv/kernel"],
                                tensors[SCOPE + "Conv2d_1a_7x7/weights"])
  with pytest.raises(ci.CheckpointMismatchError, match=r"\[7, 7, 7, 3, 8\].*\[3, 7, 7, 3, 8\]"):
    ci.import_checkpoint("slim_s3dg", prefix, *tiny.template("s3dg"))


def test_training_state_is_skipped_and_bn_scale_defaults_to_one(tmp_path):
  layout = _layout()
  layout["global_step"] = ()
  layout[SCOPE + "Conv2d_1a_7x7/weights/Momentum"] = layout[SCOPE + "Conv2d_1a_7x7/weights"]
  prefix, _ = _write(tmp_path, layout)
  params, _, report = ci.import_checkpoint("slim_s3dg", prefix,
                                           *tiny.template("s3dg", bn_scale=True))
  assert report.skipped == {"global_step": "training state",
                            SCOPE + "Conv2d_1a_7x7/weights/Momentum": "training state"}
  assert len(report.filled_with_ones) == 57
  np.testing.assert_array_equal(tiny.flat(params)["Mixed_3c/Branch_0/Conv3d_0a_1x1/bn/scale"],
                                np.ones(16, np.float32))


def test_s3dg_variables_do_not_fit_an_i3d_checkpoint(tmp_path):
  prefix, _ = _write(tmp_path, _layout())
  with pytest.raises(ci.CheckpointMismatchError) as error:
    ci.import_checkpoint("slim_s3dg", prefix, *tiny.template("i3d"))
  assert any("self_gating/transformer_W/weights" in e for e in error.value.extra)
  assert any("Conv3d_2c_3x3/conv/kernel" in m for m in error.value.mismatched)


def test_stem_matches_numpy_from_the_raw_file(tmp_path):
  prefix, tensors = _write(tmp_path, _layout())
  params, batch_stats, _ = ci.import_checkpoint("slim_s3dg", prefix, *tiny.template("s3dg"))
  x = tiny.clip()
  _, stem = tiny.forward("s3dg", params, batch_stats, x)
  unit = SCOPE + "Conv2d_1a_7x7/"
  w = tensors[unit + "weights"]
  assert w.shape == (3, 7, 7, 3, 8)
  pads = [numpy_units.tf_same_pads(n, k, 2) for n, k in zip(x.shape[1:4], (3, 7, 7))]
  expected = numpy_units.batch_norm_relu(
      numpy_units.conv_ndhwc(x.astype(np.float64), w, (2, 2, 2), pads),
      tensors[unit + "BatchNorm/moving_mean"], tensors[unit + "BatchNorm/moving_variance"],
      tensors[unit + "BatchNorm/beta"])
  assert stem.shape == expected.shape == (1, 4, 16, 16, 8)
  np.testing.assert_allclose(stem, expected, rtol=1e-4, atol=1e-4)


def test_round_trip_gives_identical_logits(tmp_path):
  prefix = round_trip.assert_round_trip("slim_s3dg", "s3dg", tmp_path / "model.ckpt", seed=2)
  assert reference_files.list_tf_variables(prefix).keys() == _layout().keys()


def test_whole_network_matches_tensorflow_ops_on_the_raw_file(tmp_path):
  prefix, tensors = _write(tmp_path, _layout(), seed=9)
  params, batch_stats, _ = ci.import_checkpoint("slim_s3dg", prefix, *tiny.template("s3dg"))
  x = tiny.clip(seed=1)
  logits, _ = tiny.forward("s3dg", params, batch_stats, x)
  expected = tf_reference_nets.slim_s3dg_logits(tensors, x)
  assert np.ptp(expected) > 1e-2
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
