"""Our orbax format, `model.init_from` and the convert CLI."""

import os
import subprocess
import sys

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import pytest

from d3d_jax import weights as ci
from tests.weights import reference_files, reference_layouts
from tests.weights import tiny_models as tiny

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _init_from(path, format_name="d3d_jax", exclude=()):
  return ml_collections.ConfigDict({"path": str(path), "format": format_name,
                                    "exclude": tuple(exclude)})


def _assert_trees_equal(a, b):
  a, b = tiny.flat(a), tiny.flat(b)
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_save_and_load_model_variables(tmp_path):
  params, batch_stats = tiny.random_variables("s3dg", seed=6)
  metadata = {"model": "s3dg", "num_classes": 5, "model_options": {"min_depth": 8}}
  ci.save_model_variables(tmp_path / "ckpt", params, batch_stats, metadata)
  loaded_params, loaded_stats = ci.load_model_variables(tmp_path / "ckpt")
  assert isinstance(loaded_params["Conv3d_1a_7x7"]["conv"]["kernel"], np.ndarray)
  _assert_trees_equal(loaded_params, params)
  _assert_trees_equal(loaded_stats, batch_stats)
  assert ci.load_metadata(tmp_path / "ckpt") == metadata
  with pytest.raises(FileExistsError, match="overwrite"):
    ci.save_model_variables(tmp_path / "ckpt", params, batch_stats)


def test_init_from_keeps_excluded_variables_boxes_and_dtypes(tmp_path):
  source_params, source_stats = tiny.random_variables("i3d", seed=7)
  ci.save_model_variables(tmp_path / "ckpt", source_params, source_stats)
  # A fresh network with another number of classes: its Logits keep their initial values.
  init_params, init_stats = tiny.random_variables("i3d", num_classes=3, seed=8)
  params, batch_stats = ci.load_init_from(_init_from(tmp_path / "ckpt", exclude=["^Logits/"]),
                                          init_params, init_stats)
  leaf = params["Conv3d_1a_7x7"]["conv"]["kernel"]
  assert isinstance(leaf, nn.LogicallyPartitioned) and leaf.names[-1] == "conv_out"
  assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(init_params)
  got, want, init = tiny.flat(params), tiny.flat(source_params), tiny.flat(init_params)
  for key in got:
    expected = init[key] if key.startswith("Logits/") else want[key]
    np.testing.assert_array_equal(got[key], expected, err_msg=key)
  _assert_trees_equal(batch_stats, source_stats)


def test_init_from_shape_mismatch_names_both_shapes(tmp_path):
  ci.save_model_variables(tmp_path / "ckpt", *tiny.random_variables("i3d", seed=7))
  with pytest.raises(ci.CheckpointMismatchError,
                     match=r"params/Logits/Conv3d_0c_1x1/kernel: file tensor 'params/Logits/"
                           r"Conv3d_0c_1x1/kernel' has shape \[1, 1, 1, 128, 5\], the model "
                           r"needs \[1, 1, 1, 128, 3\]"):
    ci.load_init_from(_init_from(tmp_path / "ckpt"),
                      *tiny.random_variables("i3d", num_classes=3, seed=8))


def test_init_from_converts_a_published_file_on_the_fly(tmp_path):
  tensors = reference_layouts.random_tensors(
      reference_layouts.pytorch_i3d(reference_layouts.tiny_depth, tiny.NUM_CLASSES))
  path = reference_files.write_npz(tmp_path / "rgb_imagenet.npz", tensors)
  init = tiny.random_variables("i3d", bn_scale=True)
  params, batch_stats = ci.load_init_from(_init_from(path, "pytorch_i3d"), *init)
  direct = ci.import_checkpoint("pytorch_i3d", path, *init)
  _assert_trees_equal(params, direct[0])
  _assert_trees_equal(batch_stats, direct[1])
  with pytest.raises(ValueError, match="model.init_from.format is 'pytorch'"):
    ci.load_init_from(_init_from(path, "pytorch"), *init)
  assert ci.load_init_from(_init_from(""), *init) == init


def test_convert_cli_writes_a_loadable_checkpoint(tmp_path):
  tensors = reference_layouts.random_tensors(
      reference_layouts.pytorch_i3d(reference_layouts.tiny_depth, tiny.NUM_CLASSES))
  path = reference_files.write_npz(tmp_path / "rgb_imagenet.npz", tensors)
  output = tmp_path / "converted"
  command = [sys.executable, "-m", "d3d_jax.convert", "--from=pytorch_i3d",
             f"--input={path}", f"--output={output}", "--num_classes=3",
             "--model_option=depth_multiplier=0.125", "--model_option=min_depth=8"]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO}
  result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "kept at initial values (excluded): params/Logits/Conv3d_0c_1x1/bias" in result.stdout
  metadata = ci.load_metadata(output)
  assert metadata["model"] == "i3d" and metadata["num_classes"] == 3
  assert metadata["model_options"] == {"bn_scale": True, "input_channels": 3,
                                       "first_temporal_kernel_size": 7,
                                       "depth_multiplier": 0.125, "min_depth": 8}
  params, batch_stats = ci.load_model_variables(output)
  np.testing.assert_array_equal(params["Conv3d_1a_7x7"]["conv"]["kernel"],
                                tensors["Conv3d_1a_7x7.conv3d.weight"].transpose(2, 3, 4, 1, 0))
  np.testing.assert_array_equal(batch_stats["Mixed_5b"]["Branch_2"]["Conv3d_0b_3x3"]["bn"]["var"],
                                tensors["Mixed_5b.b2b.bn.running_var"])
  assert params["Logits"]["Conv3d_0c_1x1"]["kernel"].shape == (1, 1, 1, 128, 3)
  # The converted directory feeds model.init_from of the same network directly.
  loaded, _ = ci.load_init_from(_init_from(output),
                                *tiny.random_variables("i3d", num_classes=3, bn_scale=True))
  _assert_trees_equal(loaded, params)


def test_a_tf_checkpoint_with_an_empty_data_file_names_the_file_and_tensor(tmp_path):
  import glob  # pylint: disable=g-import-not-at-top
  from d3d_jax.weights.tensor_files import TFCheckpointFile, write_tf_checkpoint  # pylint: disable=g-import-not-at-top
  path = write_tf_checkpoint(str(tmp_path / "model.ckpt"),
                             {"a/w": np.ones((3, 4), np.float32)})
  for data_file in glob.glob(path + ".data*"):
    open(data_file, "w").close()  # as a full disk or an interrupted copy leaves it
  with pytest.raises(ValueError, match=r"model.ckpt: cannot read tensor 'a/w'.*truncated"):
    TFCheckpointFile(path).read("a/w")
