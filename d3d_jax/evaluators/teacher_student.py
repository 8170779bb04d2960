"""`teacher_student_distance`: how far the student's predictions are from its teacher's.

On the eval split (every view, padding rows excluded), for distillation runs:

* ``logit_mse``: the mean over classes and views of (f_s - f_t)^2, D3D's Eq. 2 with
  the per-element mean (the quantity D3D minimises, on held-out clips);
* ``kl``: the mean over views of KL(softmax(f_t) || softmax(f_s)), the teacher's
  distribution first (Hinton et al.'s direction);
* ``agreement``: the fraction of views on which both networks predict the same class.

Metric names are prefixed ``teacher_student/``.
"""

import jax
import ml_collections
import numpy as np

from d3d_jax.sharding import sum_across_hosts


class TeacherStudentDistance:
  name = "teacher_student_distance"
  needs_teacher = True

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict()

  def __init__(self, config, context):
    del config, context
    self.sums = np.zeros(3, np.float64)  # squared error per class, KL, agreement
    self.count = 0

  def endpoints(self) -> tuple[str, ...]:
    return ()

  def teacher_endpoints(self) -> tuple[str, ...]:
    return ()

  def update(self, outputs, batch) -> None:
    keep = np.asarray(batch["mask"]).astype(bool)
    student = np.asarray(outputs["student"]["logits"], np.float64)[keep]
    teacher = np.asarray(outputs["teacher"]["logits"], np.float64)[keep]
    log_s = np.asarray(jax.nn.log_softmax(student, axis=-1))
    log_t = np.asarray(jax.nn.log_softmax(teacher, axis=-1))
    self.sums += [np.mean(np.square(student - teacher), axis=-1).sum(),
                  np.sum(np.exp(log_t) * (log_t - log_s), axis=-1).sum(),
                  np.sum(student.argmax(-1) == teacher.argmax(-1))]
    self.count += int(keep.sum())

  def result(self) -> dict:
    totals = sum_across_hosts(np.append(self.sums, self.count))
    mse, kl, agreement = totals[:3] / max(totals[3], 1)
    return {"teacher_student/logit_mse": float(mse), "teacher_student/kl": float(kl),
            "teacher_student/agreement": float(agreement)}
