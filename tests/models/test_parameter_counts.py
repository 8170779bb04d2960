"""Trainable parameter counts at 400 classes equal the reference implementations'.

Numbers from the reference implementations: the DeepMind kinetics-i3d checkpoint
indexes, TF-slim `s3dg` builds, torchvision's `S3D_Weights.KINETICS400_V1.meta["num_params"]`. Built shape-only with `jax.eval_shape`.
"""

import jax
import jax.numpy as jnp
import pytest

from d3d_jax.models import build_model


def _counts(name, input_channels=3, **options):
  model = build_model(name, num_classes=400, input_channels=input_channels, **options)
  x = jnp.zeros((1, 16, 224, 224, input_channels))
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x))
  size = lambda tree: sum(leaf.size for leaf in jax.tree_util.tree_leaves(tree))
  return size(variables["params"]), size(variables["batch_stats"])


@pytest.mark.parametrize("name, input_channels, options, expected", [
    ("i3d", 3, {}, 12_689_984),                       # DeepMind rgb_imagenet index
    ("i3d", 2, {}, 12_668_032),                       # DeepMind flow_imagenet index
    ("i3d", 3, {"bn_scale": True}, 12_697_264),       # pytorch-i3d (BN with gamma)
    ("s3dg", 3, {}, 9_518_848),                       # slim S3D-G defaults
    ("s3dg", 3, {"first_temporal_kernel_size": 7}, 9_556_480),
    ("s3d", 3, {}, 8_320_048),                        # torchvision s3d
    ("i2d", 3, {}, 6_002_624),
    ("top_heavy_i3d", 3, {"switch_block": "Mixed_4b"}, 11_684_288),
    ("top_heavy_i3d", 3, {"switch_block": "Mixed_5c"}, 7_440_320),
    ("bottom_heavy_i3d", 3, {"switch_block": "Mixed_4b"}, 7_008_320),
    ("bottom_heavy_i3d", 3, {"switch_block": "Conv3d_2c_3x3"}, 6_059_072),
])
def test_trainable_parameter_count_matches_reference(name, input_channels, options, expected):
  params, _ = _counts(name, input_channels, **options)
  assert params == expected


@pytest.mark.parametrize("name, expected_moving_stats", [
    ("i3d", 14_560),   # 12,704,544 global - 12,689,984 trainable
    ("s3dg", 14_560),  # 9,533,408 - 9,518,848
    ("s3d", 21_216),   # 8,341,264 - 8,320,048 (torchvision, BN after both halves)
])
def test_batch_norm_moving_statistics_are_separate_from_params(name, expected_moving_stats):
  _, moving = _counts(name)
  assert moving == expected_moving_stats


def test_unknown_option_is_an_error_naming_it():
  with pytest.raises(ValueError, match="gating_start"):
    build_model("s3dg", num_classes=10, gating_start="Mixed_3b")
