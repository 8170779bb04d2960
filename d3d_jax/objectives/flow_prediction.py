"""Predicting TV-L1 optical flow from a 3-D CNN's hidden layers (D3D Sec. 3 and 4.1).

Stroud et al. (WACV 2020) probe how much motion an action network's features hold by
training a decoder (`d3d_jax.models.flow_decoders`) on one hidden layer to predict the
clip's TV-L1 flow, scored by endpoint error. The same decoder, trained jointly with the
action loss, is their "flow as supervision" alternative to distillation (Sec. 4.1).

**Target** (Sec. 3.1). The flow stream of the records (``batch['flow']``: x, y in
[-1, 1] = displacement / 20 px, same crop and flip as the RGB) is resampled to the
endpoint's T' x H' x W' by average pooling the displacement over each endpoint cell
(the input is an integer multiple of the endpoint in T, H and W under 'SAME' padding),
then divided by the endpoint's pixel size (the pooling factor in x and y), so the
target is "pixels of this endpoint per input frame". It is written as (mag, sin theta,
cos theta) with theta = atan2(y, x) (Im2Flow's representation; a zero vector gets
theta = 0, i.e. (0, 0, 1)).

**Loss** (Sec. 3.1; the paper gives it in words, no equation number): the squared
error of the three channels with the sin / cos channels weighted by the target's mag,

    L_flow = mean_{b,t,h,w} [ (m' - m)^2 + m ((s' - s)^2 + (c' - c)^2) ],

(m', s', c') the decoder's output, (m, s, c) the target.

**EPE** (Sec. 3.2): the prediction is turned back into a displacement (`from_polar`:
max(m', 0) * (c', s'), not renormalised; see there), scaled to input pixels, and
compared with the pooled TV-L1 displacement in input pixels: the mean over clips and
endpoint cells of the Euclidean distance. A constant flow v has
EPE 0 for the exact answer and |v| for the all-zeros prediction (Table 1's "All zeros"
row).

Objectives (one class, two registry names with different defaults):

* ``flow_probe`` (Sec. 3.2): decoders at `endpoints`, no action loss. With the
  backbone frozen (``config.optimizer.groups``, `frozen_backbone_group`) this is the
  "frozen" setting and the decoders of several layers train in one run, independently
  (each loss term reaches only its own decoder); without it, the "ft" setting
  (fine-tuned end-to-end, one endpoint per run).
* ``flow_loss`` (Sec. 4.1 "flow as supervision", Table 6 "S3D-G with flow loss"):
  L = L_a + L_flow with the Simple decoder at 3A (MaxPool3d_3a_3x3), trained jointly.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from d3d_jax.models.flow_decoders import DECODERS, PWC_CHANNELS, FlowDecoder
from d3d_jax.models.s3dg import BACKBONE_ENDPOINTS
from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective
from d3d_jax.objectives.classification import classification_config, cross_entropy
from d3d_jax import optimizers
from data_pipelines.schema import FLOW_MAX_DISPLACEMENT

# The paper's "3A": the decoders' layer in Table 1, Figures 5-6 and Sec. 4.1.
LAYER_3A = "MaxPool3d_3a_3x3"


# ---------------------------------------------------------------------------------------
# Target, inverse, loss, EPE.


def pooling_factors(input_thw: Sequence[int], endpoint_thw: Sequence[int]) -> tuple:
  """(f_t, f_h, f_w): how many input frames / rows / columns one endpoint cell covers."""
  factors = []
  for axis, size, cells in zip("THW", input_thw, endpoint_thw):
    if cells <= 0 or size % cells:
      raise ValueError(
          f"the flow target pools the input's {tuple(input_thw)} (T, H, W) onto the "
          f"endpoint's {tuple(endpoint_thw)}, but {axis}: {size} is not a multiple of "
          f"{cells}; choose input.num_frames / input.crop_size divisible by the "
          f"endpoint's strides")
    factors.append(size // cells)
  return tuple(factors)


def pool_displacement(flow: jax.Array, endpoint_thw: Sequence[int]) -> jax.Array:
  """[B, T, H, W, 2] flow stream (displacement / 20) -> [B, T', H', W', 2] mean
  displacement over each endpoint cell, in input pixels per frame."""
  b, t, h, w, _ = flow.shape
  ft, fh, fw = pooling_factors((t, h, w), endpoint_thw)
  cells = flow.astype(jnp.float32).reshape(b, t // ft, ft, h // fh, fh, w // fw, fw, 2)
  return jnp.mean(cells, axis=(2, 4, 6)) * FLOW_MAX_DISPLACEMENT


def pixel_size(input_thw: Sequence[int], endpoint_thw: Sequence[int]) -> jax.Array:
  """(x, y) size of one endpoint pixel in input pixels, to scale (x, y) displacements."""
  _, fh, fw = pooling_factors(input_thw, endpoint_thw)
  return jnp.asarray([fw, fh], jnp.float32)


def to_polar(displacement: jax.Array) -> jax.Array:
  """[..., 2] (x, y) -> [..., 3] (mag, sin theta, cos theta), theta = atan2(y, x)."""
  x, y = displacement[..., 0], displacement[..., 1]
  theta = jnp.arctan2(y, x)
  return jnp.stack([jnp.hypot(x, y), jnp.sin(theta), jnp.cos(theta)], axis=-1)


def from_polar(polar: jax.Array) -> jax.Array:
  """[..., 3] (mag, sin, cos) -> [..., 2] (x, y) = max(mag, 0) * (cos, sin).

  The inverse of `to_polar` (whose sin, cos have unit norm). A decoder's (sin, cos) need
  not: where it cannot tell the direction, the loss drives them towards their mean,
  near 0, and the product then shrinks the vector towards 0 instead of pointing a
  full-length vector in an arbitrary direction, as normalising (atan2) would.
  """
  mag = jnp.maximum(polar[..., 0], 0.0)
  return jnp.stack([mag * polar[..., 2], mag * polar[..., 1]], axis=-1)


def flow_target(flow: jax.Array, endpoint_thw: Sequence[int]) -> jax.Array:
  """The decoder's target at an endpoint of T' x H' x W': (mag, sin, cos) of the pooled
  displacement in that endpoint's pixels per input frame."""
  size = pixel_size(flow.shape[1:4], endpoint_thw)
  return to_polar(pool_displacement(flow, endpoint_thw) / size)


def predicted_displacement(prediction: jax.Array, input_thw: Sequence[int]) -> jax.Array:
  """A decoder's (mag, sin, cos) [B, T', H', W', 3] -> displacement in input pixels."""
  return from_polar(prediction.astype(jnp.float32)) * pixel_size(input_thw,
                                                                 prediction.shape[1:4])


def flow_loss(prediction: jax.Array, target: jax.Array) -> jax.Array:
  """Sec. 3.1: squared error, the sin / cos channels weighted by the target's mag;
  summed over the three channels, averaged over clips and cells."""
  prediction = prediction.astype(jnp.float32)
  mag = target[..., 0]
  error = (jnp.square(prediction[..., 0] - mag)
           + mag * jnp.sum(jnp.square(prediction[..., 1:] - target[..., 1:]), axis=-1))
  return jnp.mean(error)


def endpoint_error(displacement: jax.Array, target: jax.Array) -> jax.Array:
  """Sec. 3.2: per clip, the mean over cells of |displacement - target| (Euclidean,
  input pixels); [B, T', H', W', 2] each -> [B]."""
  distance = jnp.linalg.norm(displacement - target, axis=-1)
  return jnp.mean(distance.reshape(distance.shape[0], -1), axis=-1)


# ---------------------------------------------------------------------------------------
# The training-only module and the objectives.


class EndpointFlowDecoder(nn.Module):
  """A `FlowDecoder` reading the network endpoint `endpoint` (an objective's extra module:
  called on the network's `ModelOutputs`)."""

  endpoint: str
  kind: str = "pwc"
  pwc_channels: Sequence[int] = PWC_CHANNELS

  @nn.compact
  def __call__(self, outputs: ModelOutputs) -> jax.Array:
    if self.endpoint not in outputs.endpoints:
      raise ValueError(
          f"objective.endpoints: {self.endpoint!r} is not an endpoint of the network; it "
          f"has {[n for n in BACKBONE_ENDPOINTS if n in outputs.endpoints]} (set "
          f"model.options.final_endpoint to reach deeper layers)")
    return FlowDecoder(self.kind, tuple(self.pwc_channels), name="decoder")(
        outputs.endpoints[self.endpoint])


def decoder_module_name(endpoint: str) -> str:
  """The extra module (``params['extra'][...]``) of the decoder at `endpoint`."""
  return f"flow_decoder_{endpoint}"


def frozen_backbone_group() -> ml_collections.ConfigDict:
  """``config.optimizer.groups.backbone`` of the "frozen" setting: the whole network
  is frozen (no update, BatchNorm in inference mode); only the decoders train."""
  return optimizers.group_config("^student/", frozen=True)


class FlowProbe(Objective):
  """``flow_probe``: L = ce_weight * L_a + flow_weight * sum over endpoints of L_flow."""

  @classmethod
  def default_config(cls):
    c = classification_config()
    c.ce_weight = 0.0
    # Layers the decoders read (names of d3d_jax.models.s3dg.BACKBONE_ENDPOINTS).
    c.endpoints = (LAYER_3A,)
    # 'simple' | 'spatial' | 'pwc' (Figure 3); pwc_channels: PWC's C_L (Sec. 3.1).
    c.decoder = "pwc"
    c.pwc_channels = PWC_CHANNELS
    # Weight of each layer's flow-prediction loss (Sec. 3.1).
    c.flow_weight = 1.0
    return c

  def __init__(self, config):
    super().__init__(config)
    if config.decoder not in DECODERS:
      raise ValueError(f"objective.decoder must be one of {DECODERS}, got "
                       f"{config.decoder!r}")
    unknown = [e for e in config.endpoints if e not in BACKBONE_ENDPOINTS]
    if unknown or not config.endpoints:
      raise ValueError(f"objective.endpoints {tuple(config.endpoints)}: each must be one "
                       f"of {BACKBONE_ENDPOINTS}, and at least one is needed")

  @property
  def exported_extra_modules(self) -> tuple[str, ...]:
    """The decoders go into the export beside the network, so ``flow_epe`` can
    evaluate an export (`d3d_jax.evaluation.evaluate_workdir`)."""
    return tuple(decoder_module_name(e) for e in self.config.endpoints)

  def extra_modules(self):
    return {decoder_module_name(e): EndpointFlowDecoder(
        e, self.config.decoder, tuple(self.config.pwc_channels))
            for e in self.config.endpoints}

  def loss_terms(self, student, teacher, batch, extra=None):
    del teacher
    if "flow" not in batch:
      raise ValueError(f"objective {self.config.name!r} predicts the flow stream: add "
                       f"'flow' to config.input.modalities")
    terms = {}
    if self.config.ce_weight:
      terms["ce"] = LossTerm(cross_entropy(student.logits, batch["label"],
                                           self.config.label_smoothing),
                             self.config.ce_weight)
    for endpoint in self.config.endpoints:
      prediction = extra(decoder_module_name(endpoint), student)
      target = flow_target(batch["flow"], prediction.shape[1:4])
      terms[f"flow/{endpoint}"] = LossTerm(flow_loss(prediction, target),
                                           self.config.flow_weight)
    return terms


class FlowLoss(FlowProbe):
  """``flow_loss`` (Sec. 4.1 "flow as supervision"): L = L_a + L_flow, the Simple decoder
  at 3A trained jointly with the whole network."""

  @classmethod
  def default_config(cls):
    c = super().default_config()
    c.ce_weight = 1.0
    c.decoder = "simple"
    return c
