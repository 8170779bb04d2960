"""FitNets hints (Romero et al., ICLR 2015): a learned connector maps the student's
hidden features onto the teacher's, regressed with a squared error.

  L = ce_weight CE + sum_l lambda_l mean (r_l(F_S^l) - F_T^l)^2

r_l is a 1x1x1 convolution (the "regressor" of FitNets; a training-only module,
``params['extra']['connector']``), one per endpoint l; the squared error is the D3D
feature loss (`feature_distillation_loss`, per-element mean per clip, then the batch
mean). FitNets trains the hint in a first stage and the whole student in a second;
here, as in the KD benchmarks that compare it to GKD (MMRazor), the hint loss is added
to the cross-entropy in one stage. Default: the hint at Mixed_5c (the layer GKD distils)
with lambda 1. The connector outputs the student's width unless
`objective.teacher_channels` names the teacher's width of an endpoint.
"""

import flax.linen as nn
import ml_collections

from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy
from d3d_jax.objectives.d3d import feature_distillation_loss

CONNECTOR = "connector"


class Connector(nn.Module):
  """A 1x1x1 convolution per endpoint: {endpoint: student features -> teacher width}."""

  endpoints: tuple
  teacher_channels: tuple = ()  # (endpoint, channels) pairs

  @nn.compact
  def __call__(self, outputs):
    widths = dict(self.teacher_channels)
    mapped = {}
    for name in self.endpoints:
      if name not in outputs.endpoints:
        raise ValueError(f"objective.feature_weights names {name!r}, which is not an "
                         f"endpoint of the student; endpoints: {sorted(outputs.endpoints)}")
      x = outputs.endpoints[name]
      mapped[name] = nn.Conv(widths.get(name, x.shape[-1]), (1, 1, 1),
                             name=name.replace("/", "_"))(x)
    return mapped


class FitNets(Objective):
  """``fitnets``: CE plus the hint regression through a learned connector."""

  needs_teacher = True

  @classmethod
  def default_config(cls):
    c = classification_config()
    # Endpoint -> lambda of its hint loss.
    c.feature_weights = ml_collections.ConfigDict({"Mixed_5c": 1.0})
    # Endpoint -> the teacher's channels there, where they differ from the student's.
    c.teacher_channels = ml_collections.ConfigDict()
    return c

  def extra_modules(self):
    c = self.config
    return {CONNECTOR: Connector(tuple(sorted(c.feature_weights.keys())),
                                 tuple(sorted(c.teacher_channels.items())))}

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None):
    c = self.config
    mapped = extra(CONNECTOR, student)
    terms = {"ce": LossTerm(cross_entropy(student.logits, batch["label"], c.label_smoothing),
                            c.ce_weight)}
    for name, weight in c.feature_weights.items():
      terms[f"hint/{name}"] = LossTerm(
          feature_distillation_loss(mapped[name], teacher.endpoints[name]), weight)
    return terms
