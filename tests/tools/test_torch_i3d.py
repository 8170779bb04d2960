"""`d3d_jax.tools.torch_i3d`: the PyTorch twin of our `i3d` that ``--compare=torch`` times.

The twin must be the network ours is: the same variables (counted, and imported by
name and shape through the ``pytorch_i3d`` checkpoint format), the same function (ours
with symmetric padding and BN scales, on the twin's weights), and a train step the
benchmark's PyTorch side can time.
"""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

# pylint: disable=g-import-not-at-top,wrong-import-position
from d3d_jax import weights
from d3d_jax.models.registry import build_model
from d3d_jax.tools import torch_benchmark
from d3d_jax.tools import torch_i3d

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The trainable parameter count of piergiaj/pytorch-i3d's InceptionI3d (RGB, 400
# classes): DeepMind kinetics-i3d's 12,689,984 plus 7,280 BN gammas.
PYTORCH_I3D_PARAMS = 12_697_264


def _our_variables(clip=(1, 8, 64, 64, 3), **options):
  """Abstract {'params', 'batch_stats'} of ``build_model('i3d', 400, **options)``."""
  model = build_model("i3d", num_classes=400, **options)
  return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(clip)))


def _count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def test_trainable_parameters_are_ours_plus_the_batch_norm_scales():
  twin = torch_i3d.InceptionI3d(num_classes=400)
  trainable = {n: p.numel() for n, p in twin.named_parameters() if p.requires_grad}
  gammas = sum(n for name, n in trainable.items() if name.endswith(".bn.weight"))
  assert sum(trainable.values()) == PYTORCH_I3D_PARAMS
  # Ours follows DeepMind's Sonnet I3D: BN has an offset and no scale (a scale right
  # before a ReLU and a conv is redundant), so it lacks exactly the twin's BN gammas,
  # one per channel of the 57 BN layers; with bn_scale=True it has them too.
  assert gammas == 7_280
  assert _count(_our_variables()["params"]) == sum(trainable.values()) - gammas
  assert _count(_our_variables(bn_scale=True)["params"]) == sum(trainable.values())


def test_state_dict_imports_into_ours_variable_for_variable(tmp_path):
  # The pytorch_i3d importer fails on any variable of ours the file lacks, any file
  # tensor it leaves unused, and any shape mismatch: the layers match by name and shape.
  path = tmp_path / "twin.pt"
  torch.save(torch_i3d.InceptionI3d(num_classes=400).state_dict(), path)
  variables = _our_variables(bn_scale=True)
  params, batch_stats, report = weights.import_checkpoint(
      "pytorch_i3d", str(path), variables["params"], variables["batch_stats"])
  assert len(report.loaded) == len(jax.tree.leaves((params, batch_stats)))


def test_outputs_one_logit_per_class_on_a_small_clip():
  twin = torch_i3d.InceptionI3d(num_classes=400).eval()
  with torch.no_grad():
    logits = twin(torch.zeros(1, 3, 8, 64, 64))
  assert tuple(logits.shape) == (1, 400)


@pytest.mark.slow
def test_computes_what_ours_computes_with_symmetric_padding(tmp_path):
  torch.manual_seed(0)
  twin = torch_i3d.InceptionI3d(num_classes=7).eval()
  with torch.no_grad():
    # He-initialised kernels keep activations O(1) through the 20 layers (PyTorch's
    # default init shrinks Mixed_5c to ~1e-6, where any tolerance passes anything);
    # random BN statistics, scales and offsets, so BN is not the identity.
    for module in twin.modules():
      if isinstance(module, torch.nn.Conv3d):
        torch.nn.init.kaiming_normal_(module.weight)
      if isinstance(module, torch.nn.BatchNorm3d):
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.5, 0.5)
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 1.5)
  path = tmp_path / "twin.pt"
  torch.save(twin.state_dict(), path)
  model = build_model("i3d", num_classes=7, bn_scale=True, padding="symmetric")
  clip = np.random.default_rng(0).uniform(-1, 1, (2, 8, 64, 64, 3)).astype(np.float32)
  abstract = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.asarray(clip)))
  params, batch_stats, _ = weights.import_checkpoint(
      "pytorch_i3d", str(path), abstract["params"], abstract["batch_stats"])
  logits, endpoints = jax.jit(model.apply)(
      {"params": params, "batch_stats": batch_stats}, clip)
  with torch.no_grad():
    # Mixed_5c (the trunk: every layer but the head) too, not only the logits: the
    # head's average pool blurs a padding offset that the trunk's activations show.
    trunk = torch.nn.Sequential(*list(twin.children())[:-1])
    features = trunk(torch.from_numpy(clip.transpose(0, 4, 1, 2, 3)))
    their_logits = twin.logits(features).numpy()
  np.testing.assert_allclose(np.asarray(endpoints["Mixed_5c"]),
                             features.numpy().transpose(0, 2, 3, 4, 1), rtol=1e-4, atol=1e-3)
  np.testing.assert_allclose(np.asarray(logits), their_logits, rtol=1e-4, atol=1e-4)


def test_benchmark_pytorch_side_times_the_twin_on_a_tiny_clip():
  spec = {"model": "i3d", "batch": 2, "frames": 8, "size": 32, "num_classes": 5,
          "steps": 1, "amp_bf16": False, "compile": False}
  done = subprocess.run([sys.executable, "-m", "d3d_jax.tools.torch_benchmark",
                         json.dumps(spec)], cwd=REPO, capture_output=True, text=True,
                        timeout=300, check=False)
  assert done.returncode == 0, done.stderr
  result = json.loads(done.stdout.strip().splitlines()[-1])
  assert (result["torch_model"], result["differs"]) == torch_benchmark.TORCH_MODELS["i3d"]
  assert result["torch_model"] == "d3d_jax.tools.torch_i3d.InceptionI3d"
  assert [r["layout"] for r in result["layouts"]] == list(torch_benchmark.LAYOUTS)
  assert result["best"]["train_s"] > 0
  assert result["torch_flops"] > 0
