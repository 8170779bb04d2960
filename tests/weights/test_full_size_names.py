"""Full-size name maps, by shape only (`jax.eval_shape`): exactly the published tensors.

The importer's names and shapes for the full networks equal the reference listings
(kinetics-i3d, TF-slim s3dg, torchvision s3d, pytorch-i3d): 230 DeepMind tensors, the slim
S3D-G's 191 trainable + 114 moving statistics, torchvision's 464 state-dict entries,
pytorch-i3d's 344; and the reference files' own listings plan into the networks cleanly.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax import weights as ci
from d3d_jax.models import build_model
from tests.weights import reference_layouts as ref


@functools.lru_cache(maxsize=None)
def _full(name, input_channels=3, num_classes=400, **options):
  model = build_model(name, num_classes, input_channels=input_channels, **options)
  variables = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, 16, 224, 224, input_channels))))
  return variables["params"], variables["batch_stats"]


def _total(layout):
  return sum(int(np.prod(shape)) for shape in layout.values())


@pytest.mark.parametrize("format_name, model, options, reference, count, values", [
    ("deepmind_i3d", "i3d", {}, ref.deepmind_i3d(), 230, 12_704_544),
    ("deepmind_i3d", "i3d", {"input_channels": 2},
     ref.deepmind_i3d(in_channels=2, prefix="Flow/inception_i3d/"), 230, 12_682_592),
    ("slim_s3dg", "s3dg", {}, ref.slim_s3dg(), 305, 9_533_408),
    ("slim_s3dg", "s3dg", {"first_temporal_kernel_size": 7},
     ref.slim_s3dg(first_temporal_kernel_size=7), 305, 9_571_040),
    ("torchvision_s3d", "s3d", {}, ref.torchvision_s3d(), 464, 8_341_264 + 77),
    ("pytorch_i3d", "i3d", {"bn_scale": True}, ref.pytorch_i3d(), 344, 12_711_824 + 57),
    ("pytorch_i3d", "i3d", {}, ref.pytorch_i3d(), 344, 12_711_824 + 57),  # gammas of 1
])
def test_full_size_names_are_exactly_the_reference(format_name, model, options, reference,
                                                   count, values):
  params, batch_stats = _full(model, **options)
  names = ci.expected_file_shapes(format_name, params, batch_stats)
  assert names == reference
  assert len(names) == count
  assert _total(names) == values  # + one num_batches_tracked scalar per torch BatchNorm


def test_slim_s3dg_has_191_trainable_tensors():
  trainable = [n for n in ref.slim_s3dg() if "moving_" not in n]
  assert len(trainable) == 191
  assert _total({n: s for n, s in ref.slim_s3dg().items() if "moving_" not in n}) == 9_518_848


@pytest.mark.parametrize("format_name, model, options, reference", [
    ("deepmind_i3d", "i3d", {"num_classes": 600}, ref.deepmind_i3d(num_classes=600,
                                                                   kinetics600=True)),
    ("slim_s3dg", "s3dg", {}, ref.slim_s3dg()),
    ("torchvision_s3d", "s3d", {}, ref.torchvision_s3d()),
    ("pytorch_i3d", "i3d", {"bn_scale": True}, ref.pytorch_i3d()),
])
def test_reference_listings_plan_into_the_full_networks(format_name, model, options, reference):
  fmt = ci.get_format(format_name)
  params, batch_stats = _full(model, **options)
  plan = ci.plan_import(fmt, "reference", reference, params, batch_stats)
  assert len(plan.assignments) == len(jax.tree_util.tree_leaves((params, batch_stats)))
  assert len(plan.assignments) + len(plan.skipped) == len(reference)
  if format_name == "deepmind_i3d":  # rgb_scratch_kin600: 346 tensors, 116 Momentum slots
    assert len(reference) == 346 and len(plan.skipped) == 116
