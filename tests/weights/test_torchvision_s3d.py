"""torchvision `s3d` state dicts (.npz / .safetensors exports): layout, numerics, round trip."""

import numpy as np
import pytest

from d3d_jax import weights as ci
from tests.weights import numpy_units, reference_files, reference_layouts
from tests.weights import round_trip
from tests.weights import tiny_models as tiny


def _tensors(seed=0, prefix=""):
  layout = reference_layouts.torchvision_s3d(reference_layouts.tiny_depth, tiny.NUM_CLASSES,
                                             prefix=prefix)
  return reference_layouts.random_tensors(layout, seed)


def test_state_dict_lands_where_the_reference_puts_it(tmp_path):
  tensors = _tensors()
  path = reference_files.write_npz(tmp_path / "s3d.npz", tensors)
  params, batch_stats, report = ci.import_checkpoint("torchvision_s3d", path,
                                                     *tiny.template("s3d"))
  p, s = tiny.flat(params), tiny.flat(batch_stats)
  assert len(report.loaded) == len(p) + len(s) == len(tensors) - 77
  assert len(report.skipped) == 77  # num_batches_tracked, one per BatchNorm
  torch_to_ours = lambda w: w.transpose(2, 3, 4, 1, 0)  # (O,I,T,H,W) -> (T,H,W,I,O)
  # conv1 = TemporalSeparableConv: features.0.0 is 1x7x7 conv + BN, features.0.1 7x1x1 + BN.
  assert tensors["features.0.0.0.weight"].shape == (8, 3, 1, 7, 7)
  np.testing.assert_array_equal(p["Conv3d_1a_7x7/conv/kernel"],
                                torch_to_ours(tensors["features.0.0.0.weight"]))
  np.testing.assert_array_equal(p["Conv3d_1a_7x7/temporal/kernel"],
                                torch_to_ours(tensors["features.0.1.0.weight"]))
  np.testing.assert_array_equal(p["Conv3d_1a_7x7/bn/scale"], tensors["features.0.0.1.weight"])
  np.testing.assert_array_equal(p["Conv3d_1a_7x7/temporal_bn/bias"], tensors["features.0.1.1.bias"])
  np.testing.assert_array_equal(s["Conv3d_1a_7x7/temporal_bn/var"],
                                tensors["features.0.1.1.running_var"])
  np.testing.assert_array_equal(p["Conv3d_2b_1x1/conv/kernel"],
                                torch_to_ours(tensors["features.2.0.weight"]))
  np.testing.assert_array_equal(s["Mixed_4d/Branch_2/Conv3d_0b_3x3/bn/mean"],
                                tensors["features.10.branch2.1.0.1.running_mean"])
  np.testing.assert_array_equal(p["Mixed_4d/Branch_2/Conv3d_0b_3x3/temporal/kernel"],
                                torch_to_ours(tensors["features.10.branch2.1.1.0.weight"]))
  np.testing.assert_array_equal(p["Mixed_5c/Branch_3/Conv3d_0b_1x1/conv/kernel"],
                                torch_to_ours(tensors["features.15.branch3.1.0.weight"]))
  np.testing.assert_array_equal(p["Mixed_3b/Branch_0/Conv3d_0a_1x1/bn/scale"],
                                tensors["features.5.branch0.1.weight"])
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/kernel"],
                                torch_to_ours(tensors["classifier.1.weight"]))
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/bias"], tensors["classifier.1.bias"])


def test_safetensors_and_npz_exports_load_the_same(tmp_path):
  tensors = _tensors()
  from_npz = ci.import_checkpoint("torchvision_s3d",
                                  reference_files.write_npz(tmp_path / "s3d.npz", tensors),
                                  *tiny.template("s3d"))
  from_safetensors = ci.import_checkpoint(
      "torchvision_s3d", reference_files.write_safetensors(tmp_path / "s3d.safetensors", tensors),
      *tiny.template("s3d"))
  for a, b in zip(from_npz[:2], from_safetensors[:2]):
    a, b = tiny.flat(a), tiny.flat(b)
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_data_parallel_prefix_is_found(tmp_path):
  path = reference_files.write_npz(tmp_path / "s3d.npz", _tensors(prefix="module."))
  _, _, report = ci.import_checkpoint("torchvision_s3d", path, *tiny.template("s3d"))
  assert report.scope == "module."


def test_missing_batch_norm_gamma_is_an_error(tmp_path):
  tensors = _tensors()
  del tensors["features.3.1.1.weight"]
  path = reference_files.write_npz(tmp_path / "s3d.npz", tensors)
  with pytest.raises(ci.CheckpointMismatchError,
                     match=r"params/Conv3d_2c_3x3/temporal_bn/scale  <- 'features.3.1.1.weight'"):
    ci.import_checkpoint("torchvision_s3d", path, *tiny.template("s3d"))


def test_stem_matches_numpy_from_the_raw_file(tmp_path):
  tensors = _tensors()
  path = reference_files.write_npz(tmp_path / "s3d.npz", tensors)
  params, batch_stats, _ = ci.import_checkpoint("torchvision_s3d", path, *tiny.template("s3d"))
  x = tiny.clip()
  _, stem = tiny.forward("s3d", params, batch_stats, x)
  # torchvision: NCDHW, Conv3d(k=(1,7,7), s=(1,2,2), p=(0,3,3)) + BN + ReLU, then
  # Conv3d(k=(7,1,1), s=(2,1,1), p=(3,0,0)) + BN + ReLU.
  bn = lambda y, m: numpy_units.batch_norm_relu(
      y, tensors[m + ".running_mean"], tensors[m + ".running_var"], tensors[m + ".bias"],
      tensors[m + ".weight"], channel_axis=1)
  x_ncdhw = x.transpose(0, 4, 1, 2, 3).astype(np.float64)
  y = bn(numpy_units.conv_ncdhw(x_ncdhw, tensors["features.0.0.0.weight"], (1, 2, 2),
                                ((0, 0), (3, 3), (3, 3))), "features.0.0.1")
  y = bn(numpy_units.conv_ncdhw(y, tensors["features.0.1.0.weight"], (2, 1, 1),
                                ((3, 3), (0, 0), (0, 0))), "features.0.1.1")
  expected = y.transpose(0, 2, 3, 4, 1)
  assert stem.shape == expected.shape == (1, 4, 16, 16, 8)
  np.testing.assert_allclose(stem, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_gives_identical_logits(tmp_path, suffix):
  path = round_trip.assert_round_trip("torchvision_s3d", "s3d", tmp_path / f"s3d{suffix}", seed=3)
  assert ci.get_format("torchvision_s3d").open(path).shapes == reference_layouts.torchvision_s3d(
      reference_layouts.tiny_depth, tiny.NUM_CLASSES)