"""D3D Sec. 3.2 probing in the trainer: the frozen and fine-tuned settings, and EPE."""

import jax
import ml_collections
import numpy as np
import pytest

from d3d_jax import evaluation, trainer
from d3d_jax.evaluators import EvalContext, build_evaluators, evaluator_config
from d3d_jax.objectives import ModelOutputs, objective_config
from d3d_jax.objectives.flow_prediction import (EndpointFlowDecoder, decoder_module_name,
                                                frozen_backbone_group)
from data_pipelines import input_pipeline
from tests.trainer.conftest import tiny_config

LAYERS = ("Conv3d_2c_3x3", "Mixed_3b")


def _probe_config(data_dir, frozen: bool):
  config = tiny_config(data_dir, "rgb", "ce")
  config.input.modalities = ("rgb", "flow")
  config.objective = objective_config("flow_probe")
  config.objective.endpoints = LAYERS
  config.objective.decoder = "spatial"
  if frozen:
    config.optimizer.groups.backbone = frozen_backbone_group()
  config.evals = ml_collections.ConfigDict({"flow_epe": evaluator_config("flow_epe")})
  return config


def _one_step(config):
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  before = jax.device_get((state.params, state.batch_stats))
  batch = next(input_pipeline.make_train_dataset(config.input).as_numpy_iterator())
  step = trainer.make_train_step(exp, shardings)
  state, metrics = step(state, None, trainer.sharding_lib.global_batch(batch, exp.mesh))
  return exp, before, jax.device_get((state.params, state.batch_stats)), metrics


def _equal(a, b):
  return all(jax.tree_util.tree_leaves(jax.tree_util.tree_map(
      lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)))


def test_frozen_backbone_stays_bit_identical_with_inference_batch_norm(tiny_dataset):
  _, (params, stats), (new_params, new_stats), metrics = _one_step(
      _probe_config(tiny_dataset, frozen=True))
  assert _equal(params["student"], new_params["student"])
  assert _equal(stats["student"], new_stats["student"])  # no running-stat update
  for layer in LAYERS:
    assert not _equal(params["extra"][decoder_module_name(layer)],
                      new_params["extra"][decoder_module_name(layer)])
  assert set(metrics) >= {f"loss/flow/{layer}" for layer in LAYERS}
  assert "loss/ce" not in metrics


def test_fine_tuned_setting_trains_the_backbone_too(tiny_dataset):
  config = _probe_config(tiny_dataset, frozen=False)
  config.objective.endpoints = ("Mixed_3b",)
  _, (params, stats), (new_params, new_stats), _ = _one_step(config)
  assert not _equal(params["student"], new_params["student"])
  assert not _equal(stats["student"], new_stats["student"])


def test_flow_epe_reports_each_layer_and_the_all_zeros_bracket(tiny_dataset, tmp_path):
  config = _probe_config(tiny_dataset, frozen=True)
  exp = trainer.build_experiment(config, workdir=str(tmp_path))
  state, _ = trainer.create_state(exp, checkpointer=None)
  # A decoder whose weights are all zero predicts zero flow: its EPE is the bracket.
  zero = decoder_module_name("Mixed_3b")
  params = dict(state.params, extra=dict(
      state.params["extra"],
      **{zero: jax.tree_util.tree_map(np.zeros_like, state.params["extra"][zero])}))
  writer = evaluation.metric_writers.create_default_writer(str(tmp_path))
  metrics = evaluation.evaluate_train_state(exp, state.replace(params=params), writer, 0)
  assert set(metrics) == {f"flow_epe{kind}/{layer}" for kind in (
      "", "_zeros", "_moving", "_moving_zeros") for layer in LAYERS}
  assert metrics["flow_epe/Mixed_3b"] == pytest.approx(metrics["flow_epe_zeros/Mixed_3b"])
  assert metrics["flow_epe_zeros/Mixed_3b"] > 0
  assert metrics["flow_epe/Conv3d_2c_3x3"] != metrics["flow_epe_zeros/Conv3d_2c_3x3"]


def test_flow_epe_moving_covers_only_cells_moving_more_than_half_a_pixel():
  module = EndpointFlowDecoder("Mixed_3b", "simple")
  features = np.ones((2, 4, 8, 8, 5), np.float32)
  params = jax.tree_util.tree_map(np.zeros_like, module.init(  # predicts zero flow
      jax.random.PRNGKey(0), ModelOutputs(None, {"Mixed_3b": features}))["params"])
  context = EvalContext(input_config=None, num_videos=2, num_classes=4, class_names=(),
                        student_endpoints=(), student_modality="rgb",
                        extra_modules={"flow_decoder_Mixed_3b": (module, params)})
  evaluator = build_evaluators({"flow_epe": evaluator_config("flow_epe")}, context)["flow_epe"]
  flow = np.zeros((2, 8, 16, 16, 2), np.float32)
  flow[0, ..., 0] = 1.0 / 20  # clip 0 moves 1 px per frame in x, clip 1 is still
  evaluator.update({"student": {"Mixed_3b": features}}, {"flow": flow, "mask": np.ones(2)})
  assert evaluator.result() == pytest.approx({
      "flow_epe/Mixed_3b": 0.5, "flow_epe_zeros/Mixed_3b": 0.5,  # mean of 1 px and 0 px
      "flow_epe_moving/Mixed_3b": 1.0, "flow_epe_moving_zeros/Mixed_3b": 1.0})


def test_flow_epe_evaluates_the_export_of_a_probe_run(tiny_dataset, tmp_path):
  config = _probe_config(tiny_dataset, frozen=True)
  config.total_steps = 2
  config.mode = "train_and_eval"
  trainer.train(config, str(tmp_path))
  metrics = evaluation.evaluate_workdir(config, str(tmp_path))  # decoders from the export
  assert {f"flow_epe/{layer}" for layer in LAYERS} <= set(metrics)
  assert metrics["flow_epe/Mixed_3b"] > 0


def test_flow_epe_on_an_export_without_decoders_is_an_error(tiny_dataset):
  context = EvalContext(input_config=None, num_videos=1, num_classes=4, class_names=(),
                        student_endpoints=(), student_modality="rgb")
  with pytest.raises(ValueError, match="flow_probe"):
    build_evaluators({"flow_epe": evaluator_config("flow_epe")}, context)
