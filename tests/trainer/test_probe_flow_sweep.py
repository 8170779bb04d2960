"""`python -m d3d_jax.probe_flow`: one JSON entry per (model, layer), and the two PNGs."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import pytest

from d3d_jax import probe_flow
from d3d_jax.evaluators import evaluator_config
from d3d_jax.export import save_model_variables
from d3d_jax.models import build_call, build_from_config
from d3d_jax.objectives import objective_config
from tests.conftest import NUM_CLASSES
from tests.trainer.conftest import tiny_config


def _finished_run(tmp_path, name, seed):
  """A workdir holding only an export (random weights), like a finished RGB run's."""
  config = tiny_config("", "rgb")
  model = build_from_config(config.model, NUM_CLASSES, "float32")
  variables = nn.unbox(model.init(jax.random.PRNGKey(seed), jnp.zeros((1, 8, 16, 16, 3))))
  workdir = tmp_path / name
  save_model_variables(str(workdir / "export"), variables["params"],
                       variables["batch_stats"], metadata=build_call(config.model,
                                                                     NUM_CLASSES))
  return str(workdir)


def _tiny_probe_recipe(data_dir):
  c = tiny_config(data_dir, "rgb", "ce")
  c.input.modalities = ("rgb", "flow")
  c.objective = objective_config("flow_probe")
  c.total_steps = 2
  c.evals = ml_collections.ConfigDict({"flow_epe": evaluator_config("flow_epe")})
  return c


def test_sweep_writes_one_entry_per_model_and_layer_and_both_pictures(tiny_dataset,
                                                                       tmp_path):
  workdirs = {"rgb": _finished_run(tmp_path, "rgb", 0), "d3d": _finished_run(tmp_path,
                                                                             "d3d", 1)}
  layers = ("Conv3d_2c_3x3", "Mixed_3b")
  out = tmp_path / "probe"
  # ft runs train like frozen ones, one per layer (tests/trainer/test_flow_probe.py
  # covers the setting); one frozen run per model keeps this test short.
  probe_flow.run_sweep(_tiny_probe_recipe(tiny_dataset), workdirs, layers, "simple",
                       ("frozen",), str(out))
  result = json.loads((out / "flow_epe.json").read_text())
  assert [(e["model"], e["layer"]) for e in result["entries"]] == [
      (m, l) for m in ("rgb", "d3d") for l in layers]
  for entry in result["entries"]:
    assert set(entry["epe"]) == {"frozen"}
    assert entry["epe_zeros"] > 0
  assert "| 3b (Mixed_3b) |" in probe_flow.epe_table(result)
  for picture in ("epe_per_layer.png", "flow_strip.png"):
    assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_workdirs_flag_must_hold_name_and_dir_pairs():
  assert probe_flow.parse_workdirs(["rgb:/a", "d3d:gs://b/c"]) == {"rgb": "/a",
                                                                   "d3d": "gs://b/c"}
  with pytest.raises(ValueError, match="name:workdir"):
    probe_flow.parse_workdirs(["/only/a/dir"])


def test_layer_labels_are_the_papers():
  assert [probe_flow.short_name(l) for l in ("Conv3d_1a_7x7", "MaxPool3d_3a_3x3",
                                             "Mixed_4f")] == ["1a", "3a", "4f"]
