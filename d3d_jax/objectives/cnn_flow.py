"""``cnn_flow``: training D3D's "3D CNN flow" network (Stroud et al., WACV 2020, Sec. 4.1,
Table 6 row "S3D-G with 3D CNN flow").

The network (`d3d_jax.models.cnn_flow`, preset ``s3dg_cnn_flow``) predicts flow from RGB
with an S3D-G trunk up to 3A and a flow decoder, and classifies that flow with an S3D-G
temporal stream. Sec. 5.6: "The flow prediction network is pretrained to reproduce
TV-L1 optical flow, and then is fine-tuned end-to-end with the S3D-G temporal stream on
top." Two phases, in order:

* ``pretrain_flow`` (`pretrain_steps`): L = L_flow, the Sec. 3.1 flow-prediction loss
  (`flow_prediction.flow_loss`: squared error of (mag, sin, cos), sin / cos weighted by
  the target's mag) of the ``PredictedFlow`` endpoint against the clip's TV-L1 flow
  (the records' flow stream, pooled to the decoder's grid: `flow_target`). The flow
  stream (optimizer group `STREAM_GROUP`) is frozen: no update, BatchNorm in inference
  mode.
* ``end_to_end`` (the rest of the run): L = L_a, the action cross-entropy of the stream's
  logits, every part trained; the flow term is still computed and logged, not minimised.

The flow stream starts from a flow S3D-G (``model.init_from`` with ``into=
'FlowStream'``: the paper's "S3D-G pretrained to predict actions from optical flow").
"""

import ml_collections

from d3d_jax import optimizers
from d3d_jax.models.cnn_flow import PREDICTED_FLOW, STREAM
from d3d_jax.objectives.base import LossTerm, Objective, Phase
from d3d_jax.objectives.classification import classification_config, cross_entropy
from d3d_jax.objectives.flow_prediction import flow_loss, flow_target

# The optimizer group of the flow stream (``config.optimizer.groups``), frozen while the
# front-end learns to reproduce TV-L1.
STREAM_GROUP = "flow_stream"


def stream_group() -> ml_collections.ConfigDict:
  """``config.optimizer.groups.flow_stream`` of a ``cnn_flow`` run."""
  return optimizers.group_config(f"^student/{STREAM}/")


# Phases repeat in order; the end-to-end phase is longer than any run, so it lasts
# from `pretrain_steps` to the end.
REST_OF_RUN = 2**30


class CNNFlow(Objective):
  """Pretrain the flow front-end on TV-L1 (L_flow), then end-to-end with L_a."""

  @classmethod
  def default_config(cls):
    c = classification_config()
    # Steps of the TV-L1 pretraining phase; the end-to-end phase is the rest of the run
    # (the paper gives neither length). ce_weight: the action loss (end_to_end).
    c.pretrain_steps = 1000
    # Weight of the flow-prediction loss (pretrain_flow).
    c.flow_weight = 1.0
    return c

  def __init__(self, config):
    super().__init__(config)
    if not 0 < config.pretrain_steps < REST_OF_RUN:
      raise ValueError(f"objective.pretrain_steps must be in [1, {REST_OF_RUN}), got "
                       f"{config.pretrain_steps}")

  def phases(self):
    return (Phase("pretrain_flow", self.config.pretrain_steps, frozen=(STREAM_GROUP,),
                  terms=("flow",)),
            Phase("end_to_end", REST_OF_RUN, terms=("ce",)))

  def loss_terms(self, student, teacher, batch, extra=None):
    del teacher, extra
    if PREDICTED_FLOW not in student.endpoints:
      raise ValueError(f"objective 'cnn_flow' trains the {PREDICTED_FLOW} endpoint of the "
                       f"'s3dg_cnn_flow' network: set model.name='s3dg_cnn_flow'")
    if "flow" not in batch:
      raise ValueError("objective 'cnn_flow' pretrains on the records' TV-L1 flow: add "
                       "'flow' to config.input.modalities")
    prediction = student.endpoints[PREDICTED_FLOW]
    target = flow_target(batch["flow"], prediction.shape[1:4])
    return {"ce": LossTerm(cross_entropy(student.logits, batch["label"],
                                         self.config.label_smoothing), self.config.ce_weight),
            "flow": LossTerm(flow_loss(prediction, target), self.config.flow_weight)}
