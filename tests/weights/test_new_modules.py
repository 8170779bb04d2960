"""A model with modules that published backbones lack still imports them: `new_modules`.

The model declares its new modules (regexes on variable paths, as `exclude`); their
variables keep their initial values when the file lacks them and load when it holds them
(our own export of the whole model), while any other gap is still an error. The new
module here is an `AttentionHead` subtree added to a tiny S3D-G's variables: a conv unit
with BatchNorm (names a slim file could hold) and a Dense (names it cannot).
"""

import ml_collections
import numpy as np
import pytest

from d3d_jax import weights as ci
from tests.weights import tiny_models as tiny

NEW = ("^AttentionHead/",)
HEAD_VARIABLES = ["batch_stats/AttentionHead/bn/mean", "batch_stats/AttentionHead/bn/var",
                  "params/AttentionHead/bn/bias", "params/AttentionHead/bn/scale",
                  "params/AttentionHead/conv/kernel", "params/AttentionHead/query/kernel"]


def _with_head(seed, channels=4, num_classes=tiny.NUM_CLASSES):
  """A tiny S3D-G's random (params, batch_stats) plus a random `AttentionHead` subtree."""
  params, batch_stats = tiny.random_variables("s3dg", num_classes=num_classes, seed=seed)
  rng = np.random.default_rng(100 + seed)
  random = lambda *shape: rng.standard_normal(shape).astype(np.float32)
  params = dict(params, AttentionHead={
      "conv": {"kernel": random(1, 1, 1, 128, channels)},
      "bn": {"scale": random(channels), "bias": random(channels)},
      "query": {"kernel": random(128, channels)}})
  batch_stats = dict(batch_stats, AttentionHead={
      "bn": {"mean": random(channels), "var": random(channels)}})
  return params, batch_stats


def _flat(params, batch_stats):
  return {**{f"params/{k}": v for k, v in tiny.flat(params).items()},
          **{f"batch_stats/{k}": v for k, v in tiny.flat(batch_stats).items()}}


def test_a_published_backbone_fills_all_but_the_new_modules_which_stay_at_init(tmp_path):
  backbone = tiny.random_variables("s3dg", seed=1)
  path = ci.export_checkpoint("slim_s3dg", str(tmp_path / "model.ckpt"), *backbone)
  init = _with_head(seed=2)

  params, batch_stats, report = ci.import_checkpoint("slim_s3dg", path, *init,
                                                     new_modules=NEW)
  got, want, initial = _flat(params, batch_stats), _flat(*backbone), _flat(*init)
  assert sorted(report.new_at_init) == HEAD_VARIABLES
  assert len(report.loaded) == len(want) and not report.excluded
  assert got.keys() == initial.keys() == want.keys() | set(HEAD_VARIABLES)
  for key in HEAD_VARIABLES:  # bit-identical initial values, dtype included
    assert got[key].dtype == initial[key].dtype
    np.testing.assert_array_equal(got[key], initial[key], err_msg=key)
  for key in want:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert ("kept at initial values (new modules, not in the file): "
          "batch_stats/AttentionHead/bn/mean") in report.summary()


def test_without_new_modules_the_same_import_names_every_missing_head_variable(tmp_path):
  path = ci.export_checkpoint("slim_s3dg", str(tmp_path / "model.ckpt"),
                              *tiny.random_variables("s3dg", seed=1))
  with pytest.raises(ci.CheckpointMismatchError) as error:
    ci.import_checkpoint("slim_s3dg", path, *_with_head(seed=2))
  assert error.value.missing == [
      "batch_stats/AttentionHead/bn/mean  <- 'InceptionV1/AttentionHead/BatchNorm/"
      "moving_mean' (not in the file)",
      "batch_stats/AttentionHead/bn/var  <- 'InceptionV1/AttentionHead/BatchNorm/"
      "moving_variance' (not in the file)",
      "params/AttentionHead/bn/bias  <- 'InceptionV1/AttentionHead/BatchNorm/beta' "
      "(not in the file)",
      # (bn/scale is not missing: slim stores no gamma, so a scale is set to 1)
      "params/AttentionHead/conv/kernel  <- 'InceptionV1/AttentionHead/weights' "
      "(not in the file)",
      "params/AttentionHead/query/kernel  (no slim_s3dg tensor holds it)"]
  assert not error.value.extra and not error.value.mismatched


def test_a_missing_backbone_tensor_is_still_an_error_with_new_modules(tmp_path):
  tensors = ci.export_tensors("slim_s3dg", *tiny.random_variables("s3dg", seed=1))
  del tensors["InceptionV1/Mixed_4d/Branch_1/Conv2d_0b_3x3/temporal/weights"]
  path = ci.get_format("slim_s3dg").write(str(tmp_path / "model.ckpt"), tensors)
  with pytest.raises(ci.CheckpointMismatchError) as error:
    ci.import_checkpoint("slim_s3dg", path, *_with_head(seed=2), new_modules=NEW)
  assert error.value.missing == [
      "params/Mixed_4d/Branch_1/Conv3d_0b_3x3/temporal/kernel  <- "
      "'InceptionV1/Mixed_4d/Branch_1/Conv2d_0b_3x3/temporal/weights' (not in the file)"]


def _init_from(path):
  return ml_collections.ConfigDict({"path": str(path), "format": "d3d_jax", "exclude": ()})


def test_our_export_of_the_whole_model_loads_the_new_modules_too(tmp_path):
  trained = _with_head(seed=3)
  ci.save_model_variables(tmp_path / "export", *trained)
  params, batch_stats = ci.load_init_from(_init_from(tmp_path / "export"), *_with_head(seed=4),
                                          new_modules=NEW)
  got, want = _flat(params, batch_stats), _flat(*trained)
  assert got.keys() == want.keys()
  for key in got:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_a_new_module_in_the_file_is_shape_checked_like_any_variable(tmp_path):
  ci.save_model_variables(tmp_path / "export", *_with_head(seed=3, channels=6))
  with pytest.raises(ci.CheckpointMismatchError,
                     match=r"params/AttentionHead/query/kernel: file tensor 'params/"
                           r"AttentionHead/query/kernel' has shape \[128, 6\], the model "
                           r"needs \[128, 4\]"):
    ci.load_init_from(_init_from(tmp_path / "export"), *_with_head(seed=4), new_modules=NEW)


def test_an_attention_model_takes_a_kinetics_i3d_backbone_without_its_classifier(tmp_path):
  # Prob-Distill has two new classifiers and no Logits/Conv3d_0c_1x1: the file's
  # 'RGB/inception_i3d/Logits/...' tensors are dropped by the unscoped '^Logits/', the
  # maps and classifiers stay at init, and the backbone loads whole.
  backbone = tiny.random_variables("i3d", seed=3)
  path = ci.export_checkpoint("deepmind_i3d", str(tmp_path / "model.ckpt"), *backbone)
  options = dict(head="prob_distill", attention_source="Mixed_4f")
  init = tiny.random_variables("i3d", seed=4, **options)
  new_modules = tiny.model("i3d", **options).new_modules()
  params, batch_stats, report = ci.import_checkpoint(
      "deepmind_i3d", path, *init, exclude=("^Logits/",), new_modules=new_modules)
  got, initial, want = _flat(params, batch_stats), _flat(*init), _flat(*backbone)
  kept = {k for k in got if "/Attention/" in k or "/Logits/" in k}
  assert kept and all(k.startswith("params/Attention/") or k.startswith("params/Logits/")
                      for k in kept)
  for key in kept:
    np.testing.assert_array_equal(got[key], initial[key], err_msg=key)
  for key in got.keys() - kept:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert sum(reason == "excluded" for reason in report.skipped.values()) == 2
