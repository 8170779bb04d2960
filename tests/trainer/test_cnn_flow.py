"""D3D's "3D CNN flow" (Sec. 4.1): RGB -> learned flow -> flow S3D-G, pretrained on TV-L1
then trained end-to-end (models/cnn_flow.py, objectives/cnn_flow.py)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d3d_jax import trainer
from d3d_jax.export import load_model_variables
from d3d_jax.models import build_from_config
from d3d_jax.models.cnn_flow import PREDICTED_FLOW, PREDICTED_FLOW_INPUT
from d3d_jax.objectives import build_objective, cross_entropy, objective_config
from d3d_jax.objectives.cnn_flow import STREAM_GROUP, stream_group
from d3d_jax.objectives.flow_prediction import flow_loss, flow_target
from data_pipelines import input_pipeline
from tests.conftest import NUM_CLASSES
from tests.trainer.conftest import tiny_config


def _config(data_dir, init_from=""):
  c = tiny_config(data_dir, "rgb", "ce")
  c.input.modalities = ("rgb", "flow")
  c.model.name = "s3dg_cnn_flow"
  c.model.init_from.path = init_from
  c.model.init_from.into = "FlowStream"
  c.objective = objective_config("cnn_flow")
  c.objective.pretrain_steps = 3
  c.optimizer.groups[STREAM_GROUP] = stream_group()
  return c


def _equal(a, b):
  return all(jax.tree_util.tree_leaves(jax.tree_util.tree_map(
      lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)))


def test_network_reads_rgb_only_and_feeds_3a_flow_to_a_flow_stream():
  config = _config("")
  model = build_from_config(config.model, NUM_CLASSES, "float32")
  rgb = jnp.zeros((2, 8, 16, 16, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), rgb))
  assert sorted(variables["params"]) == ["FlowDecoder", "FlowNet", "FlowStream"]
  logits, endpoints = jax.eval_shape(
      lambda: model.apply(model.init(jax.random.PRNGKey(0), rgb), rgb))
  assert logits.shape == (2, NUM_CLASSES)
  assert endpoints[PREDICTED_FLOW].shape == (2, 4, 2, 2, 3)  # 3A: T/2, H/8, W/8; mag, sin, cos
  assert endpoints[PREDICTED_FLOW_INPUT].shape == (2, 8, 16, 16, 2)  # the stream's input
  assert endpoints["FlowNet/MaxPool3d_3a_3x3"].shape[:4] == (2, 4, 2, 2)
  with pytest.raises(ValueError, match="RGB clip with 3 channels"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 16, 16, 2)))


def test_phases_pretrain_on_flow_with_the_stream_frozen_then_train_on_actions():
  phases = build_objective(_config("").objective).phases()
  assert [(p.name, p.steps, p.frozen, p.terms) for p in phases][0] == (
      "pretrain_flow", 3, (STREAM_GROUP,), ("flow",))
  assert (phases[1].name, phases[1].frozen, phases[1].terms) == ("end_to_end", (), ("ce",))


def test_pretrain_step_fits_the_tvl1_target_and_leaves_the_stream_untouched(tiny_dataset):
  config = _config(tiny_dataset)
  exp = trainer.build_experiment(config, workdir="")
  state, shardings = trainer.create_state(exp, checkpointer=None)
  params, stats = jax.device_get((state.params["student"], state.batch_stats["student"]))
  batch = next(input_pipeline.make_train_dataset(config.input).as_numpy_iterator())
  # The flow term by hand: the Sec. 3.1 loss of the predicted flow against the batch's
  # TV-L1 flow pooled to 3A (the front-end's BatchNorm uses batch statistics).
  (_, endpoints), _ = exp.student.apply({"params": params, "batch_stats": stats},
                                        batch["rgb"], train=True, mutable=["batch_stats"],
                                        rngs={"dropout": jax.random.PRNGKey(0)})
  prediction = endpoints[PREDICTED_FLOW]
  expected = flow_loss(prediction, flow_target(batch["flow"], prediction.shape[1:4]))
  step = trainer.make_train_step(exp, shardings, phase_index=0)
  new_state, metrics = step(state, None, trainer.sharding_lib.global_batch(batch, exp.mesh))
  new_params, new_stats = jax.device_get((new_state.params["student"],
                                          new_state.batch_stats["student"]))
  assert float(metrics["loss/flow"]) == pytest.approx(float(expected), rel=1e-4)
  assert "loss/ce" not in metrics
  assert _equal(params["FlowStream"], new_params["FlowStream"])
  assert _equal(stats["FlowStream"], new_stats["FlowStream"])  # inference-mode BN
  for part in ("FlowNet", "FlowDecoder"):
    assert not _equal(params[part], new_params[part])


def test_action_loss_gradient_reaches_the_flow_front_end(tiny_dataset):
  config = _config(tiny_dataset)
  model = build_from_config(config.model, NUM_CLASSES, "float32")
  batch = next(input_pipeline.make_train_dataset(config.input).as_numpy_iterator())
  variables = nn.unbox(model.init(jax.random.PRNGKey(0), batch["rgb"]))

  def action_loss(params):
    logits, _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]},
                            batch["rgb"])
    return cross_entropy(logits, batch["label"])

  grads = jax.grad(action_loss)(variables["params"])
  for part in ("FlowNet", "FlowDecoder", "FlowStream"):
    norm = sum(float(jnp.sum(jnp.square(g))) for g in jax.tree_util.tree_leaves(grads[part]))
    assert norm > 0, part


def test_init_from_into_fills_the_flow_stream_from_a_flow_export(tiny_dataset,
                                                                 flow_teacher_export):
  config = _config(tiny_dataset, init_from=flow_teacher_export)
  exp = trainer.build_experiment(config, workdir="")
  state, _ = trainer.create_state(exp, checkpointer=None)
  exported, exported_stats = load_model_variables(flow_teacher_export)
  params = jax.device_get(state.params["student"])
  assert _equal(params["FlowStream"], exported)
  assert _equal(jax.device_get(state.batch_stats["student"]["FlowStream"]), exported_stats)
  fresh, _ = trainer.create_state(trainer.build_experiment(_config(tiny_dataset), ""), None)
  assert _equal(params["FlowNet"], jax.device_get(fresh.params["student"]["FlowNet"]))


def test_init_from_into_an_unknown_part_names_the_parts(tiny_dataset, flow_teacher_export):
  config = _config(tiny_dataset, init_from=flow_teacher_export)
  config.model.init_from.into = "Stream"
  with pytest.raises(ValueError, match="FlowStream"):
    trainer.create_state(trainer.build_experiment(config, workdir=""), checkpointer=None)
