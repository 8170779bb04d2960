"""Named evaluators (`config.evals`): their numbers by hand, their config checks, and a
whole attention-distillation run evaluated with all three."""

import json

import ml_collections
import numpy as np
import pytest

from d3d_jax import evaluation, trainer
from d3d_jax.evaluators import EvalContext, build_evaluators, evaluator_config
from d3d_jax.evaluators.attention_maps import attention_overlay
from d3d_jax.objectives import objective_config
from tests.trainer.conftest import tiny_config


def _context(**fields):
  defaults = dict(input_config=None, num_videos=2, num_classes=3, class_names=("a", "b", "c"),
                  student_endpoints=("Attention/map", "Attention/map_log", "Mixed_3b"),
                  student_modality="rgb")
  return EvalContext(**{**defaults, **fields})


def _batch(mask=(True, True, False)):
  return {"mask": np.array(mask), "video_index": np.arange(len(mask)),
          "label": np.zeros(len(mask), np.int64), "rgb": np.zeros((len(mask), 4, 8, 8, 3))}


def _evaluators(**sections):
  return build_evaluators(ml_collections.ConfigDict(sections), _context())


def test_teacher_student_distance_by_hand():
  # Two real views (the third is padding): logit differences (1, -1, 0) and (0, 0, 3).
  student = np.array([[1., 0., 0.], [0., 0., 3.], [9., 9., 9.]])
  teacher = np.array([[0., 1., 0.], [0., 0., 0.], [0., 0., 0.]])
  evaluator = _evaluators(d=evaluator_config("teacher_student_distance"))["d"]
  evaluator.update({"student": {"logits": student}, "teacher": {"logits": teacher}}, _batch())
  metrics = evaluator.result()
  # Mean over classes then views: (2/3 + 9/3) / 2.
  np.testing.assert_allclose(metrics["teacher_student/logit_mse"], (2 / 3 + 3) / 2)
  # KL(teacher || student) per view, from the softmaxes.
  def kl(t, s):
    p, q = np.exp(t) / np.exp(t).sum(), np.exp(s) / np.exp(s).sum()
    return np.sum(p * np.log(p / q))
  np.testing.assert_allclose(metrics["teacher_student/kl"],
                             (kl(teacher[0], student[0]) + kl(teacher[1], student[1])) / 2,
                             rtol=1e-6)  # jax.nn.log_softmax runs in float32
  # argmax 0 vs 1 (differ), 2 vs 0 (differ: the teacher's ties pick class 0).
  assert metrics["teacher_student/agreement"] == 0.0


def test_attention_maps_entropy_and_kl_to_the_teacher_by_hand():
  # One real view, 2 time slices of 1x2 cells: slice 0 uniform (entropy 1 after / log 2),
  # slice 1 one-hot-ish (0.9, 0.1).
  p = np.array([[[[0.5, 0.5]], [[0.9, 0.1]]]])
  q = np.array([[[[0.25, 0.75]], [[0.5, 0.5]]]])
  evaluator = _evaluators(a=evaluator_config("attention_maps", teacher_map="Attention/map",
                                             num_clips=0))["a"]
  outputs = {"student": {"Attention/map": p, "Attention/map_log": np.log(p)},
             "teacher": {"Attention/map": q, "Attention/map_log": np.log(q)}}
  evaluator.update(outputs, _batch(mask=(True,)))
  metrics = evaluator.result()
  entropy_1 = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1)) / np.log(2)
  np.testing.assert_allclose(metrics["attention/map/entropy"], (1.0 + entropy_1) / 2)
  kl = (0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
        + 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5))  # sum over t, Eq. 6
  np.testing.assert_allclose(metrics["attention/map/kl_to_teacher"], kl)


def test_an_evaluator_section_with_a_foreign_key_is_an_error():
  section = evaluator_config("multiview")
  section.teacher_map = "Attention/map"
  with pytest.raises(ValueError, match=r"config.evals.mv: keys \['teacher_map'\]"):
    _evaluators(mv=section)
  with pytest.raises(ValueError, match="config.evals.x.type is 'accuracy'"):
    _evaluators(x=ml_collections.ConfigDict({"type": "accuracy"}))


def test_attention_maps_needs_a_network_with_maps():
  with pytest.raises(ValueError, match="no Attention/ maps"):
    build_evaluators(ml_collections.ConfigDict({"a": evaluator_config("attention_maps")}),
                     _context(student_endpoints=("Mixed_3b",)))


def test_attention_overlay_puts_the_heat_where_the_map_is():
  clip = np.full((4, 8, 8, 3), -1.0)  # black frames
  attention = np.zeros((2, 2, 2))
  attention[:, 0, 0] = 1.0  # all mass in the top-left cell
  picture = attention_overlay(clip, {"map": attention}, alpha=1.0)
  assert picture.shape == (2 * 8 * 16, 2 * 8 * 16, 3)  # 8-px frames are enlarged 16x
  heat = picture[8 * 16:].astype(float)  # the map's row
  # 'jet' at the maximum is dark red, at zero dark blue: inside the first frame's cell
  # (128 px), red is high at its top-left and absent at its bottom-right.
  assert heat[:32, :32, 0].mean() > 100 and heat[96:128, 96:128, 0].mean() < 10


def test_a_prob_distill_run_is_evaluated_by_all_three_evaluators(tiny_dataset, tmp_path):
  attention = {"model.options.head": "prob_atten",
               "model.options.attention_source": "Conv3d_2c_3x3"}
  teacher_config = tiny_config(tiny_dataset, "flow", "ce", total_steps=2, **attention)
  teacher_config.objective = objective_config("attention_prior")
  teacher_dir = str(tmp_path / "teacher")
  trainer.train(teacher_config, teacher_dir)

  config = tiny_config(tiny_dataset, "rgb", "ce", total_steps=2, **attention)
  config.model.options.head = "prob_distill"
  config.input.modalities = ("rgb", "flow")
  config.objective = objective_config("attention_distill")
  config.teacher.checkpoint = teacher_dir
  config.teacher.model = teacher_config.model
  config.evals.attention_maps = evaluator_config("attention_maps", teacher_map="Attention/map",
                                                 num_clips=2)
  config.evals.teacher_student = evaluator_config("teacher_student_distance")
  workdir = str(tmp_path / "student")
  trainer.train(config, workdir)
  metrics = evaluation.evaluate_workdir(config, workdir)

  assert metrics["num_videos"] == 8 and 0 <= metrics["top1@1x1"] <= 1
  for name in ("motion", "appearance"):
    assert 0 < metrics[f"attention/{name}/entropy"] <= 1
  assert metrics["attention/motion/kl_to_teacher"] >= 0
  assert 0 <= metrics["teacher_student/agreement"] <= 1
  pictures = sorted((tmp_path / "student" / "eval" / "attention").iterdir())
  assert [p.name for p in pictures] == ["step2_clip0.png", "step2_clip1.png"]
  per_class = json.loads((tmp_path / "student" / "eval" /
                          "model_per_class_accuracy.json").read_text())
  assert len(per_class) == 4

  written = evaluation.draw_attention(config, workdir, config.evals.attention_maps,
                                      max_batches=1)
  assert len(written) == 2
