"""`flow_epe`: endpoint error of the flow decoders against TV-L1 (D3D Sec. 3.2, Table 1).

For every flow decoder of the objective (`d3d_jax.objectives.flow_prediction`, extra
modules of ``flow_probe`` / ``flow_loss`` runs) it decodes the endpoint the decoder reads
and reports, over the eval split's views (padding rows excluded):

* ``flow_epe/<endpoint>``: the mean EPE in input pixels per frame, against the TV-L1
  flow stream pooled to the endpoint's grid (`endpoint_error`);
* ``flow_epe_zeros/<endpoint>``: the same for a prediction of all zeros (Table 1's
  "All zeros" bracket: the mean TV-L1 displacement length on that grid).

* ``flow_epe_moving/<endpoint>`` and ``flow_epe_moving_zeros/<endpoint>``: the same two
  over the cells whose pooled TV-L1 displacement is longer than `MOVING_PX` only (not in
  the paper). Where little of the picture moves (the synthetic demo: ~17 % of pixels
  move > 0.5 px; static pixels decode to +-0.078 px, half a level of the records' 8-bit
  flow), the all-pixel EPE is dominated by the static background, and this one shows
  how well the moving objects' flow is recovered.

Table 1's other bracket, "flow-stream features", is this evaluator on a probe of a flow
network (`python -m d3d_jax.probe_flow --workdirs=flow:TEACHER_DIR`).

With ``examples > 0`` it also keeps the first `examples` clips' RGB frames, pooled TV-L1
and predicted displacements (`examples_by_endpoint`), for pictures (Figures 5-6).
"""

import jax
import ml_collections
import numpy as np

from d3d_jax.objectives.base import ModelOutputs
from d3d_jax.objectives.flow_prediction import (EndpointFlowDecoder, endpoint_error,
                                                pool_displacement, predicted_displacement)
from d3d_jax.sharding import sum_across_hosts

# Cells whose TV-L1 displacement (input pixels per frame) is longer count as moving.
MOVING_PX = 0.5


class FlowEndpointError:
  name = "flow_epe"
  needs_teacher = False

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    # Clips of the first batches kept for pictures (0 = none).
    c.examples = 0
    return c

  def __init__(self, config, context):
    extra = dict(context.extra_modules or {})
    self.decoders = {module.endpoint: (jax.jit(module.apply), {"params": params})
                     for _, (module, params) in sorted(extra.items())
                     if isinstance(module, EndpointFlowDecoder)}
    if not self.decoders:
      raise ValueError(
          "config.evals: a 'flow_epe' evaluator needs the flow decoders of a 'flow_probe' "
          "or 'flow_loss' objective: config.objective must be one, and an export must "
          "hold its decoders (runs of those objectives export them)")
    self.num_examples = int(config.examples)
    # EPE, zeros EPE (per clip); EPE, zeros EPE, count over moving cells
    self.sums = {e: np.zeros(2, np.float64) for e in self.decoders}
    self.moving = {e: np.zeros(3, np.float64) for e in self.decoders}
    self.count = 0
    self.examples_by_endpoint = {e: [] for e in self.decoders}
    self.example_frames = []

  def endpoints(self) -> tuple[str, ...]:
    return tuple(self.decoders)

  def teacher_endpoints(self) -> tuple[str, ...]:
    return ()

  def input_streams(self) -> tuple[str, ...]:
    """The input streams it reads besides the network's: the flow (and the RGB frames
    when it keeps examples)."""
    return ("flow", "rgb") if self.num_examples else ("flow",)

  def update(self, outputs, batch) -> None:
    keep = np.asarray(batch["mask"]).astype(bool)
    flow = np.asarray(batch["flow"])
    wanted = max(self.num_examples - len(self.example_frames), 0)
    if wanted and "rgb" in batch:
      self.example_frames += list(np.asarray(batch["rgb"])[keep][:wanted])
    for endpoint, (apply, variables) in self.decoders.items():
      features = outputs["student"][endpoint]
      prediction = apply(variables, ModelOutputs(None, {endpoint: features}))
      target = pool_displacement(flow, features.shape[1:4])
      predicted = predicted_displacement(prediction, flow.shape[1:4])
      errors = np.asarray(endpoint_error(predicted, target))[keep]
      zeros = np.asarray(endpoint_error(np.zeros_like(target), target))[keep]
      self.sums[endpoint] += [errors.sum(), zeros.sum()]
      target_kept, predicted_kept = np.asarray(target)[keep], np.asarray(predicted)[keep]
      lengths = np.linalg.norm(target_kept, axis=-1)
      moving = lengths > MOVING_PX
      self.moving[endpoint] += [
          np.linalg.norm(predicted_kept - target_kept, axis=-1)[moving].sum(),
          lengths[moving].sum(), moving.sum()]
      if wanted:
        self.examples_by_endpoint[endpoint] += list(zip(
            np.asarray(target)[keep][:wanted], np.asarray(predicted)[keep][:wanted]))
    self.count += int(keep.sum())

  def result(self) -> dict:
    metrics = {}
    for endpoint, sums in self.sums.items():
      totals = sum_across_hosts(np.append(sums, self.count))
      epe, zeros = totals[:2] / max(totals[2], 1)
      metrics[f"flow_epe/{endpoint}"] = float(epe)
      metrics[f"flow_epe_zeros/{endpoint}"] = float(zeros)
      moving = sum_across_hosts(self.moving[endpoint])
      epe, zeros = moving[:2] / max(moving[2], 1)
      metrics[f"flow_epe_moving/{endpoint}"] = float(epe)
      metrics[f"flow_epe_moving_zeros/{endpoint}"] = float(zeros)
    return metrics
