r"""Videos -> sharded TFRecords of RGB JPEG frames and TV-L1 flow.

Usage (a folder tree `CLASS/VIDEO.ext`, or a CSV `path,label[,start,end]`):

  python -m data_pipelines.write_tfrecords \
      --input=/data/ucf101/train --output_dir=/data/ucf101_tfr --split=train \
      --num_shards=64 --workers=8
  python -m data_pipelines.write_tfrecords \
      --input=/data/ucf101/test --output_dir=/data/ucf101_tfr --split=test \
      --num_shards=16 --label_map=/data/ucf101_tfr/label_map.txt

What it does, per video (in worker processes): decode with PyAV, resample to
`--fps`, resize the short side to `--min_resize`, compute TV-L1 flow between
consecutive frames (`--flow=none` for RGB-only records; `--flow_backend=jax`
for the JAX solver, batched across videos), JPEG-encode frames
and flow (`schema.py` owns the format). The parent process writes the
records into `NAME-00000-of-000NN.tfrecord` shards.

Robust and restartable:
  * the label map (sorted class names) is written once to
    `OUTPUT_DIR/label_map.txt` (or `--label_map`) and reused by every split;
    a split with a class the map lacks is an error, never a shifted index;
  * an unreadable or empty video is skipped and listed, with the reason, in
    `OUTPUT_DIR/manifest.json` (which also holds counts per class and split,
    records per shard, the tool version and all options);
  * each shard is written under a temporary name and renamed when complete;
    a re-run skips shards that are complete (their status is kept in
    `OUTPUT_DIR/.write_tfrecords/`), so an interrupted run resumes.

Every path may be a URL (`--output_dir=gs://bucket/ucf101_tfr`, a CSV or a
folder tree on gs://, `--label_map` too): all file I/O goes through
`data_pipelines.paths` (etils.epath) and TensorFlow's file systems, never
`os.path` / `open`. On gs:// a shard is still written as
`NAME-...tfrecord.tmp-PID` and then renamed: the rename is a server-side copy
plus a delete, and the copy makes the final object appear whole, so "a shard
that exists is complete" holds on every file system without depending on when
the TFRecord writer uploads; the cost is one server-side copy per shard. An
interrupted upload leaves at most a `.tmp-` object, which the next run
deletes. Videos on gs:// are downloaded to a local temporary file for PyAV
(`video_io`), one at a time in each worker.
The assignment of videos to shards is a seeded shuffle of the input list, so
a re-run with the same input and flags plans the same shards; a re-run with a
different input list is detected and refused for finished shards.

Many machines (TV-L1 flow dominates the cost: see the README's data section):
run the same command on each machine with `--num_workers=M --shard_index=i`
and the same full input, `--num_shards` and `--seed`. Every machine plans the
same shards and writes only shards k with k % M == i, so names never collide
and the result equals a single-machine run. The label map is fixed up front:
pass `--label_map` (the same file for every split), or let each machine
derive it from the full input list (the same sorted class names everywhere).
The machine that finds every shard complete writes the manifest.
"""

from __future__ import annotations

if __name__ == '__main__':
  # Before TensorFlow is imported below: drop its C++ start-up noise from stderr.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()

import collections
import concurrent.futures
import csv
import dataclasses
import datetime
import io
import itertools
import json
import multiprocessing
import os
import sys
import threading
import time
from typing import Any, Iterable, Protocol, Sequence

from etils import epath
import numpy as np

from data_pipelines import atomic_file
from data_pipelines import label_map as label_map_lib
from data_pipelines import paths
from data_pipelines import progress as progress_lib
from data_pipelines import schema
from data_pipelines import tvl1
from data_pipelines import video_io

TOOL_NAME = 'data_pipelines.write_tfrecords'
TOOL_VERSION = '1.0'
MANIFEST_FILENAME = 'manifest.json'
STATUS_DIRNAME = '.write_tfrecords'
FLOW_BACKENDS = ('opencv', 'jax')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v', '.mpg',
                    '.mpeg', '.flv', '.wmv', '.3gp', '.ogv')


@dataclasses.dataclass(frozen=True)
class EncodeOptions:
  """How each video is turned into a record (recorded in the manifest).

  Attributes:
    fps: frame rate the video is resampled to (0 keeps the source rate).
    min_resize: short side of stored frames in pixels (0 keeps the size).
    flow: 'tvl1' (TV-L1 flow per consecutive frame pair) or 'none'.
    tvl1: TV-L1 solver parameters.
    flow_backend: 'opencv' (`tvl1.py`, one video at a time) or 'jax'
      (`tvl1_jax.py`: frame pairs of `flow_videos_per_job` videos batched
      together, `flow_batch_size` pairs per call); records are the same
      format either way.
    flow_videos_per_job: videos a worker takes at once with the jax backend.
    flow_batch_size: frame pairs per jax call.
    jpeg_quality: JPEG quality of RGB frames.
    flow_jpeg_quality: JPEG quality of flow frames.
    max_frames: keep at most this many frames per video (0 = all).
  """
  fps: float = 25.0
  min_resize: int = 256
  flow: str = 'tvl1'
  tvl1: tvl1.TVL1Params = tvl1.TVL1Params()
  flow_backend: str = 'opencv'
  flow_videos_per_job: int = 8
  flow_batch_size: int = 16
  jpeg_quality: int = schema.DEFAULT_RGB_JPEG_QUALITY
  flow_jpeg_quality: int = schema.DEFAULT_FLOW_JPEG_QUALITY
  max_frames: int = 0

  def __post_init__(self):
    if self.flow not in ('tvl1', 'none'):
      raise ValueError(f"flow must be 'tvl1' or 'none', got {self.flow!r}")
    if self.flow_backend not in FLOW_BACKENDS:
      raise ValueError(f'flow_backend must be one of {FLOW_BACKENDS}, got '
                       f'{self.flow_backend!r}')

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class LoadedFrames:
  """What a video source yields: RGB frames, their rate, a decode warning."""
  frames: np.ndarray  # uint8 [T, H, W, 3]
  fps: float
  warning: str = ''


class VideoSource(Protocol):
  """Anything the writer can turn into a record (must be picklable).

  Real videos use `VideoFileSource`; the synthetic generator has its own
  source that renders frames, and both go through the same writer.
  """
  video_id: str
  label: str

  def load_frames(self, options: EncodeOptions) -> LoadedFrames:
    ...

  def describe(self) -> str:
    ...


@dataclasses.dataclass(frozen=True)
class VideoFileSource:
  """A video file (optionally a [start_sec, end_sec) segment of it).

  `path` is a local path or a URL (gs://...); a URL is downloaded to a local
  temporary file while it is decoded (PyAV reads local files only).
  """
  path: str
  label: str
  video_id: str
  start_sec: float | None = None
  end_sec: float | None = None

  def load_frames(self, options: EncodeOptions) -> LoadedFrames:
    decoded = video_io.decode_video(
        self.path, fps=options.fps or None, min_resize=options.min_resize,
        start_sec=self.start_sec, end_sec=self.end_sec,
        max_frames=options.max_frames)
    return LoadedFrames(decoded.frames, decoded.fps, decoded.warning)

  def describe(self) -> str:
    if self.start_sec is None and self.end_sec is None:
      return self.path
    return f'{self.path}[{self.start_sec}:{self.end_sec}]'


@dataclasses.dataclass
class EncodedVideo:
  """One video ready to be written (the output of a worker)."""
  video_id: str
  label: str
  source: str
  rgb_jpegs: list[bytes]
  flow_jpegs: list[bytes] | None
  fps: float
  height: int
  width: int
  warning: str = ''


@dataclasses.dataclass
class SkippedVideo:
  """A video that could not be converted, and why."""
  video_id: str
  label: str
  source: str
  reason: str


def encode_video(source: VideoSource,
                 options: EncodeOptions) -> EncodedVideo | SkippedVideo:
  """Loads, computes flow and JPEG-encodes one video; never raises on data."""
  return encode_videos([source], options)[0]


def encode_videos(sources: Sequence[VideoSource], options: EncodeOptions
                  ) -> list[EncodedVideo | SkippedVideo]:
  """Loads, computes flow and JPEG-encodes videos; never raises on data.

  Any failure of a video (unreadable, empty, too short for flow) becomes a
  `SkippedVideo` with the reason, so one bad file cannot stop a run. With
  `flow_backend='jax'` the frame pairs of all the videos are batched
  together (`tvl1_jax.compute_flows`).
  """
  results: list[EncodedVideo | SkippedVideo | None] = []
  loaded_ok: dict[int, tuple[LoadedFrames, list[bytes]]] = {}
  for source in sources:
    def skip(reason, source=source):
      return SkippedVideo(source.video_id, source.label, source.describe(),
                          reason)
    try:
      loaded = source.load_frames(options)
      frames = loaded.frames
      if frames.shape[0] == 0:
        results.append(skip('no frames'))
        continue
      if options.flow == 'tvl1' and frames.shape[0] < 2:
        results.append(skip(
            f'only {frames.shape[0]} frame; TV-L1 flow needs at least 2 (use '
            '--flow=none for RGB-only records)'))
        continue
      rgb = [schema.encode_rgb_jpeg(f, options.jpeg_quality) for f in frames]
    except video_io.VideoDecodeError as e:
      results.append(skip(str(e)))
      continue
    except Exception as e:  # pylint: disable=broad-except
      results.append(skip(f'{type(e).__name__}: {e}'))
      continue
    loaded_ok[len(results)] = (loaded, rgb)
    results.append(None)
  flows = _compute_flows(
      {i: loaded.frames for i, (loaded, _) in loaded_ok.items()}, options)
  for i, (loaded, rgb) in loaded_ok.items():
    source, frames = sources[i], loaded.frames
    flow = flows.get(i)
    if isinstance(flow, str):
      results[i] = SkippedVideo(source.video_id, source.label,
                                source.describe(), flow)
      continue
    flow_jpegs = None if flow is None else [
        schema.encode_flow_jpeg(f, options.flow_jpeg_quality) for f in flow]
    results[i] = EncodedVideo(source.video_id, source.label,
                              source.describe(), rgb, flow_jpegs, loaded.fps,
                              int(frames.shape[1]), int(frames.shape[2]),
                              loaded.warning)
  return results


def _compute_flows(frames: dict[int, np.ndarray], options: EncodeOptions
                   ) -> dict[int, np.ndarray | str]:
  """Flow per video (keyed as `frames`), or the reason it failed (a str)."""
  if options.flow == 'none' or not frames:
    return {}
  if options.flow_backend == 'jax':
    from data_pipelines import tvl1_jax  # pylint: disable=g-import-not-at-top
    try:
      return dict(zip(frames, tvl1_jax.compute_flows(
          list(frames.values()), options.tvl1, options.flow_batch_size)))
    except Exception as e:  # pylint: disable=broad-except
      if len(frames) == 1:
        return {i: f'{type(e).__name__}: {e}' for i in frames}
      # One video broke the batch: redo them one by one to name it.
      out = {}
      for i, f in frames.items():
        out.update(_compute_flows({i: f}, options))
      return out
  out = {}
  for i, f in frames.items():
    try:
      out[i] = tvl1.compute_flow(f, options.tvl1)
    except Exception as e:  # pylint: disable=broad-except
      out[i] = f'{type(e).__name__}: {e}'
  return out


def _encode_job(job):
  return encode_videos(*job)


def _ordered_results(pool, jobs, window: int):
  """Results of `_encode_job` over `jobs`, in order, at most `window` ahead.

  Bounding the number of jobs in flight bounds the memory held by encoded
  videos waiting behind a slow one.
  """
  pending = collections.deque()
  for job in jobs:
    pending.append(pool.submit(_encode_job, job))
    if len(pending) >= window:
      yield pending.popleft().result()
  while pending:
    yield pending.popleft().result()


def _init_worker(parent_pid: int | None = None):
  """Sets up a worker; one of the pool (`parent_pid` given) exits when its parent
  dies (a kill -9 of the converter leaves no orphaned workers decoding on)."""
  import cv2  # pylint: disable=g-import-not-at-top
  # One process per core already; OpenCV's own threads would oversubscribe.
  cv2.setNumThreads(1)
  if parent_pid is not None:
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True,
                     name='exit-when-orphaned').start()


def _exit_when_orphaned(parent_pid: int, poll_seconds: float = 0.5) -> None:
  # An orphan is re-parented (to init or a subreaper): its parent pid changes.
  while os.getppid() == parent_pid:
    time.sleep(poll_seconds)
  os._exit(1)  # pylint: disable=protected-access


# ---------------------------------------------------------------------------
# Input discovery.


def find_videos_in_folder(
    root: epath.PathLike, extensions: Sequence[str] = VIDEO_EXTENSIONS
) -> tuple[list[VideoFileSource], list[SkippedVideo]]:
  """Lists `root/CLASS/VIDEO.ext`; other files are reported as skipped.

  `root` may be a URL. An entry with a video extension is taken as a video
  without asking whether it is a folder: on an object store each such
  question is a request, and a folder named like a video is only reported
  as skipped when it fails to decode.
  """
  folder = paths.resolve(root)
  if not folder.is_dir():
    raise FileNotFoundError(f'--input {root}: not a directory or CSV file')
  sources, skipped = [], []
  extensions = tuple(e.lower() for e in extensions)
  for class_dir in sorted(folder.iterdir(), key=lambda p: p.name):
    class_name = class_dir.name
    if class_name.startswith('.') or not class_dir.is_dir():
      continue
    for entry in sorted(class_dir.iterdir(), key=lambda p: p.name):
      fname, path = entry.name, os.fspath(entry)
      if fname.startswith('.'):
        continue
      video_id = f'{class_name}/{os.path.splitext(fname)[0]}'
      if not fname.lower().endswith(extensions):
        if not entry.is_dir():
          skipped.append(SkippedVideo(video_id, class_name, path,
                                      'not a video file extension'))
        continue
      sources.append(VideoFileSource(path, class_name, video_id))
  if not sources:
    raise ValueError(f'--input {root}: no videos found under CLASS/ '
                     f'subfolders with extensions {list(extensions)}')
  return sources, skipped


def read_csv(path: epath.PathLike,
             video_root: epath.PathLike = '') -> list[VideoFileSource]:
  """Reads `path,label[,start,end]` rows (a header row is optional).

  Relative paths are resolved against `video_root` (default: the CSV's
  folder). start/end are seconds; empty means the whole video. The CSV, the
  root and the videos may be URLs (gs://...).
  """
  csv_path = paths.resolve(path)
  root = paths.resolve(video_root) if video_root else csv_path.parent
  sources = []
  text = csv_path.read_text()
  with io.StringIO(text, newline='') as f:
    for lineno, row in enumerate(csv.reader(f), 1):
      if not row or not ''.join(row).strip() or row[0].startswith('#'):
        continue
      if lineno == 1 and row[0].strip().lower() in ('path', 'video_path'):
        continue
      if len(row) not in (2, 4):
        raise ValueError(f'{path}:{lineno}: expected path,label[,start,end], '
                         f'got {len(row)} columns')
      video, label = row[0].strip(), row[1].strip()
      if not label:
        raise ValueError(f'{path}:{lineno}: empty label')
      start = end = None
      try:
        if len(row) == 4:
          start = float(row[2]) if row[2].strip() else None
          end = float(row[3]) if row[3].strip() else None
      except ValueError as e:
        raise ValueError(f'{path}:{lineno}: start/end must be seconds ({e})'
                         ) from e
      video_id, full = _video_id_and_path(video, root)
      if start is not None or end is not None:
        video_id += f'@{start if start is not None else ""}-' \
                    f'{end if end is not None else ""}'
      sources.append(VideoFileSource(full, label, video_id, start, end))
  if not sources:
    raise ValueError(f'{path}: no rows')
  return sources


def _video_id_and_path(video: str, root: epath.Path) -> tuple[str, str]:
  """(id, full path) of a CSV entry; the id is the path relative to `root`
  without its suffix (a URL outside `root`: the whole URL without suffix)."""
  if paths.is_url(video) or paths.is_url(root):
    full = paths.resolve(video) if paths.is_url(video) else root / video
    relative = os.fspath(full.relative_to(root) if full.is_relative_to(root)
                         else full)
  else:  # Local: an absolute entry replaces root, as in pathlib.
    full = root / video
    relative = os.path.relpath(full, root)  # String arithmetic, no I/O.
  return os.path.splitext(relative)[0], os.fspath(full)


# ---------------------------------------------------------------------------
# Writing.


def shard_filename(name: str, index: int, num_shards: int) -> str:
  return f'{name}-{index:05d}-of-{num_shards:05d}.tfrecord'


def plan_shards(video_ids: Sequence[str], num_shards: int,
                seed: int) -> list[list[int]]:
  """Indices of the videos of each shard: a seeded shuffle, dealt round robin.

  Shuffling mixes classes inside each shard (file-level shuffling in the
  input pipeline then mixes well); the seed makes re-runs plan identically.
  """
  order = np.random.default_rng(seed).permutation(len(video_ids))
  return [order[k::num_shards].tolist() for k in range(num_shards)]


def default_num_shards(num_videos: int) -> int:
  """DMVR's rule of thumb: about sqrt(N) shards."""
  return max(1, int(round(np.sqrt(num_videos))))


def read_manifest(output_dir: epath.PathLike) -> dict[str, Any]:
  """`OUTPUT_DIR/manifest.json` as a dict ({} if there is none yet)."""
  path = paths.resolve(output_dir) / MANIFEST_FILENAME
  if not path.exists():
    return {}
  try:
    return json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}: not valid JSON ({e})') from e


def write_split(sources: Sequence[VideoSource], *,
                output_dir: epath.PathLike,
                split: str, class_names: Sequence[str],
                num_shards: int = 0, options: EncodeOptions = EncodeOptions(),
                workers: int = 1, name: str = '', seed: int = 0,
                pre_skipped: Iterable[SkippedVideo] = (),
                input_description: str = '', show_progress: bool = True,
                extra_manifest: dict[str, Any] | None = None,
                shard_index: int = 0, num_workers: int = 1
                ) -> dict[str, Any]:
  """Converts `sources` into the shards of one split and updates the manifest.

  Args:
    sources: the videos of the split.
    output_dir: where shards, manifest.json and the shard status go (a
      local folder or a URL such as gs://bucket/dir; created if missing).
    split: split name (manifest key; also the default shard name).
    class_names: the label map; index = position. Every source label must
      be in it.
    num_shards: number of shards (0 = about sqrt(number of videos)).
    options: how videos are decoded and encoded.
    workers: worker processes (<= 1 encodes in this process).
    name: shard file prefix (default: `split`).
    seed: seed of the video-to-shard assignment.
    pre_skipped: videos already rejected during discovery (manifest only).
    input_description: where the videos came from (manifest only).
    show_progress: draw the progress bar on stderr.
    extra_manifest: extra keys stored in this split's manifest entry.
    shard_index: which of `num_workers` machines this is (0-based).
    num_workers: machines sharing this split: every machine passes the same
      full `sources`, `num_shards`, `seed` and `class_names`, so all plan
      the same shards, and writes only shards k with
      k % num_workers == shard_index (names never collide; the result is
      the single-machine dataset). The machine that finds every shard
      complete writes the manifest entry.

  Returns:
    This split's manifest entry; while other machines' shards are still
    missing, a partial entry with 'complete': False (manifest untouched).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  name = name or split
  label_index = {n: i for i, n in enumerate(class_names)}
  unknown = sorted({s.label for s in sources} - set(label_index))
  if unknown:
    raise ValueError(f'split {split!r}: labels {unknown} are not in the label '
                     'map')
  ids = [s.video_id for s in sources]
  dups = sorted(i for i, c in collections.Counter(ids).items() if c > 1)
  if dups:
    raise ValueError(f'split {split!r}: duplicate video ids {dups[:10]}')
  num_shards = num_shards or default_num_shards(len(sources))
  mine = machine_shards(num_shards, shard_index, num_workers)
  plan = plan_shards(ids, num_shards, seed)
  out = paths.resolve(output_dir)
  status_dir = out / STATUS_DIRNAME
  status_dir.mkdir(parents=True, exist_ok=True)
  # One listing for the whole split (on an object store each existence
  # check would be a request): finished shards and temporaries alike.
  listed = {p.name for p in out.glob(
      f'{name}-*-of-{num_shards:05d}.tfrecord*')}

  shard_status: dict[int, dict[str, Any]] = {}
  pending: list[int] = []
  for k, members in enumerate(plan):
    fname = shard_filename(name, k, num_shards)
    final = out / fname
    status_path = status_dir / (fname + '.json')
    if k not in mine and fname not in listed:
      continue  # Another machine's shard, not written yet.
    for stale in sorted(n for n in listed if n.startswith(fname + '.tmp-')):
      if k in mine:
        (out / stale).unlink()  # Left by an interrupted run.
    planned = [ids[i] for i in members]
    if fname in listed:
      if not status_path.exists():
        raise FileExistsError(
            f'{final}: exists but has no status file {status_path}; it was '
            'not written by this tool run. Delete it or use another '
            '--output_dir.')
      status = json.loads(status_path.read_text())
      if status.get('planned') != planned:
        raise FileExistsError(
            f'{final}: was written from a different input list or '
            '--num_shards/--seed; delete the old shards of this split or use '
            'another --output_dir.')
      shard_status[k] = status
    else:
      pending.append(k)

  bar = progress_lib.ProgressBar(
      sum(len(plan[k]) for k in pending),
      f'{split}: {len(pending)}/{num_shards} shards to write',
      enabled=show_progress)
  order = [i for k in pending for i in plan[k]]
  per_job = (options.flow_videos_per_job
             if options.flow_backend == 'jax' and options.flow == 'tvl1'
             else 1)
  jobs = ([[sources[i] for i in order[j:j + per_job]], options]
          for j in range(0, len(order), per_job))
  if workers > 1 and pending:
    # 'spawn': the parent has TensorFlow loaded, and forking a process with
    # TensorFlow's threads running can deadlock. Unlike multiprocessing.Pool
    # (which silently restarts workers that die on start-up, forever), the
    # executor reports a broken pool.
    pool = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context('spawn'),
        initializer=_init_worker, initargs=(os.getpid(),))
    results = itertools.chain.from_iterable(
        _ordered_results(pool, jobs, window=4 * workers))
  else:
    pool = None
    _init_worker()
    results = itertools.chain.from_iterable(map(_encode_job, jobs))
  try:
    for k in pending:
      fname = shard_filename(name, k, num_shards)
      final = out / fname
      tmp = out / f'{fname}.tmp-{os.getpid()}'
      status = {'planned': [ids[i] for i in plan[k]], 'written': [],
                'skipped': [], 'warnings': [],
                'counts_per_class': collections.Counter()}
      with tf.io.TFRecordWriter(os.fspath(tmp)) as writer:
        for _ in plan[k]:
          result = next(results)
          bar.update()
          if isinstance(result, SkippedVideo):
            status['skipped'].append(dataclasses.asdict(result))
            continue
          example = schema.make_sequence_example(
              video_id=result.video_id, label_index=label_index[result.label],
              label_name=result.label, rgb_jpegs=result.rgb_jpegs,
              flow_jpegs=result.flow_jpegs, fps=result.fps,
              height=result.height, width=result.width,
              filename=result.source)
          writer.write(example.SerializeToString())
          status['written'].append(result.video_id)
          status['counts_per_class'][result.label] += 1
          if result.warning:
            status['warnings'].append({'video_id': result.video_id,
                                       'source': result.source,
                                       'warning': result.warning})
      status['num_records'] = len(status['written'])
      # Status first, then the rename: a shard that exists is complete and
      # always has its status. (On gs:// the rename is a copy + delete; see
      # the module docstring.)
      atomic_file.write_json(status_dir / (fname + '.json'), status)
      tmp.replace(final)
      shard_status[k] = status
  except concurrent.futures.process.BrokenProcessPool as e:
    raise RuntimeError(
        'A worker process died. If this was called from a script, put its '
        "top-level code under `if __name__ == '__main__':` (worker processes "
        'are started with "spawn", which re-imports the main module), or '
        'use workers=1.') from e
  finally:
    bar.close()
    if pool is not None:
      pool.shutdown(wait=True, cancel_futures=True)

  if len(shard_status) < num_shards:
    return _partial_entry(name, num_shards, shard_status, len(mine) - len(pending))
  entry = _split_entry(name, num_shards, plan, shard_status, sources,
                       list(pre_skipped), options, input_description)
  entry['resumed_shards'] = len(mine) - len(pending)
  entry.update(extra_manifest or {})
  _update_manifest(out, split, entry, class_names)
  return entry


def machine_shards(num_shards: int, shard_index: int,
                   num_workers: int) -> set[int]:
  """The shards machine `shard_index` of `num_workers` writes (round robin)."""
  if num_workers < 1 or not 0 <= shard_index < num_workers:
    raise ValueError(f'--shard_index={shard_index} must be in [0, '
                     f'--num_workers={num_workers})')
  if num_shards < num_workers:
    raise ValueError(f'--num_shards={num_shards} < --num_workers={num_workers}: '
                     'some machines would have no shard; use more shards')
  return set(range(shard_index, num_shards, num_workers))


def _partial_entry(name, num_shards, shard_status, resumed):
  """What this machine can report while other machines' shards are missing."""
  return {
      'name': name, 'num_shards': num_shards, 'complete': False,
      'shards_complete': len(shard_status), 'resumed_shards': resumed,
      'num_written': sum(s['num_records'] for s in shard_status.values()),
      'num_skipped': sum(len(s['skipped']) for s in shard_status.values()),
  }


def _split_entry(name, num_shards, plan, shard_status, sources,
                 pre_skipped, options, input_description):
  counts = collections.Counter()
  skipped = [dataclasses.asdict(s) for s in pre_skipped]
  warnings = []
  shards = {}
  for k in range(len(plan)):
    status = shard_status[k]
    counts.update(status['counts_per_class'])
    skipped.extend(status['skipped'])
    warnings.extend(status['warnings'])
    shards[shard_filename(name, k, num_shards)] = status['num_records']
  return {
      'name': name,
      'input': input_description,
      'num_inputs': len(sources) + len(pre_skipped),
      'num_written': sum(shards.values()),
      'num_skipped': len(skipped),
      'num_shards': num_shards,
      'shards': shards,
      'counts_per_class': dict(sorted(counts.items())),
      'skipped': skipped,
      'warnings': warnings,
      'modalities': ['rgb'] + (['flow'] if options.flow != 'none' else []),
      'options': options.to_dict(),
  }


def _update_manifest(output_dir: epath.Path, split: str,
                     entry: dict[str, Any],
                     class_names: Sequence[str]) -> None:
  manifest = read_manifest(output_dir)
  manifest.update({
      'tool': TOOL_NAME,
      'version': TOOL_VERSION,
      'label_map': list(class_names),
      'num_classes': len(class_names),
  })
  entry['updated'] = datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')
  manifest.setdefault('splits', {})[split] = entry
  atomic_file.write_json(output_dir / MANIFEST_FILENAME, manifest)


# ---------------------------------------------------------------------------
# CLI.


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags
  f.DEFINE_string('input', None, 'A CSV (path,label[,start,end]) or a folder '
                  'tree CLASS/VIDEO.ext (local or gs://).', required=True)
  f.DEFINE_string('output_dir', None, 'Where shards, label_map.txt and '
                  'manifest.json are written (local or gs://).',
                  required=True)
  f.DEFINE_string('split', None, 'Split name (train, test, ...).',
                  required=True)
  f.DEFINE_string('name', '', 'Shard file prefix (default: the split name).')
  f.DEFINE_integer('num_shards', 0, 'Number of shards (0 = ~sqrt(videos)).')
  f.DEFINE_string('label_map', '', 'Label map file; reused if it exists, '
                  'else written from this split\'s classes. Default: '
                  'OUTPUT_DIR/label_map.txt.')
  f.DEFINE_string('video_root', '', 'Base of relative CSV paths (default: '
                  'the CSV folder).')
  f.DEFINE_float('fps', 25.0, 'Output frame rate (0 keeps the source rate).')
  f.DEFINE_integer('min_resize', 256, 'Short side of stored frames (0 keeps '
                   'the size).')
  f.DEFINE_enum('flow', 'tvl1', ['tvl1', 'none'], 'Flow to store.')
  f.DEFINE_enum('flow_backend', 'opencv', list(FLOW_BACKENDS),
                'TV-L1 implementation: opencv (CPU, one video at a time) or '
                'jax (data_pipelines/tvl1_jax.py on the default JAX device, '
                'frame pairs batched across videos; on a GPU/TPU host use '
                '--workers=1 so one process owns the accelerator).')
  f.DEFINE_integer('flow_videos_per_job', EncodeOptions.flow_videos_per_job,
                   'With --flow_backend=jax: videos a worker batches together.')
  f.DEFINE_integer('flow_batch_size', EncodeOptions.flow_batch_size,
                   'With --flow_backend=jax: frame pairs per solver call.')
  f.DEFINE_integer('max_frames', 0, 'Keep at most this many frames per '
                   'video (0 = all).')
  f.DEFINE_integer('jpeg_quality', schema.DEFAULT_RGB_JPEG_QUALITY,
                   'JPEG quality of RGB frames.')
  f.DEFINE_integer('flow_jpeg_quality', schema.DEFAULT_FLOW_JPEG_QUALITY,
                   'JPEG quality of flow frames.')
  tvl1.define_flags()
  f.DEFINE_integer('workers', os.cpu_count() or 1, 'Worker processes.')
  f.DEFINE_integer('seed', 0, 'Seed of the video-to-shard assignment.')
  f.DEFINE_list('extensions', list(VIDEO_EXTENSIONS), 'Video file '
                'extensions in folder mode.')
  f.DEFINE_bool('progress', True, 'Show the progress bar.')
  f.DEFINE_integer('num_workers', 1, 'Machines sharing this split (each '
                   'runs the tool on the full input list; not the worker '
                   'processes: see --workers).')
  f.DEFINE_integer('shard_index', 0, 'This machine: 0 .. --num_workers - 1; '
                   'it writes the shards k with k % num_workers == it.')
  return f.FLAGS


def main(argv: Sequence[str]) -> None:
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags_ = flags.FLAGS
  params = tvl1.params_from_flags()
  options = EncodeOptions(
      fps=flags_.fps, min_resize=flags_.min_resize, flow=flags_.flow,
      tvl1=params, flow_backend=flags_.flow_backend,
      flow_videos_per_job=flags_.flow_videos_per_job,
      flow_batch_size=flags_.flow_batch_size,
      jpeg_quality=flags_.jpeg_quality,
      flow_jpeg_quality=flags_.flow_jpeg_quality,
      max_frames=flags_.max_frames)
  source = paths.resolve(flags_.input)
  if source.is_dir():
    sources, pre_skipped = find_videos_in_folder(
        source, ['.' + e.lstrip('.') for e in flags_.extensions])
  elif source.exists():
    sources, pre_skipped = read_csv(source, flags_.video_root), []
  else:
    raise FileNotFoundError(f'--input {flags_.input}: no such file or folder')
  out = paths.resolve(flags_.output_dir)
  out.mkdir(parents=True, exist_ok=True)
  local_map = out / label_map_lib.LABEL_MAP_FILENAME
  map_path = paths.resolve(flags_.label_map) if flags_.label_map else local_map
  class_names = label_map_lib.load_or_create(map_path,
                                             {s.label for s in sources})
  if map_path != local_map:
    # Keep a copy next to the records so the data dir is self-contained.
    label_map_lib.write_label_map(local_map, class_names)
  entry = write_split(
      sources, output_dir=flags_.output_dir, split=flags_.split,
      class_names=class_names, num_shards=flags_.num_shards, options=options,
      workers=flags_.workers, name=flags_.name, seed=flags_.seed,
      pre_skipped=pre_skipped, input_description=flags_.input,
      show_progress=flags_.progress, shard_index=flags_.shard_index,
      num_workers=flags_.num_workers)
  if not entry.get('complete', True):
    print(f'{flags_.split}: machine {flags_.shard_index} of '
          f'{flags_.num_workers} done; {entry["shards_complete"]}/'
          f'{entry["num_shards"]} shards complete so far. The machine that '
          'completes the last shard writes the manifest.', file=sys.stderr)
    return
  print(f'{flags_.split}: wrote {entry["num_written"]} videos in '
        f'{entry["num_shards"]} shards ({entry["resumed_shards"]} already '
        f'complete), skipped {entry["num_skipped"]}; see '
        f'{out / MANIFEST_FILENAME}', file=sys.stderr)


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
