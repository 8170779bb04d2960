"""The ``attention_maps`` evaluator also measures and draws W3's spatio-temporal masks M^s
(``<block>/W3/spatial_mask``, W3 Fig. 3): their mean by hand, one picture row each."""

import ml_collections
import numpy as np

from d3d_jax.evaluators import EvalContext, build_evaluators, evaluator_config
from d3d_jax.evaluators.attention_maps import map_endpoints


def _evaluator(endpoints, **fields):
  context = EvalContext(input_config=None, num_videos=2, num_classes=3,
                        class_names=("a", "b", "c"), student_endpoints=endpoints,
                        student_modality="rgb")
  return build_evaluators(ml_collections.ConfigDict(
      {"a": evaluator_config("attention_maps", **fields)}), context)["a"]


def test_w3_spatial_masks_are_attention_maps_and_channel_masks_are_not():
  names = ("Mixed_3b", "Mixed_3b/W3/spatial_mask", "Mixed_3b/W3/channel_mask",
           "Mixed_3c/CBAM/spatial_mask", "Attention/map", "Attention/map_log")
  assert map_endpoints(names) == (
      "Attention/map", "Mixed_3b/W3/spatial_mask", "Mixed_3c/CBAM/spatial_mask")


def test_w3_mask_mean_by_hand_and_one_picture_row_per_mask():
  evaluator = _evaluator(("Mixed_3b/W3/spatial_mask", "Mixed_3c/W3/spatial_mask"),
                         num_clips=1)
  assert evaluator.endpoints() == ("Mixed_3b/W3/spatial_mask", "Mixed_3c/W3/spatial_mask")
  # Two real views (the third is padding), masks [T=2, 2, 2]: view means 0.25 and 0.75.
  mask_b = np.stack([np.full((2, 2, 2), 0.25), np.full((2, 2, 2), 0.75),
                     np.full((2, 2, 2), 9.0)])
  mask_c = np.zeros((3, 1, 1, 1))
  batch = {"mask": np.array([True, True, False]), "video_index": np.arange(3),
           "label": np.zeros(3, np.int64), "rgb": np.zeros((3, 4, 8, 8, 3))}
  evaluator.update({"student": {"Mixed_3b/W3/spatial_mask": mask_b,
                                "Mixed_3c/W3/spatial_mask": mask_c}}, batch)
  metrics = evaluator.result()
  assert metrics == {"attention/Mixed_3b/W3/spatial_mask/mean": 0.5,
                     "attention/Mixed_3c/W3/spatial_mask/mean": 0.0}
  picture = evaluator.drawn[0]
  assert picture.shape == (3 * 8 * 16, 2 * 8 * 16, 3)  # frames + one row per mask
