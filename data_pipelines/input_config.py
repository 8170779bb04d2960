"""The `config.input` section: every knob of the input pipeline, documented.

Experiment configs do

  config.input = input_config.get_input_config()
  config.input.data_dir = '/data/kinetics400_tfr'
  config.input.num_frames = 64

and pass `config.input` to `input_pipeline.make_train_dataset` /
`make_eval_dataset` / `dataset_info`. `validate(config)` checks the values
and names the offending `input.<field>` in its error.
"""

from __future__ import annotations

import ml_collections

SOURCES = ('tfrecord', 'tfds')
MODALITIES = ('rgb', 'flow')


def get_input_config() -> ml_collections.ConfigDict:
  """Default input settings (the I3D / D3D Kinetics recipe where it applies)."""
  c = ml_collections.ConfigDict()

  # --- Where the data is -----------------------------------------------------
  # 'tfrecord': SequenceExample shards written by data_pipelines tools (or any
  #   DMVR-style records with the keys of data_pipelines/schema.py).
  # 'tfds': a TFDS video dataset with `video` / `label` features (e.g.
  #   'ucf101', or 'synthetic_motion' from data_pipelines/tfds_synthetic.py);
  #   RGB only.
  c.source = 'tfrecord'
  # Folder holding the shards, label_map.txt and (optionally) manifest.json.
  c.data_dir = ''
  # Glob of one split's shards; '{data_dir}' and '{split}' are substituted.
  c.file_pattern = '{data_dir}/{split}-?????-of-?????.tfrecord'
  # Label map (one class name per line; index = line). '' = data_dir/
  # label_map.txt. Ignored for source='tfds' (names come from the builder).
  c.label_map = ''
  # TFDS name (with config/version if needed, e.g. 'ucf101/ucf101_1') and
  # its data_dir ('' = TFDS default); feature keys of the video and label.
  c.tfds_name = ''
  c.tfds_data_dir = ''
  c.tfds_video_key = 'video'
  c.tfds_label_key = 'label'
  # Split names: the file pattern's {split} (or TFDS split strings).
  c.train_split = 'train'
  c.eval_split = 'test'

  # --- What a clip is --------------------------------------------------------
  # Which streams to output: any non-empty subset of ('rgb', 'flow'). Asking
  # for 'flow' on records written with --flow none is an error at startup.
  c.modalities = ('rgb', 'flow')
  # Number of classes; None = the number of names in the label map. If set,
  # it must match the label map, and a record whose clip/label/index is not
  # in [0, num_classes) is an error (or a counted skip, see below).
  c.num_classes = None
  # Frames per clip and the step between sampled frames (in stored frames,
  # 25 fps for the tools' default). RGB frame i pairs with flow frame i (the
  # motion from frame i to i + 1), so RGB and flow of a clip cover the same
  # window; with 'flow' requested the last RGB frame is never sampled.
  # Clips longer than the video loop back to its first frame.
  c.num_frames = 64
  c.stride = 1

  # --- Spatial processing ----------------------------------------------------
  # Frames are resized so their short side is min_resize (0 = keep the
  # stored size), then cropped to crop_size x crop_size. Flow values are
  # scaled with the resize (displacements are in pixels of the output).
  c.min_resize = 256
  c.crop_size = 224
  # Training crop: False = a random crop_size square (I3D / D3D). True =
  # TSN-style multi-scale crop: width and height are each a random entry of
  # multi_scale_crop_scales times the short side (at most
  # multi_scale_max_distort entries apart), at a random position, resized to
  # crop_size.
  c.multi_scale_crop = False
  c.multi_scale_crop_scales = (1.0, 0.875, 0.75, 0.66)
  c.multi_scale_max_distort = 1
  # Random horizontal flip in training (negates flow x). Set False when a
  # flip changes the class (the synthetic motion dataset, left/right actions
  # of Something-Something).
  c.random_flip = True
  # Colour jitter, RGB only, one draw per clip, applied with probability
  # color_jitter_prob (0 disables it; the papers use none): brightness delta,
  # contrast / saturation factors in [1 - x, 1 + x], hue delta (in [0, 0.5]).
  c.color_jitter_prob = 0.0
  c.brightness = 0.4
  c.contrast = 0.4
  c.saturation = 0.4
  c.hue = 0.1

  # --- Evaluation views ------------------------------------------------------
  # Temporal clips per video (evenly spaced; 1 = the centre clip) and spatial
  # crops per clip (1 = centre, 3 = left/centre/right along the long side).
  # Every view is one row of the eval batch; see make_eval_dataset.
  c.num_test_clips = 1
  c.num_test_crops = 1
  # Frames per eval clip (taken every input.stride frames): None = num_frames;
  # 0 = the WHOLE VIDEO in one convolutional pass, the I3D / S3D-G protocol
  # (Carreira & Zisserman 2017, "Quo Vadis", Implementation Details: at test
  # time the network is applied convolutionally to the whole video with 224
  # centre crops and its predictions averaged; D3D, Sec. 5, compares with
  # S3D-G run "with identical settings to the published papers"). With 0,
  # num_test_clips must be 1 and every video becomes ONE view of
  # eval_max_frames frames, because a jitted network needs a static shape and
  # videos of different lengths cannot be stacked into one batch; so one
  # shape is compiled once:
  #   * a video of at most eval_max_frames frames is LOOPED to fill them (as
  #     shorter training clips are, temporal_sampling.py), not padded: black
  #     padding frames would be features the network never saw in training
  #     and would enter the time mean of its logits; repeated real frames only
  #     over-weight the start of the video;
  #   * a longer video is cut to its centre eval_max_frames frames.
  # Set eval_max_frames to the longest video of the split (Kinetics clips are
  # at most 10 s, i.e. 250 frames at 25 fps) so that nothing is cut. No length
  # needs to be a multiple of the network's total temporal stride (8 in I3D
  # and S3D-G: conv1, MaxPool3d_4a, MaxPool3d_5a each stride 2 in time):
  # 'SAME' padding rounds each stride up (250 frames -> 32 at Mixed_5c).
  # Metric names carry the protocol: top1@CxS for C clips x S crops,
  # top1@fullxS for the whole video (d3d_jax/evaluators/multiview.py views_suffix).
  c.eval_num_frames = None
  c.eval_max_frames = 250

  # --- Batching and performance ----------------------------------------------
  # GLOBAL batch sizes (clips in training, views in eval); each host gets
  # batch_size // process_count rows. Must be divisible by the process count.
  c.batch_size = 8
  c.eval_batch_size = 8
  # Records in the training shuffle buffer (after file interleaving).
  c.shuffle_buffer = 256
  # Seed of file order, shuffling, temporal offsets, crops, flips, jitter.
  c.seed = 0
  # True: the same seed gives the same batches (fixed element order, at some
  # throughput cost). False: tf.data may reorder for speed.
  c.deterministic = False
  # Bad records (missing key, label out of range, truncated record or frame):
  # False = stop with an error naming the file and the field; True = skip the
  # record, log the same message and count it. In eval a skipped video's
  # rows are kept with mask=False, so hosts stay in step.
  c.skip_bad_examples = False
  # Cache the serialized records in memory after the first epoch (small
  # datasets: the synthetic demo, UCF-101 at low resolution).
  c.cache = False
  # Batches to prefetch (-1 = AUTOTUNE).
  c.prefetch = 2
  # Parallel calls of the per-clip decode/augment map (-1 = AUTOTUNE) and
  # number of shards read concurrently.
  c.num_parallel_calls = -1
  c.cycle_length = 8
  return c


def eval_frames(config: ml_collections.ConfigDict) -> int:
  """Frames of every eval row: the clip length, or eval_max_frames (whole video)."""
  frames = config.eval_num_frames
  if frames is None:
    return config.num_frames
  return config.eval_max_frames if frames == 0 else frames


def whole_video_eval(config: ml_collections.ConfigDict) -> bool:
  """True when evaluation sees each whole video as one view (eval_num_frames=0)."""
  return config.eval_num_frames == 0


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming `input.<field>` for an invalid setting."""
  def bad(field, message):
    raise ValueError(f'input.{field}: {message}')
  if config.source not in SOURCES:
    bad('source', f'must be one of {SOURCES}, got {config.source!r}')
  if config.source == 'tfrecord' and not config.data_dir and (
      '{data_dir}' in config.file_pattern):
    bad('data_dir', 'is empty; set it to the folder of the TFRecord shards')
  if config.source == 'tfds' and not config.tfds_name:
    bad('tfds_name', "is empty but input.source is 'tfds'")
  modalities = tuple(config.modalities)
  if not modalities or any(m not in MODALITIES for m in modalities) or len(
      set(modalities)) != len(modalities):
    bad('modalities', f'must be a non-empty subset of {MODALITIES}, got '
        f'{modalities}')
  if config.source == 'tfds' and 'flow' in modalities:
    bad('modalities', "'flow' is not available from TFDS video datasets; "
        "use ('rgb',) or TFRecords written with TV-L1 flow")
  if config.num_classes is not None and config.num_classes < 1:
    bad('num_classes', f'must be >= 1 or None, got {config.num_classes}')
  for field in ('num_frames', 'stride', 'crop_size', 'num_test_clips',
                'batch_size', 'eval_batch_size', 'cycle_length'):
    if config[field] < 1:
      bad(field, f'must be >= 1, got {config[field]}')
  if config.min_resize < 0:
    bad('min_resize', f'must be >= 0, got {config.min_resize}')
  if config.min_resize and config.min_resize < config.crop_size:
    bad('min_resize', f'({config.min_resize}) is smaller than '
        f'input.crop_size ({config.crop_size})')
  eval_num_frames = config.eval_num_frames
  if eval_num_frames is not None and eval_num_frames < 0:
    bad('eval_num_frames', 'must be None (= input.num_frames), 0 (the whole '
        f'video) or >= 1, got {eval_num_frames}')
  if config.eval_max_frames < 1:
    bad('eval_max_frames', f'must be >= 1, got {config.eval_max_frames}')
  if eval_num_frames == 0 and config.num_test_clips != 1:
    bad('num_test_clips', 'must be 1 with input.eval_num_frames=0 (the whole '
        f'video is one clip), got {config.num_test_clips}')
  if config.num_test_crops not in (1, 3):
    bad('num_test_crops', f'must be 1 or 3, got {config.num_test_crops}')
  scales = tuple(config.multi_scale_crop_scales)
  if not scales or any(not 0 < s <= 1 for s in scales):
    bad('multi_scale_crop_scales', f'must be in (0, 1], got {scales}')
  if config.multi_scale_max_distort < 0:
    bad('multi_scale_max_distort', 'must be >= 0')
  if not 0 <= config.color_jitter_prob <= 1:
    bad('color_jitter_prob', f'must be in [0, 1], got '
        f'{config.color_jitter_prob}')
  for field in ('brightness', 'contrast', 'saturation'):
    if not 0 <= config[field] <= 1:
      bad(field, f'must be in [0, 1], got {config[field]}')
  if not 0 <= config.hue <= 0.5:
    bad('hue', f'must be in [0, 0.5], got {config.hue}')
  if config.shuffle_buffer < 1:
    bad('shuffle_buffer', f'must be >= 1, got {config.shuffle_buffer}')
  if config.prefetch < -1:
    bad('prefetch', f'must be >= 0 or -1 (AUTOTUNE), got {config.prefetch}')
  if config.num_parallel_calls == 0 or config.num_parallel_calls < -1:
    bad('num_parallel_calls', 'must be >= 1 or -1 (AUTOTUNE)')
