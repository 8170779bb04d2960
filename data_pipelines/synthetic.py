r"""A synthetic video dataset whose classes are defined by motion only.

Each video shows one or more textured objects moving over a static textured
background. The class is the motion: translation in one of 8 directions,
rotation clockwise / counter-clockwise, expansion / contraction. Colours,
textures, shapes, sizes, positions, speeds and the number of objects are
drawn independently of the class, and objects are often camouflaged with the
background's palette, so no single frame tells the class apart: an optical-
flow network finds the task easy, while an RGB network has to learn motion
from frame differences. That is the setting in which distilling a flow
teacher into an RGB student helps (D3D, Stroud et al. 2020).

The TFRecords are written through the same writer as real videos
(`write_tfrecords.write_split`) with flow from the same TV-L1 code
(`tvl1.compute_flow`, `TVL1Params.fast()` by default), never analytic flow.
`write_videos=True` also writes .mp4 files (`videos/SPLIT/CLASS/ID.mp4`) so
the video tool can be exercised end to end. `--output_dir` may be a URL
(gs://...): every file goes through `data_pipelines.paths` (etils.epath).

  python -m data_pipelines.synthetic --output_dir=/tmp/synth \
      --num_classes=8 --train_videos_per_class=40 --test_videos_per_class=10

Everything is deterministic for a seed: video i of a split is rendered from
`np.random.default_rng([seed, crc32(split), i])` and gets class i mod K.

Horizontal flips change the class of left/right/diagonal translations and of
rotations: train on this data with `input.random_flip = False`.
"""

from __future__ import annotations

if __name__ == '__main__':
  # Before TensorFlow is imported below: drop its C++ start-up noise from stderr.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()

import colorsys
import dataclasses
import math
import os
import sys
import time
import zlib
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from data_pipelines import label_map as label_map_lib
from data_pipelines import paths
from data_pipelines import tvl1
from data_pipelines import video_io
from data_pipelines import write_tfrecords

# The motion classes, in the order `num_classes` takes them: the first 8 are
# the 4 axis-aligned translations plus rotation and scaling pairs, so small K
# still mixes motion types.
MOTIONS = ('right', 'left', 'up', 'down', 'rotate_cw', 'rotate_ccw', 'expand',
           'contract', 'up_right', 'down_left', 'up_left', 'down_right')

_DIRECTIONS = {
    'right': (1, 0), 'left': (-1, 0), 'up': (0, -1), 'down': (0, 1),
    'up_right': (1, -1), 'down_left': (-1, 1), 'up_left': (-1, -1),
    'down_right': (1, 1),
}

FPS = 25.0


@dataclasses.dataclass(frozen=True)
class RenderOptions:
  """How synthetic videos look (every field is class-independent).

  Attributes:
    num_frames: frames per video.
    height: frame height in pixels.
    width: frame width in pixels.
    max_objects: each video has 1..max_objects objects, all with the class
      motion (each with its own speed).
    object_size: (min, max) object radius as a fraction of the short side.
    speed: (min, max) speed of a translating object (and of the rim of a
      rotating one) in short sides per frame; at 32x32 the default is
      0.6-1.3 px/frame. Objects that leave the frame re-enter on the
      opposite side (the scene wraps around), so any video length works.
    scale_rate: (min, max) change of log(size) per frame for expand /
      contract, reduced for long videos so the size changes by at most
      `max_scale_ratio` over the video.
    max_scale_ratio: largest size ratio between first and last frame.
    camouflage: probability that an object's texture uses the background's
      colours (then only motion separates it from the background).
    noise_std: std of per-frame Gaussian pixel noise (0-255 scale).
    scene_cue: probability that the background takes its class's own colour
      pair (`class_palette`) instead of a random one: a scene that predicts
      the action without showing it, like the settings of Kinetics classes.
      An RGB network can shortcut through it; flow does not see colour.
      0 keeps every field class-independent.
  """
  num_frames: int = 16
  height: int = 32
  width: int = 32
  max_objects: int = 2
  object_size: tuple[float, float] = (0.18, 0.3)
  speed: tuple[float, float] = (0.02, 0.04)
  scale_rate: tuple[float, float] = (0.03, 0.06)
  max_scale_ratio: float = 4.0
  camouflage: float = 0.5
  noise_std: float = 2.0
  scene_cue: float = 0.0

  def __post_init__(self):
    if self.num_frames < 2:
      raise ValueError(f'num_frames must be >= 2, got {self.num_frames}')
    if min(self.height, self.width) < 8:
      raise ValueError(f'frames must be at least 8x8, got '
                       f'{self.height}x{self.width}')
    if self.max_objects < 1:
      raise ValueError(f'max_objects must be >= 1, got {self.max_objects}')


def class_names(num_classes: int) -> list[str]:
  """The motion names of the first `num_classes` classes (unsorted)."""
  if not 2 <= num_classes <= len(MOTIONS):
    raise ValueError(f'num_classes must be in [2, {len(MOTIONS)}], got '
                     f'{num_classes}')
  return list(MOTIONS[:num_classes])


# ---------------------------------------------------------------------------
# Rendering.


def _palette(rng: np.random.Generator) -> np.ndarray:
  """Two random, clearly different RGB colours (float 0-255)."""
  while True:
    colours = rng.uniform(0, 255, size=(2, 3))
    if np.abs(colours[0] - colours[1]).sum() > 120:
      return colours


def class_palette(motion: str) -> np.ndarray:
  """The colour pair of a motion class's 'scene': a dark and a light shade of one hue.

  Hues are spread evenly over the classes of MOTIONS, so every class has its own.
  """
  hue = MOTIONS.index(motion) / len(MOTIONS)
  shades = [colorsys.hsv_to_rgb(hue, 0.8, value) for value in (0.35, 0.95)]
  return np.array(shades, np.float64) * 255


def _texture(rng: np.random.Generator, h: int, w: int, palette: np.ndarray,
             stripes: bool = True) -> np.ndarray:
  """A random texture [h, w, 3] float: blobs, stripes or checks, 2 colours.

  Features are a few pixels across whatever the frame size, so every moving
  surface has texture for TV-L1 to track. Objects get no stripes: stripes
  parallel to the motion would hide it (the aperture problem).
  """
  kind = rng.choice([0, 1, 2] if stripes else [0, 2])
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
  if kind == 0:  # Noise blobs about 4 px across.
    cells_y, cells_x = max(2, h // 4), max(2, w // 4)
    small = rng.uniform(0, 1, size=(cells_y, cells_x)).astype(np.float32)
    t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
  elif kind == 1:  # Oriented stripes.
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, 7)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(
        angle)) / period + rng.uniform(0, 2 * np.pi))
  else:  # Checks.
    period = rng.uniform(2.5, 4.5)
    t = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(
        np.float32)
    t = cv2.GaussianBlur(t, (0, 0), 0.7)
  t = np.clip(t, 0, 1)[..., None]
  fine = rng.normal(0, 12, size=(h, w, 1)).astype(np.float32)
  return (palette[0] * (1 - t) + palette[1] * t + fine).astype(np.float32)


def _object_sprite(rng: np.random.Generator, radius: float,
                   palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """A textured shape on a square canvas: (texture [S,S,3], alpha [S,S])."""
  size = int(math.ceil(radius * 2.6)) | 1
  c = size / 2.0
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
  shape = rng.integers(3)
  aspect = rng.uniform(0.6, 1.0)
  if shape == 0:  # Ellipse.
    inside = ((xx - c) / radius) ** 2 + ((yy - c) / (radius * aspect)) ** 2
    alpha = (inside <= 1).astype(np.float32)
  elif shape == 1:  # Rectangle.
    alpha = ((np.abs(xx - c) <= radius * 0.9) &
             (np.abs(yy - c) <= radius * 0.9 * aspect)).astype(np.float32)
  else:  # Triangle-ish wedge (clearly asymmetric under rotation).
    rel_y = (yy - c) / radius
    alpha = ((rel_y <= 0.8) & (np.abs(xx - c) / radius <= (rel_y + 1) * 0.55)
             & (rel_y >= -1)).astype(np.float32)
  alpha = cv2.GaussianBlur(alpha, (0, 0), 0.6)
  return _texture(rng, size, size, palette, stripes=False), alpha


def _sample_object(rng: np.random.Generator, motion: str,
                   opts: RenderOptions) -> dict[str, Any]:
  """Draws one object's trajectory parameters.

  Every class consumes the same random numbers and the motion is centred on
  the middle frame, so for a given random stream the middle frame is the
  same whatever the class: appearance carries no label information.
  """
  short = min(opts.height, opts.width)
  radius = rng.uniform(*opts.object_size) * short
  steps = opts.num_frames - 1
  speed = rng.uniform(*opts.speed) * short  # px per frame
  rate = rng.uniform(*opts.scale_rate)  # drawn for every class (see below)
  obj = {'radius': radius, 'angle0': rng.uniform(0, 2 * np.pi),
         'velocity': np.zeros(2), 'omega': 0.0, 'log_rate': 0.0,
         'scale_mid': rng.uniform(0.8, 1.2),
         # Uniform over the frame: position says nothing about the class.
         'centre_mid': rng.uniform([0, 0], [opts.width, opts.height])}
  if motion in _DIRECTIONS:
    d = np.array(_DIRECTIONS[motion], np.float64)
    obj['velocity'] = d / np.linalg.norm(d) * speed
  elif motion in ('rotate_cw', 'rotate_ccw'):
    # Image y points down, so a positive angle step turns clockwise on
    # screen; the rim moves at `speed`.
    omega = speed / radius
    obj['omega'] = omega if motion == 'rotate_cw' else -omega
  elif motion in ('expand', 'contract'):
    rate = min(rate, math.log(opts.max_scale_ratio) / max(steps, 1))
    obj['log_rate'] = rate if motion == 'expand' else -rate
  else:
    raise ValueError(f'unknown motion {motion!r}')
  return obj


def _sprite_to_frame(obj: dict[str, Any], t: int, steps: int) -> np.ndarray:
  """2x3 affine map from sprite pixels to frame pixels at frame t.

  frame = centre(t) + R(angle(t)) * scale(t) * (sprite - sprite_centre),
  with centre, angle and log-scale linear in t - steps / 2.
  """
  rel = t - steps / 2
  scale = obj['scale_mid'] * math.exp(obj['log_rate'] * rel)
  angle = obj['angle0'] + obj['omega'] * rel
  centre = obj['centre_mid'] + obj['velocity'] * rel
  cos, sin = scale * math.cos(angle), scale * math.sin(angle)
  c = obj['alpha'].shape[0] / 2.0
  return np.array([[cos, -sin, centre[0] - cos * c + sin * c],
                   [sin, cos, centre[1] - sin * c - cos * c]], np.float64)


def _wrapped_copies(obj: dict[str, Any], t: int, steps: int, h: int,
                    w: int) -> list[np.ndarray]:
  """Sprite->frame maps of the object and of its wrap-around copies.

  The scene is a torus: the object is drawn at its position modulo the
  frame size, plus shifted copies where it overlaps an edge, so an object
  leaving on the right re-enters on the left with the same motion.
  """
  matrix = _sprite_to_frame(obj, t, steps)
  scale = obj['scale_mid'] * math.exp(obj['log_rate'] * (t - steps / 2))
  reach = obj['alpha'].shape[0] * 0.75 * scale  # covers the sprite corners
  centre = obj['centre_mid'] + obj['velocity'] * (t - steps / 2)
  base = np.floor(centre / [w, h]) * [w, h]  # wrap into [0, w) x [0, h)
  copies = []
  for dy in (-h, 0, h):
    for dx in (-w, 0, w):
      cx, cy = centre - base + [dx, dy]
      if -reach < cx < w + reach and -reach < cy < h + reach:
        shifted = matrix.copy()
        shifted[:, 2] += [dx - base[0], dy - base[1]]
        copies.append(shifted)
  return copies


def render_video(motion: str, rng: np.random.Generator, opts: RenderOptions,
                 *, with_true_flow: bool = False):
  """Renders one video of the given motion class.

  Args:
    motion: one of MOTIONS.
    rng: the video's random generator.
    opts: render options.
    with_true_flow: also return the exact motion field, for checking TV-L1
      in tests and diagnostics (it is never stored in the records).

  Returns:
    uint8 frames [T, H, W, 3]; with `with_true_flow`, also float32
    [T - 1, H, W, 2]: displacement from frame t to t + 1 of the topmost
    object covering each pixel (alpha > 0.5), 0 on the background.
  """
  h, w, steps = opts.height, opts.width, opts.num_frames - 1
  bg_palette = _palette(rng)
  if opts.scene_cue and rng.uniform() < opts.scene_cue:
    bg_palette = class_palette(motion)
  background = _texture(rng, h, w, bg_palette)
  objects = []
  for _ in range(int(rng.integers(1, opts.max_objects + 1))):
    obj = _sample_object(rng, motion, opts)
    palette = bg_palette[::-1] if rng.uniform() < opts.camouflage else (
        _palette(rng))
    obj['texture'], obj['alpha'] = _object_sprite(rng, obj['radius'],
                                                  palette)
    objects.append(obj)
  frames = np.empty((opts.num_frames, h, w, 3), np.uint8)
  true_flow = np.zeros((steps, h, w, 2), np.float32)
  grid = np.stack(np.meshgrid(np.arange(w) + 0.0, np.arange(h) + 0.0), -1)
  for t in range(opts.num_frames):
    frame = background.copy()
    for obj in objects:
      for matrix in _wrapped_copies(obj, t, steps, h, w):
        if with_true_flow and t < steps:
          # p(t+1) = A(t+1) A(t)^-1 p(t) for points on this object (the
          # same for every wrapped copy).
          a_t = np.vstack([matrix, [0, 0, 1]])
          a_next = np.vstack([_sprite_to_frame(obj, t + 1, steps),
                              [0, 0, 1]])
          a_next[:2, 2] += matrix[:, 2] - _sprite_to_frame(obj, t, steps)[
              :, 2]
          step = (a_next @ np.linalg.inv(a_t))[:2]
          moved = grid @ step[:, :2].T + step[:, 2] - grid
          covered = cv2.warpAffine(obj['alpha'], matrix, (w, h)) > 0.5
          true_flow[t][covered] = moved[covered]
        tex = cv2.warpAffine(obj['texture'], matrix, (w, h),
                             flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(obj['alpha'], matrix, (w, h),
                               flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)[..., None]
        frame = frame * (1 - alpha) + tex * alpha
    if opts.noise_std:
      frame = frame + rng.normal(0, opts.noise_std, frame.shape)
    frames[t] = np.clip(np.round(frame), 0, 255).astype(np.uint8)
  return (frames, true_flow) if with_true_flow else frames


def video_rng(seed: int, split: str, index: int) -> np.random.Generator:
  return np.random.default_rng([seed, zlib.crc32(split.encode()), index])


@dataclasses.dataclass(frozen=True)
class SyntheticVideoSource:
  """A synthetic video as a writer source (rendered in the worker)."""
  video_id: str
  label: str
  seed: int
  split: str
  index: int
  render: RenderOptions

  def frames(self) -> np.ndarray:
    return render_video(self.label, video_rng(self.seed, self.split,
                                              self.index), self.render)

  def load_frames(self, options: write_tfrecords.EncodeOptions
                  ) -> write_tfrecords.LoadedFrames:
    del options  # Rendered at the requested size already.
    return write_tfrecords.LoadedFrames(self.frames(), FPS)

  def describe(self) -> str:
    return f'synthetic:{self.split}/{self.index}'


def split_sources(split: str, *, num_classes: int, videos_per_class: int,
                  seed: int, render: RenderOptions
                  ) -> list[SyntheticVideoSource]:
  """The videos of one split: video i has class i mod num_classes."""
  names = class_names(num_classes)
  sources = []
  for i in range(videos_per_class * num_classes):
    label = names[i % num_classes]
    sources.append(SyntheticVideoSource(
        video_id=f'{split}_{i:05d}_{label}', label=label, seed=seed,
        split=split, index=i, render=render))
  return sources


def generate_dataset(output_dir: str, *, num_classes: int = 8,
                     videos_per_class: int | Mapping[str, int] = 40,
                     num_frames: int = 16, height: int = 32, width: int = 32,
                     seed: int = 0, splits: Sequence[str] = ('train', 'test'),
                     num_shards: int | Mapping[str, int] = 4,
                     workers: int = 2, write_tfrecords_files: bool = True,
                     write_videos: bool = False, flow: str = 'tvl1',
                     tvl1_params: tvl1.TVL1Params = tvl1.TVL1Params.fast(),
                     render: RenderOptions | None = None,
                     show_progress: bool = True) -> dict[str, Any]:
  """Writes the synthetic dataset (TFRecords and/or .mp4 files).

  Args:
    output_dir: where `SPLIT-*-of-*.tfrecord`, `label_map.txt`,
      `manifest.json` and (optionally) `videos/SPLIT/CLASS/ID.mp4` go; a
      local folder or a URL (gs://...).
    num_classes: number of motion classes (2..12, see MOTIONS).
    videos_per_class: videos per class in each split; an int for every
      split or a mapping split -> count (e.g. {'train': 40, 'test': 10}).
    num_frames: frames per video.
    height: frame height.
    width: frame width.
    seed: the dataset seed.
    splits: split names.
    num_shards: shards per split (int or mapping split -> int).
    workers: worker processes for rendering + TV-L1 + JPEG encoding.
    write_tfrecords_files: write the TFRecords.
    write_videos: also write .mp4 files (H.264, 25 fps).
    flow: 'tvl1' or 'none'.
    tvl1_params: TV-L1 parameters (fast preset by default).
    render: other appearance options; its num_frames/height/width are
      replaced by the arguments above.
    show_progress: draw progress bars.

  Returns:
    {'label_map': path, 'splits': {split: manifest entry}, 'videos_dir':
    path or None, 'num_video_files': .mp4 files written, 'seconds': wall time}.
  """
  start = time.time()
  render = dataclasses.replace(render or RenderOptions(),
                               num_frames=num_frames, height=height,
                               width=width)
  out = paths.resolve(output_dir)
  out.mkdir(parents=True, exist_ok=True)
  names = class_names(num_classes)
  map_path = out / label_map_lib.LABEL_MAP_FILENAME
  sorted_names = label_map_lib.load_or_create(map_path, names)
  if sorted(names) != sorted_names:
    raise ValueError(f'{map_path}: exists with other classes '
                     f'({sorted_names}); use an empty output_dir')
  options = write_tfrecords.EncodeOptions(fps=FPS, min_resize=0, flow=flow,
                                          tvl1=tvl1_params)
  result: dict[str, Any] = {'label_map': os.fspath(map_path), 'splits': {},
                            'videos_dir': None, 'num_video_files': 0}
  for split in splits:
    count = (videos_per_class[split] if isinstance(videos_per_class, Mapping)
             else videos_per_class)
    shards = (num_shards[split] if isinstance(num_shards, Mapping)
              else num_shards)
    sources = split_sources(split, num_classes=num_classes,
                            videos_per_class=count, seed=seed, render=render)
    if write_videos:
      videos = out / 'videos'
      result['videos_dir'] = os.fspath(videos)
      for label in sorted({s.label for s in sources}):
        (videos / split / label).mkdir(parents=True, exist_ok=True)
      for source in sources:
        video_io.write_video(videos / split / source.label /
                             f'{source.video_id}.mp4', source.frames(), FPS)
      result['num_video_files'] += len(sources)
    if write_tfrecords_files:
      result['splits'][split] = write_tfrecords.write_split(
          sources, output_dir=out, split=split,
          class_names=sorted_names, num_shards=shards, options=options,
          workers=workers, seed=seed, show_progress=show_progress,
          input_description=f'data_pipelines.synthetic seed={seed}',
          extra_manifest={'synthetic': {
              'seed': seed, 'render': dataclasses.asdict(render),
              'flip_changes_class': True}})
  result['seconds'] = time.time() - start
  return result


# ---------------------------------------------------------------------------
# CLI.


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('output_dir', None, 'Output folder (local or gs://).',
                      required=True)
  flags.DEFINE_integer('num_classes', 8, 'Number of motion classes (2-12).')
  flags.DEFINE_integer('train_videos_per_class', 40, 'Train videos per '
                       'class.')
  flags.DEFINE_integer('test_videos_per_class', 10, 'Test videos per class.')
  flags.DEFINE_integer('num_frames', 16, 'Frames per video.')
  flags.DEFINE_integer('height', 32, 'Frame height.')
  flags.DEFINE_integer('width', 32, 'Frame width.')
  flags.DEFINE_integer('seed', 0, 'Dataset seed.')
  flags.DEFINE_integer('num_shards', 4, 'Shards per split.')
  flags.DEFINE_integer('workers', os.cpu_count() or 1, 'Worker processes.')
  flags.DEFINE_bool('write_videos', False, 'Also write .mp4 files.')
  flags.DEFINE_bool('tfrecords', True, 'Write TFRecords.')
  flags.DEFINE_enum('flow', 'tvl1', ['tvl1', 'none'], 'Flow to store.')
  flags.DEFINE_bool('fast_tvl1', True, 'Use TVL1Params.fast() instead of '
                    'the OpenCV defaults.')
  flags.DEFINE_integer('max_objects', RenderOptions.max_objects,
                       'Objects per video (1..N).')
  flags.DEFINE_float('camouflage', RenderOptions.camouflage, 'Probability an '
                     'object uses the background colours.')
  flags.DEFINE_float('noise_std', RenderOptions.noise_std, 'Pixel noise std.')
  flags.DEFINE_list('speed', [str(v) for v in RenderOptions.speed],
                    'min,max object speed in short sides per frame.')
  flags.DEFINE_float('scene_cue', RenderOptions.scene_cue, 'Probability the '
                     'background takes its class colours (an appearance '
                     'shortcut for RGB networks).')


def main(argv: Sequence[str]) -> None:
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  result = generate_dataset(
      f.output_dir, num_classes=f.num_classes,
      videos_per_class={'train': f.train_videos_per_class,
                        'test': f.test_videos_per_class},
      num_frames=f.num_frames, height=f.height, width=f.width, seed=f.seed,
      num_shards=f.num_shards, workers=f.workers,
      write_tfrecords_files=f.tfrecords, write_videos=f.write_videos,
      flow=f.flow, tvl1_params=(tvl1.TVL1Params.fast() if f.fast_tvl1
                                else tvl1.TVL1Params()),
      render=RenderOptions(max_objects=f.max_objects,
                           camouflage=f.camouflage, noise_std=f.noise_std,
                           speed=tuple(float(v) for v in f.speed),
                           scene_cue=f.scene_cue))
  records = sum(e['num_written'] for e in result['splits'].values())
  print(f'wrote {records} TFRecord examples and {result["num_video_files"]} video files '
        f'to {f.output_dir} in {result["seconds"]:.1f} s', file=sys.stderr)


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
