"""torchvision ResNet-50 state dicts (`torchvision_resnet`) for resnet50 / tsm_resnet50:
the full-size names, shapes and parameter count torchvision has, where each tensor lands,
and (only where torch is installed) logits equal to torchvision's on random weights."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from d3d_jax import weights as ci
from d3d_jax.models import build_model
from tests.weights import reference_files

FULL_CLIP = jax.ShapeDtypeStruct((1, 1, 224, 224, 3), jnp.float32)


def _abstract(model, clip=FULL_CLIP):
  return jax.eval_shape(lambda c: nn.unbox(model.init(jax.random.PRNGKey(0), c)), clip)


def test_full_size_resnet50_has_torchvisions_state_dict_names_shapes_and_count():
  variables = _abstract(build_model("resnet50", num_classes=1000))
  shapes = ci.expected_file_shapes("torchvision_resnet", variables["params"],
                                   variables["batch_stats"], scope="")
  # torchvision's 320 keys: 53 convs, 53 BatchNorms x 5 (num_batches_tracked too), fc.
  assert len(shapes) == 320 and shapes["layer1.0.bn1.num_batches_tracked"] == ()
  assert shapes["conv1.weight"] == (64, 3, 7, 7)
  assert shapes["bn1.running_var"] == (64,)
  assert shapes["layer1.0.conv1.weight"] == (64, 64, 1, 1)
  assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
  assert shapes["layer2.0.conv2.weight"] == (128, 128, 3, 3)
  assert shapes["layer3.5.bn3.weight"] == (1024,)
  assert shapes["layer4.2.conv3.weight"] == (2048, 512, 1, 1)
  assert shapes["fc.weight"] == (1000, 2048) and shapes["fc.bias"] == (1000,)
  assert "layer3.6.conv1.weight" not in shapes and "layer4.3.conv1.weight" not in shapes
  learned = sum(int(np.prod(s)) for k, s in shapes.items()
                if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
  assert learned == 25_557_032  # torchvision resnet50's parameter count


def test_tsm_with_w3_declares_only_w3_and_refinement_as_new_modules():
  model = build_model("tsm_resnet50", num_classes=174, block_module="w3",
                      attention_refinement=True)
  params = traverse_util.flatten_dict(_abstract(model)["params"], sep="/")
  new = [k for k in params if any(re.search(r, k) for r in model.new_modules())]
  assert len(new) == 16 * 14 + 2  # 7 kernels + 7 biases of W3 in each of 16 bottlenecks
  assert all("/W3/" in k or k.startswith("AttentionRefinement/") for k in new)


TINY = dict(depths=(1, 1, 1, 1))
CLIP = jax.random.uniform(jax.random.PRNGKey(1), (1, 3, 32, 32, 3), minval=-1, maxval=1)


def _torch_tensors(model, seed):
  """A random state dict of `model`'s torchvision names and shapes (BN variances > 0)."""
  variables = _abstract(model, CLIP)
  shapes = ci.expected_file_shapes("torchvision_resnet", variables["params"],
                                   variables["batch_stats"], scope="")
  rng = np.random.default_rng(seed)
  return {k: (rng.uniform(0.5, 1.5, s) if k.endswith("running_var")
              else 0.1 * rng.standard_normal(s)).astype(np.float32)
          for k, s in shapes.items()}


def test_state_dict_lands_where_torchvision_has_it_and_w3_stays_at_init(tmp_path):
  model = build_model("tsm_resnet50", num_classes=7, block_module="w3", **TINY)
  variables = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(0), CLIP))
  plain = build_model("resnet50", num_classes=7, **TINY)
  tensors = _torch_tensors(plain, seed=0)
  path = reference_files.write_npz(tmp_path / "resnet.npz", tensors)
  params, batch_stats, _ = ci.import_checkpoint(
      "torchvision_resnet", path, variables["params"], variables["batch_stats"],
      new_modules=model.new_modules())
  p = traverse_util.flatten_dict(params, sep="/")
  s = traverse_util.flatten_dict(batch_stats, sep="/")
  np.testing.assert_array_equal(p["conv1/kernel"][0],
                                tensors["conv1.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(p["layer2/0/downsample/0/kernel"][0, 0, 0],
                                tensors["layer2.0.downsample.0.weight"][:, :, 0, 0].T)
  np.testing.assert_array_equal(p["layer3/0/bn2/scale"], tensors["layer3.0.bn2.weight"])
  np.testing.assert_array_equal(s["layer4/0/downsample/1/var"],
                                tensors["layer4.0.downsample.1.running_var"])
  np.testing.assert_array_equal(p["fc/kernel"][0, 0, 0], tensors["fc.weight"].T)
  initial = traverse_util.flatten_dict(variables["params"], sep="/")
  for key in [k for k in p if "/W3/" in k]:
    np.testing.assert_array_equal(p[key], initial[key])


def test_resnet50_runs_each_frame_on_its_own_and_tsm_mixes_neighbours():
  clip = np.array(CLIP)
  moved = clip.copy()
  moved[:, 0] = -moved[:, 0]  # change frame 0 only
  for name, others_change in (("resnet50", False), ("tsm_resnet50", True)):
    model = build_model(name, num_classes=7, **TINY)
    variables = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(0), CLIP))
    apply = jax.jit(lambda v, c: model.apply(v, c)[1]["Logits_per_time"])
    before, after = np.asarray(apply(variables, clip)), np.asarray(apply(variables, moved))
    assert np.abs(after[:, 0] - before[:, 0]).max() > 1e-6
    # Each block's shift reaches one frame further: with TSM frame 0 reaches the others.
    for t in (1, 2):
      assert (np.abs(after[:, t] - before[:, t]).max() > 1e-6) == others_change


def test_resnet50_logits_equal_torchvisions_on_random_weights(tmp_path):
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  torch.manual_seed(0)
  reference = torchvision.models.resnet50(weights=None).eval()
  path = reference_files.write_npz(tmp_path / "resnet50.npz", {
      k: v.numpy() for k, v in reference.state_dict().items()})
  model = build_model("resnet50", num_classes=1000)
  frame = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (2, 1, 64, 64, 3)))
  variables = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(0), frame))
  params, batch_stats, _ = ci.import_checkpoint("torchvision_resnet", path,
                                                variables["params"], variables["batch_stats"])
  ours = model.apply({"params": params, "batch_stats": batch_stats}, frame)[0]
  with torch.no_grad():
    theirs = reference(torch.from_numpy(frame[:, 0].transpose(0, 3, 1, 2).copy())).numpy()
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
