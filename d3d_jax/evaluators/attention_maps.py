"""`attention_maps`: statistics and pictures of an attention network's maps.

For each map endpoint (``Attention/map``, or Prob-Distill's ``Attention/motion`` and
``Attention/appearance``, and the spatio-temporal masks M^s of W3 / CBAM block modules,
``<block>/W3/spatial_mask``, W3 Fig. 3; all of the student's by default) over the eval
split:

* ``attention/<map>/entropy``: the mean over views and time slices of the slice's
  entropy divided by log(H W): 1 is the uniform map, 0 a single position;
* for a W3 / CBAM mask (sigmoid values, not a distribution),
  ``attention/<block>/<module>/spatial_mask/mean``: its mean value over views and cells;
* with ``teacher_map`` set, ``attention/<map>/kl_to_teacher``: the mean over views of
  sum_t KL[A(t) || A~(t)] (Liu Eq. 6, the distillation term, on held-out clips).

It also draws the first ``num_clips`` views as Liu et al. Fig. 2 does: each map, brought
to the frame size, over the clip's frames, one column per time slice of the map
(`attention_overlay`); the pictures go to TensorBoard (``attention/clip<i>``) and, as
PNG files, to ``<workdir>/eval/attention/step<step>_clip<i>.png``.
`python -m d3d_jax.visualize_attention` draws the same pictures for a finished run.
"""

import io
from typing import Mapping

import jax
import matplotlib
import ml_collections
import numpy as np

matplotlib.use("Agg")
from matplotlib import colormaps, image as mpl_image  # pylint: disable=g-import-not-at-top,wrong-import-position

from d3d_jax.sharding import sum_across_hosts  # pylint: disable=wrong-import-position
from data_pipelines import paths  # pylint: disable=wrong-import-position


MASK_SUFFIX = "/spatial_mask"


def map_endpoints(endpoint_names) -> tuple[str, ...]:
  """The attention-map endpoints among `endpoint_names`: ``Attention/<x>`` (not logs)
  and block modules' spatial masks ``<block>/<module>/spatial_mask``."""
  return tuple(sorted(n for n in endpoint_names
                      if (n.startswith("Attention/") and not n.endswith("_log"))
                      or n.endswith(MASK_SUFFIX)))


def _is_mask(name: str) -> bool:
  return name.endswith(MASK_SUFFIX)


def _metric_name(name: str) -> str:
  if _is_mask(name):
    return f"attention/{name}/mean"
  return f"attention/{name[len('Attention/'):]}/entropy"


def _frames_for_display(clip):
  """[T, H, W, C] model input in [-1, 1] -> [T, H, W, 3] floats in [0, 1]; flow
  (2 channels) is shown as its magnitude."""
  clip = np.asarray(clip, np.float32)
  if clip.shape[-1] == 3:
    return np.clip((clip + 1) / 2, 0, 1)
  magnitude = np.linalg.norm(clip, axis=-1, keepdims=True)
  return np.repeat(np.clip(magnitude / max(float(magnitude.max()), 1e-6), 0, 1), 3, axis=-1)


def attention_overlay(clip, maps: Mapping[str, np.ndarray], alpha: float = 0.5):
  """A picture of `maps` over the frames of `clip`: uint8 [rows * H, cols * W, 3].

  `clip` is one model input [T, H, W, C]; each map is [T', h, w] (one clip's
  endpoint). Row r shows map r; column j the middle frame of time slice j's span of
  frames, with the slice, resized to the frame and scaled to its own maximum, as a
  'jet' heat map blended over it. The first row is the plain frames.
  """
  frames = _frames_for_display(clip)
  t, h, w = frames.shape[:3]
  cols = next(iter(maps.values())).shape[0]
  picked = [min(t - 1, int((j + 0.5) * t / cols)) for j in range(cols)]
  rows = [np.concatenate([frames[i] for i in picked], axis=1)]
  for attention in maps.values():
    attention = np.asarray(attention, np.float32)
    resized = np.asarray(jax.image.resize(attention, (cols, h, w), "bilinear"))
    cells = []
    for j, i in enumerate(picked):
      heat = resized[j] / max(float(resized[j].max()), 1e-12)
      colour = colormaps["jet"](heat)[..., :3]
      cells.append((1 - alpha) * frames[i] + alpha * colour)
    rows.append(np.concatenate(cells, axis=1))
  picture = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
  scale = max(1, 128 // h)  # small frames (the synthetic 32 px) are enlarged to see
  return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)


def write_png(path: str, picture) -> None:
  """Writes a uint8 [H, W, 3] picture as a PNG (any path `paths.resolve` takes)."""
  buffer = io.BytesIO()
  mpl_image.imsave(buffer, picture, format="png")
  target = paths.resolve(path)
  target.parent.mkdir(parents=True, exist_ok=True)
  target.write_bytes(buffer.getvalue())


class AttentionMaps:
  name = "attention_maps"
  needs_teacher = False

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    # Student map endpoints; () = every Attention/<x> map of the student.
    c.maps = ()
    # A teacher map endpoint to compare the student's maps with ('' = none), e.g.
    # 'Attention/map' for Prob-Distill's flow Prob-Atten teacher.
    c.teacher_map = ""
    # The student map compared with the teacher's ('' = Attention/motion if the
    # student has it, else the first of `maps`).
    c.compared_map = ""
    # Views drawn (host 0's first ones).
    c.num_clips = 4
    return c

  def __init__(self, config, context):
    self.config, self.context = config, context
    self.maps = tuple(config.maps) or map_endpoints(context.student_endpoints)
    if not self.maps:
      raise ValueError("config.evals: attention_maps needs a network with an attention "
                       "head (model.options.head) or a block module with spatial masks "
                       "(model.options.block_module 'w3' / 'cbam'); the student has no "
                       "Attention/ maps")
    unknown = set(self.maps) - set(context.student_endpoints)
    if unknown:
      raise ValueError(f"config.evals.attention_maps.maps: {sorted(unknown)} are not "
                       f"endpoints of the student")
    self.compared = config.compared_map or (
        "Attention/motion" if "Attention/motion" in self.maps else self.maps[0])
    self.needs_teacher = bool(config.teacher_map)
    self.map_sums = dict.fromkeys(self.maps, 0.0)
    self.kl_sum = 0.0
    self.count = 0
    self.drawn = []
    self.written = []  # PNG paths

  def endpoints(self) -> tuple[str, ...]:
    return self.maps + tuple(f"{m}_log" for m in self.maps if not _is_mask(m))

  def teacher_endpoints(self) -> tuple[str, ...]:
    t = self.config.teacher_map
    return (t, f"{t}_log") if t else ()

  def update(self, outputs, batch) -> None:
    keep = np.asarray(batch["mask"]).astype(bool)
    student = outputs["student"]
    for name in self.maps:
      p = np.asarray(student[name], np.float64)[keep]
      if _is_mask(name):
        self.map_sums[name] += float(p.reshape(len(p), -1).mean(axis=1).sum())
        continue
      log_p = np.asarray(student[f"{name}_log"], np.float64)[keep]
      hw = p.shape[2] * p.shape[3]
      entropy = -np.sum(p * log_p, axis=(2, 3)) / np.log(hw)
      self.map_sums[name] += float(entropy.mean(axis=1).sum())
    if self.config.teacher_map:
      log_p = np.asarray(student[f"{self.compared}_log"], np.float64)[keep]
      log_q = np.asarray(outputs["teacher"][f"{self.config.teacher_map}_log"],
                         np.float64)[keep]
      self.kl_sum += float(np.sum(np.exp(log_p) * (log_p - log_q), axis=(1, 2, 3)).sum())
    self.count += int(keep.sum())
    modality = self.context.student_modality
    for row in np.flatnonzero(keep):
      if len(self.drawn) >= self.config.num_clips or jax.process_index() > 0:
        break
      maps = {name: np.asarray(student[name])[row] for name in self.maps}
      if self.config.teacher_map:
        maps[f"teacher {self.config.teacher_map}"] = np.asarray(
            outputs["teacher"][self.config.teacher_map])[row]
      self.drawn.append(attention_overlay(np.asarray(batch[modality])[row], maps))

  def result(self) -> dict:
    totals = sum_across_hosts(
        np.array([*self.map_sums.values(), self.kl_sum, self.count], np.float64))
    count = max(totals[-1], 1)
    metrics = {_metric_name(name): float(total / count)
               for name, total in zip(self.maps, totals)}
    if self.config.teacher_map:
      metrics[f"attention/{self.compared[len('Attention/'):]}/kl_to_teacher"] = float(
          totals[-2] / count)
    context = self.context
    if self.drawn and jax.process_index() == 0:
      if context.writer is not None:
        context.writer.write_images(context.step, {
            f"attention/clip{i}": picture[None] for i, picture in enumerate(self.drawn)})
      if context.workdir:
        for i, picture in enumerate(self.drawn):
          path = str(paths.resolve(context.workdir) / "eval" / "attention" /
                     f"step{context.step}_clip{i}.png")
          write_png(path, picture)
          self.written.append(path)
    return metrics
