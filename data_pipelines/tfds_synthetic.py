"""TFDS builder for the synthetic motion dataset (`synthetic_motion`).

So the synthetic data also works through `tfds.load`, offline:

  import data_pipelines.tfds_synthetic  # registers the builder
  ds = tfds.load('synthetic_motion/tiny', split='train', data_dir=DIR)

Examples have `video` (uint8 [T, H, W, 3], JPEG frames), `label`
(ClassLabel over the sorted motion names, same indices as the TFRecords'
label map) and `video_id`. RGB only: TV-L1 flow is in the TFRecord version
(`synthetic.generate_dataset`). Videos are identical to the TFRecord
version for the same seed and sizes (same renderer, same per-video seeds).
"""

from __future__ import annotations

import dataclasses

from etils import epath
import tensorflow_datasets as tfds

from data_pipelines import synthetic


class SyntheticMotionConfig(tfds.core.BuilderConfig):
  """Sizes of one variant of the dataset."""

  def __init__(self, *, num_classes: int, train_per_class: int,
               test_per_class: int, num_frames: int, height: int, width: int,
               seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = num_classes
    self.train_per_class = train_per_class
    self.test_per_class = test_per_class
    self.num_frames = num_frames
    self.height = height
    self.width = width
    self.seed = seed


class SyntheticMotion(tfds.core.GeneratorBasedBuilder):
  """Textured objects whose motion (not appearance) defines the class."""

  # TFDS derives `code_path` with a check that imports `importlib_resources`
  # (an etils[epath] extra that TFDS does not require); without it every
  # builder inside a package fails to prepare. The plain file path is what
  # TFDS itself falls back to for non-zipapp code.
  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):
    return epath.Path(__file__)

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      SyntheticMotionConfig(
          name='demo', description='8 classes, 40 train + 10 test videos '
          'per class, 16 frames of 32x32.', num_classes=8, train_per_class=40,
          test_per_class=10, num_frames=16, height=32, width=32),
      SyntheticMotionConfig(
          name='tiny', description='4 classes, 2 train + 1 test videos per '
          'class, 8 frames of 32x32 (tests).', num_classes=4,
          train_per_class=2, test_per_class=1, num_frames=8, height=32,
          width=32),
  ]

  def _render_options(self) -> synthetic.RenderOptions:
    c = self.builder_config
    return dataclasses.replace(synthetic.RenderOptions(),
                               num_frames=c.num_frames, height=c.height,
                               width=c.width)

  def _info(self) -> tfds.core.DatasetInfo:
    c = self.builder_config
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'video': tfds.features.Video(
                shape=(c.num_frames, c.height, c.width, 3),
                encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(
                names=sorted(synthetic.class_names(c.num_classes))),
            'video_id': tfds.features.Text(),
        }),
        supervised_keys=('video', 'label'),
        homepage='https://github.com/d3d_jax',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    c = self.builder_config
    return {'train': self._generate_examples('train', c.train_per_class),
            'test': self._generate_examples('test', c.test_per_class)}

  def _generate_examples(self, split: str, per_class: int):
    c = self.builder_config
    for source in synthetic.split_sources(
        split, num_classes=c.num_classes, videos_per_class=per_class,
        seed=c.seed, render=self._render_options()):
      yield source.video_id, {'video': source.frames(),
                              'label': source.label,
                              'video_id': source.video_id}
