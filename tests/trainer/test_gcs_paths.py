"""Every path on gs://: train, checkpoint, resume, export, teacher, init_from, eval.

A local GCS (gcp-storage-emulator, `tests/gcs_emulator.py`, the `gcs` fixture)
serves one bucket; every client of a run reaches it through its own documented setting:
TensorFlow's GCS filesystem (epath's backend when TensorFlow is installed, so all
our own file I/O and orbax's directories and metadata; tf.data for the TFRecords;
tf.summary for TensorBoard) through libcurl's proxy and CA variables, tensorstore
(orbax's array data) through TENSORSTORE_GCS_HTTP_URL. Nothing in the code under
test knows about the emulator.
"""

import os

import tensorflow as tf

from d3d_jax import evaluation, trainer
from d3d_jax.checkpointing import Checkpointer
from tests.trainer.conftest import tiny_config


def _copy_tree(local: str, url: str) -> None:
  for root, _, files in os.walk(local):
    for name in files:
      path = os.path.join(root, name)
      tf.io.gfile.makedirs(os.path.dirname(f"{url}/{os.path.relpath(path, local)}"))
      tf.io.gfile.copy(path, f"{url}/{os.path.relpath(path, local)}", overwrite=True)


def test_a_teacher_and_a_d3d_student_run_with_every_path_on_gcs(gcs, tiny_dataset):
  bucket, list_objects = gcs
  data_dir = f"{bucket}/data"
  _copy_tree(tiny_dataset, data_dir)

  teacher = f"{bucket}/runs/teacher"
  trainer.train(tiny_config(data_dir, "flow", "ce", total_steps=3), teacher)
  resumed = tiny_config(data_dir, "flow", "ce", total_steps=6)
  checkpointer = Checkpointer(teacher, resumed.checkpoint)
  assert checkpointer.latest_step() == 3  # the re-run finds the first run's checkpoint
  checkpointer.close()
  trainer.train(resumed, teacher)

  student = f"{bucket}/runs/d3d"
  config = tiny_config(data_dir, "rgb", "d3d_logits", total_steps=3, **{
      "teacher.checkpoint": teacher, "objective.distill_weight": 1.0})
  trainer.train(config, student)
  metrics = evaluation.evaluate_workdir(config, student)
  top1 = [v for k, v in metrics.items() if k.startswith("top1")]
  assert top1 and all(0.0 <= v <= 1.0 for v in top1)

  finetuned = f"{bucket}/runs/finetuned"
  trainer.train(tiny_config(data_dir, "flow", "ce", total_steps=1, **{
      "model.init_from.path": f"{teacher}/export"}), finetuned)

  teacher_objects = list_objects("runs/teacher/")
  assert any(o.startswith("runs/teacher/checkpoints/3/") for o in teacher_objects)
  assert any(o.startswith("runs/teacher/checkpoints/6/") for o in teacher_objects)
  assert "runs/teacher/export/_CHECKPOINT_METADATA" in teacher_objects
  student_objects = list_objects("runs/d3d/")
  assert "runs/d3d/export/_CHECKPOINT_METADATA" in student_objects
  assert "runs/d3d/eval/model_per_class_accuracy.json" in student_objects
  assert any("events.out.tfevents" in o for o in student_objects)  # TensorBoard
  assert "runs/finetuned/export/_CHECKPOINT_METADATA" in list_objects("runs/finetuned/")
