"""D3D's "3D CNN flow" network (Stroud et al., WACV 2020, Sec. 4.1 and Table 6).

"Flow as a learnable input representation": the first layers of an RGB S3D-G, up to
"3A" (``MaxPool3d_3a_3x3``), with a flow decoder of Sec. 3.1 (`FlowDecoder`, 'simple'
in Sec. 4.1) predict optical flow; that flow is the input of an S3D-G temporal stream
(a flow network, pretrained on TV-L1 flow), and the whole is trained end-to-end. The
network reads RGB only: at inference no optical flow is computed.

    RGB [B, T, H, W, 3] --FlowNet (S3D-G trunk to 3A)--> [B, T/2, H/8, W/8, C]
        --FlowDecoder--> PredictedFlow (mag, sin, cos) in 3A pixels per input frame
        --to displacement, resized to T x H x W, / 20--> PredictedFlowInput [B, T, H, W, 2]
        --FlowStream (S3D-G on flow)--> logits

What the paper leaves open, and the choices here:

* the predicted flow has the decoder's resolution (28 x 28 for 224 px input); the
  temporal stream was trained on full-resolution TV-L1 flow, so the displacement is
  resized to the input's T x H x W (linear interpolation, differentiable, as the
  end-to-end training needs) and given in the flow stream's units (displacement / 20 px,
  clipped to [-1, 1] as the records' flow is: ``data_pipelines.schema``);
* the front-end is its own S3D-G trunk (the paper: "a separate S3D-G"), without a
  classifier; its widths and conventions are the network's options, as the stream's;
* training (`d3d_jax.objectives.cnn_flow`): the front-end and decoder are first
  trained to reproduce TV-L1 (the Sec. 3.1 loss on ``PredictedFlow``, the stream
  frozen), then everything with the action loss.

Endpoints: the flow stream's, by their usual names (``Mixed_5c``, ``Logits``, ...),
the front-end's as ``FlowNet/<name>``, and ``PredictedFlow`` / ``PredictedFlowInput``.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.models.flow_decoders import FlowDecoder, PWC_CHANNELS
from d3d_jax.models.s3dg import BACKBONE_ENDPOINTS, S3DG
from data_pipelines.schema import FLOW_MAX_DISPLACEMENT

# The paper's "3A": where the front-end ends (Sec. 4.1).
FLOW_LAYER = "MaxPool3d_3a_3x3"
FRONT_END, DECODER, STREAM = "FlowNet", "FlowDecoder", "FlowStream"
PREDICTED_FLOW = "PredictedFlow"
PREDICTED_FLOW_INPUT = "PredictedFlowInput"
# S3DG attributes the front-end does not take from the network's (it has no head).
_FRONT_END_OWN = ("num_classes", "input_channels", "final_endpoint", "head",
                  "block_module", "block_module_blocks", "block_module_options",
                  "attention_refinement", "refinement_blocks")


def displacement_to_flow_input(polar: jax.Array, input_thw) -> jax.Array:
  """A decoder's (mag, sin, cos) [B, T', H', W', 3] in endpoint pixels per input frame ->
  the flow stream's input [B, T, H, W, 2]: (x, y) displacement in input pixels, resized
  to `input_thw`, / 20 and clipped to [-1, 1] (the records' flow encoding)."""
  # The inverse of flow_prediction.flow_target's scaling (pixels of a T'xH'xW' grid).
  from d3d_jax.objectives.flow_prediction import predicted_displacement  # pylint: disable=g-import-not-at-top
  displacement = predicted_displacement(polar, input_thw)
  b = displacement.shape[0]
  resized = jax.image.resize(displacement, (b, *input_thw, 2), method="linear")
  return jnp.clip(resized / FLOW_MAX_DISPLACEMENT, -1.0, 1.0)


class CNNFlowS3DG(S3DG):
  """RGB -> learned flow (S3D-G trunk to `flow_layer` + `flow_decoder`) -> flow S3D-G.

  Every S3DG attribute configures the flow stream (and the front-end's trunk: widths,
  temporal kernels, gating, BN and padding conventions). `input_channels` is the RGB
  input's (3). Attributes of its own:
    flow_layer: the front-end's last endpoint (the paper's 3A).
    flow_decoder: 'simple' (Sec. 4.1), 'spatial' or 'pwc' (Sec. 5.6's Table 6 runs).
    flow_decoder_channels: C_L of the 'pwc' decoder.
  """

  flow_layer: str = FLOW_LAYER
  flow_decoder: str = "simple"
  flow_decoder_channels: tuple = PWC_CHANNELS

  def new_modules(self) -> tuple[str, ...]:
    """A published S3D-G fills none of the three parts' paths as they are; the flow
    stream loads with ``model.init_from.into='FlowStream'`` (`load_init_from`)."""
    return ()

  def stream_attributes(self) -> dict:
    """The S3DG attributes of the flow stream: this module's, with 2 input channels."""
    fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(S3DG)
              if f.name not in ("parent", "name")}
    return dict(fields, input_channels=2)

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.flow_layer not in BACKBONE_ENDPOINTS:
      raise ValueError(f"flow_layer must be one of {BACKBONE_ENDPOINTS}, got "
                       f"{self.flow_layer!r}")
    if x.ndim != 5 or x.shape[-1] != self.input_channels:
      raise ValueError(f"the 3D CNN flow network reads an NTHWC RGB clip with "
                       f"{self.input_channels} channels, got shape {x.shape}")
    stream = self.stream_attributes()
    front = {k: v for k, v in stream.items() if k not in _FRONT_END_OWN}
    _, front_endpoints = S3DG(input_channels=self.input_channels,
                              final_endpoint=self.flow_layer, head="none", **front,
                              name=FRONT_END)(x, train)
    polar = FlowDecoder(self.flow_decoder, tuple(self.flow_decoder_channels),
                        self.options.lowering, name=DECODER)(front_endpoints[self.flow_layer])
    flow = displacement_to_flow_input(polar, x.shape[1:4])
    logits, endpoints = S3DG(**stream, name=STREAM)(flow.astype(self.options.dtype), train)
    endpoints = dict(endpoints)
    endpoints.update({f"{FRONT_END}/{k}": v for k, v in front_endpoints.items()})
    endpoints[PREDICTED_FLOW] = polar
    endpoints[PREDICTED_FLOW_INPUT] = flow
    return logits, endpoints
