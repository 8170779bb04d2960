"""Objectives with their own trainable modules plug into the trainer unchanged."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from d3d_jax import trainer
from d3d_jax.objectives import LossTerm, Objective, cross_entropy
from data_pipelines import input_pipeline
from tests.trainer.conftest import tiny_config


class _AuxiliaryHead(nn.Module):
  """A probe on a hidden endpoint, like the D3D flow decoders or an attention head."""

  num_classes: int

  @nn.compact
  def __call__(self, outputs):
    pooled = jnp.mean(outputs.endpoints["Mixed_3b"], axis=(1, 2, 3))
    return nn.Dense(self.num_classes, name="probe")(pooled)


class _ProbeObjective(Objective):
  def extra_modules(self):
    return {"probe_head": _AuxiliaryHead(4)}

  def loss_terms(self, student, teacher, batch, extra=None):
    probe_logits = extra("probe_head", student)
    return {"ce": LossTerm(cross_entropy(student.logits, batch["label"]), 1.0),
            "probe": LossTerm(cross_entropy(probe_logits, batch["label"]), 0.5)}


def test_extra_modules_get_parameters_gradients_and_stay_out_of_the_export(tiny_dataset):
  config = tiny_config(tiny_dataset, "rgb", "ce")
  exp = trainer.build_experiment(config, workdir="")
  exp.objective = _ProbeObjective(config.objective)
  state, shardings = trainer.create_state(exp, checkpointer=None)
  kernel_before = np.array(state.params["extra"]["probe_head"]["probe"]["kernel"])
  step = trainer.make_train_step(exp, shardings)
  batch = next(input_pipeline.make_train_dataset(config.input).as_numpy_iterator())
  state, metrics = step(state, None, trainer.sharding_lib.global_batch(batch, exp.mesh))
  assert set(metrics) >= {"loss/ce", "loss/probe"}
  np.testing.assert_allclose(
      metrics["loss"], metrics["loss/ce"] + 0.5 * metrics["loss/probe"], rtol=1e-5)
  assert not np.allclose(state.params["extra"]["probe_head"]["probe"]["kernel"], kernel_before)
  assert "probe_head" not in jax.device_get(state.params["student"])
