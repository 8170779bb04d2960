"""W3's mature feature-guided regularisation, MFR (Perez-Rua et al., ECCV 2020, Sec. 3.4).

Two stages of the same network (W3 modules + attention-guided refinement, Eq. 7-8):

* stage 1 trains it with cross-entropy until convergence (objective ``ce``): the
  "mature" model P;
* stage 2 trains an identical, freshly initialised model Q with cross-entropy plus the
  feature-mimicking loss of Eq. 9 to P's refined final features y (Eq. 8), frame by
  frame: ``L_fm = || y_i^Q - y_i^P ||``. P is stage 1's workdir, loaded whole (its W3
  modules and refinement included) as the frozen teacher: ``teacher.checkpoint`` names
  it and ``teacher.model`` repeats ``model``.

Eq. 9 is `FeatureDistillation`'s squared error at the refined features (endpoint
``AttentionRefinement``): per clip over all T' x H x W x C elements, which is the sum
(``reduction='sum'``) or mean ('mean') over the frames of each frame's squared error,
then the batch mean. Where the paper is silent:

* Eq. 9 writes the 2-norm and calls it a "regression loss"; the squared error (the
  usual feature-regression loss, FitNets [38], and D3D's Eq. 2 here) is used, so the
  gradient shrinks as Q approaches P instead of keeping a constant size;
* its weight: the paper sums it with the cross-entropy ("the summation of ..."), so
  lambda = 1 with the per-element mean ('mean'), which keeps it on the cross-entropy's
  scale whatever the feature size.

"Frames" in a 3-D network: TSM keeps every input frame to the end, so its frame-level
features and predictions are per input frame. I3D / S3D-G halve time three times
(Conv3d_1a, MaxPool3d_4a, MaxPool3d_5a): their final features have T/8 time steps,
each a "frame" covering 8 input frames (more with the receptive field), and the head's
[2, 7, 7] average pool leaves T/8 - 1 of them. The head classifies each of those
(``Logits_per_time``) and the video-level prediction is their mean (``Logits``),
which is "averaging the frame-level predictions" (Sec. 3.4) at that stride.
"""

import ml_collections

from d3d_jax.objectives.d3d import FeatureDistillation

REFINED_FEATURES = "AttentionRefinement"


class MatureFeatureRegularization(FeatureDistillation):
  """``w3_mfr``: L = ce_weight * CE + lambda * ||y^Q - y^P||^2 (W3 Eq. 9), stage 2 of MFR."""

  @classmethod
  def default_config(cls):
    c = super().default_config()
    # Endpoint -> lambda of Eq. 9: the refined final features y of Eq. 8, weight 1.
    c.feature_weights = ml_collections.ConfigDict({REFINED_FEATURES: 1.0})
    # Squared error per clip over all frames' elements: 'mean' keeps lambda = 1 on the
    # cross-entropy's scale; 'sum' is the frames' summed squared errors.
    c.reduction = "mean"
    return c
