r"""Benchmark of a model's forward pass and train step under each conv lowering.

    python -m d3d_jax.tools.benchmark --model=s3dg --batch=2 --frames=16 --size=224 \
        --lowering=native,folded

For each lowering it compiles a forward pass (eval mode) and a self-contained train
step (softmax cross-entropy on random labels, BatchNorm with batch statistics, plain
SGD) and prints one row:

* ``compile s``: lowering + compilation time of the train step;
* ``fwd clips/s``, ``train clips/s``: batch / median wall time of the timed calls;
* ``GFLOP/clip``: FLOPs of one train step per clip from XLA's cost analysis of the
  *native* lowering's compiled step. Every lowering computes the same function, so
  one common count makes the rows comparable (a lowering's own count can differ a
  little: padded taps, im2col copies). Set ``--flops_from=own`` to use each
  lowering's own count instead;
* ``GFLOP/s`` and ``% peak``: achieved train-step FLOP/s, and that as a fraction of
  the f32 matmul FLOP/s measured at the start of the same run (the best of a few
  square `jnp.dot` sizes, timed like the model);
* ``speedup``: train-step (and forward) speed relative to the 'native' row.

Host memory: like the other entry points, the tool first keeps freed host memory in
the process (`d3d_jax.host_memory`; ``D3D_JAX_HOST_MEMORY=release`` turns it off), and
so does the PyTorch side: without it every step page-faults its temporaries in again.

XLA:CPU threading: ``--single_thread_eigen`` adds ``--xla_cpu_multi_thread_eigen=false``
to ``XLA_FLAGS`` before JAX starts. Once worth 20-30% on 2 cores, it measured no
difference with jax 0.10, whose XLA:CPU runs dots and convolutions through YNNPACK
(S3D 16 x 224^2, B=2, best of 12 interleaved steps: 1.34-1.42 s either way), so it is
off by default.

``--compare=torch`` first times PyTorch's comparable train step (`torch_benchmark`:
torchvision's S3D for ``s3d`` and ``s3dg``, a pytorch-i3d-style I3D for ``i3d``; none
for the other I3D variants) in a subprocess, at the same batch, clip size and classes,
best of NCDHW and channels_last_3d, as many threads as CPUs (on CUDA: AMP bf16 with
``--dtype=bfloat16``, ``--torch_compile``), then ours, and prints both on one FLOP count
with the ratio. Needs ``pip install -e '.[torch]'``.

``--interleave=N``: on a shared VM whose speed drifts by +-20% within minutes, ratios of
runs made one after the other mislead. After the tables, N rounds then run one train
step of each contender in turn: PyTorch's best layout (with ``--compare=torch``, in a
step server that sleeps on its input in between), then each lowering. It prints their
medians, each lowering's speedup over 'native' and ours / torch from those medians: the
fairer numbers there. With ``--compare=torch`` it is CPU only (on an accelerator both
frameworks would hold its memory at once).

Accelerators (GPU / TPU), e.g.

    python -m d3d_jax.tools.benchmark --model=s3dg --frames=64 --size=224 \
        --lowering=native --dtype=bfloat16 --batch=auto --remat --skip_forward

* ``--dtype=bfloat16``: convs and activations in bf16; parameters stay float32 and
  flax's BatchNorm computes its statistics (and keeps its averages) in float32;
* ``--batch=auto``: the largest batch whose train step fits, doubling then bisecting on
  XLA's RESOURCE_EXHAUSTED (`batch_search`), up to ``--max_batch`` (a CPU rarely fails
  cleanly: keep ``--max_batch`` small there);
* ``--remat``: the model's ``remat_blocks`` option, each Inception block recomputed in
  the backward pass (same numbers, less activation memory);
* ``% peak`` is MFU: achieved FLOP/s over the device's bf16 dense peak from
  `device_peaks` (H100 / H200 / A100 / TPU v4 / v5e / v5p, by ``device_kind``); a
  device not in the table (a CPU) uses the measured matmul peak (``--peak``).

``--profile=N`` also prints the N most expensive XLA ops of each lowering's train step
(`step_profile`: thread time from a profiler trace, with each op's shape and layer).

``--layers`` instead times every distinct convolution of the model (shape, kernel,
stride, padding) forward + backward under each lowering, which is how the per-kernel
choices of the 'folded' lowering were made (see `d3d_jax.models.conv3d`).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

from absl import app
from absl import flags
import numpy as np

from d3d_jax import host_memory
from d3d_jax.tools import batch_search
from d3d_jax.tools import device_peaks
from d3d_jax.tools import host_cpu
from d3d_jax.tools import step_profile
from d3d_jax.tools import torch_benchmark

_MODEL = flags.DEFINE_string("model", "s3dg", "A name of d3d_jax.models.MODELS.")
_BATCH = flags.DEFINE_string(
    "batch", "2", "Clips per step, or 'auto': the largest that fits (see batch_search).")
_MAX_BATCH = flags.DEFINE_integer("max_batch", 256, "Upper bound of --batch=auto's search.")
_DEPTH_MULTIPLIER = flags.DEFINE_float(
    "depth_multiplier", 1.0, "Channel multiplier of the Inception models (tiny test runs).")
_REMAT = flags.DEFINE_bool(
    "remat", False, "Rematerialise each Inception block in the backward pass (less memory).")
_COMPARE = flags.DEFINE_enum(
    "compare", None, ["torch"],
    "Also time PyTorch's comparable train step (torch_benchmark.TORCH_MODELS) in a "
    "subprocess, and print the ratio.")
_TORCH_COMPILE = flags.DEFINE_bool(
    "torch_compile", False, "--compare=torch: wrap the PyTorch model in torch.compile.")
_PEAK = flags.DEFINE_enum(
    "peak", "auto", ["auto", "measured", "table"],
    "What '% peak' divides by: the device's bf16 dense peak from device_peaks (table), "
    "the best f32 jnp.dot timed here (measured), or table where the device is in it.")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip.")
_SIZE = flags.DEFINE_integer("size", 224, "Height and width of a frame.")
_CHANNELS = flags.DEFINE_integer("channels", 3, "Input channels (3 RGB, 2 flow).")
_CLASSES = flags.DEFINE_integer("num_classes", 400, "Logits width.")
_LOWERINGS = flags.DEFINE_list(
    "lowering", ["native", "folded"], "Conv/pool lowerings to compare (see conv3d.LOWERINGS).")
_PADDING = flags.DEFINE_enum("padding", "SAME", ["SAME", "symmetric"], "Padding mode.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed calls per measurement (median reported).")
_SKIP_FORWARD = flags.DEFINE_bool("skip_forward", False, "Time only the train step.")
_SINGLE_THREAD_EIGEN = flags.DEFINE_bool(
    "single_thread_eigen", False,
    "Add --xla_cpu_multi_thread_eigen=false to XLA_FLAGS (faster on few CPU cores).")
_FLOPS_FROM = flags.DEFINE_enum(
    "flops_from", "native", ["native", "own"],
    "Whose XLA cost analysis counts the FLOPs: the native lowering's (one common count "
    "for every row) or each lowering's own.")
_MATMUL_SIZES = flags.DEFINE_list(
    "matmul_sizes", ["1024", "2048", "3072"], "Square f32 matmul sizes for the peak.")
_PROFILE = flags.DEFINE_integer(
    "profile", 0, "Also print the N most expensive XLA ops of each train step, from a "
    "profiler trace of 2 steps (step_profile; thread time).")
_INTERLEAVE = flags.DEFINE_integer(
    "interleave", 0, "After the tables, N rounds of one train step of each contender in "
    "turn (PyTorch's best layout with --compare=torch, then each --lowering), "
    "and print their medians with 'speedup vs native' and 'ours / torch' from them, which "
    "a machine whose speed drifts affects alike. Needs two or more contenders; with "
    "--compare=torch, a CPU.")
_LAYERS = flags.DEFINE_bool(
    "layers", False, "Time each distinct conv of the model (fwd + bwd) per lowering instead.")


def _clip_shape(batch: int) -> tuple[int, ...]:
  return (batch, _FRAMES.value, _SIZE.value, _SIZE.value, _CHANNELS.value)


def _time_calls(fn: Callable[[], object], steps: int) -> float:
  """Median wall time of `steps` calls of `fn` after one warm-up call."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.block_until_ready(fn())
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _flops(compiled) -> float:
  """Total 'flops' of a compiled executable's XLA cost analysis."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # Older jax returned one dict per module.
    analysis = analysis[0]
  return float(analysis.get("flops", 0.0))


def measure_matmul_peak(sizes, steps: int) -> tuple[float, int]:
  """Best f32 FLOP/s over square matmuls of `sizes`, and the size that reached it."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  best = (0.0, 0)
  for n in sizes:
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    seconds = _time_calls(lambda: dot(a, b), steps)
    best = max(best, (2.0 * n ** 3 / seconds, n))
  return best


def _build(lowering: str):
  """The model under `lowering`. With --dtype=bfloat16 convs compute in bf16 while
  parameters stay float32 and flax's BatchNorm computes its statistics in float32."""
  from d3d_jax.models import build_model  # pylint: disable=g-import-not-at-top
  extra = {"depth_multiplier": _DEPTH_MULTIPLIER.value} if _DEPTH_MULTIPLIER.value != 1 else {}
  if _REMAT.value:
    extra["remat_blocks"] = True
  return build_model(_MODEL.value, num_classes=_CLASSES.value, lowering=lowering,
                     padding=_PADDING.value, dtype=_DTYPE.value,
                     input_channels=_CHANNELS.value, **extra)


def _make_fns(model, learning_rate: float = 1e-3):
  """The eval-mode forward pass and an SGD + softmax-CE train step (BN batch stats)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def forward(variables, clips):
    logits, _ = model.apply(variables, clips, train=False)
    return logits

  def train_step(params, batch_stats, clips, labels, rng):
    def loss_fn(params):
      (logits, _), updates = model.apply(
          {"params": params, "batch_stats": batch_stats}, clips, train=True,
          mutable=["batch_stats"], rngs={"dropout": rng})
      log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
      loss = -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))
      return loss, updates["batch_stats"]

    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    new_params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
    return new_params, new_stats, loss

  return jax.jit(forward), jax.jit(train_step, donate_argnums=(0, 1))


def init_variables(model, shape):
  """Random variables of the model's shapes: kernels ~ N(0, 1/fan_in), biases 0, BN
  means 0 and variances 1.

  Timing does not depend on the values, and `model.init` would cost a full-graph
  compile (or minutes of eager dispatch) per lowering on a small CPU.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  abstract = jax.eval_shape(
      lambda c: model.init(jax.random.PRNGKey(0), c, train=False),
      jax.ShapeDtypeStruct(shape, jnp.float32))
  abstract = jax.tree.map(lambda a: getattr(a, "value", a), abstract,
                          is_leaf=lambda a: hasattr(a, "value"))  # Drop axis metadata.
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  rng = np.random.default_rng(3)  # Host RNG: no per-shape compiles.
  values = []
  for path, leaf in leaves:
    if "'var'" in jax.tree_util.keystr(path):
      value = np.ones(leaf.shape)
    elif len(leaf.shape) >= 2:
      value = rng.standard_normal(leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))
    else:
      value = np.zeros(leaf.shape)
    values.append(jnp.asarray(value, leaf.dtype))
  return jax.tree_util.tree_unflatten(treedef, values)


def benchmark_lowering(lowering: str, batch: int, steps: int, skip_forward: bool) -> dict:
  """Compiles and times the forward pass and train step of the model under `lowering`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  model = _build(lowering)
  shape = _clip_shape(batch)
  clips = jax.random.uniform(jax.random.PRNGKey(0), shape, jnp.float32, -1.0, 1.0)
  labels = jax.random.randint(jax.random.PRNGKey(1), (shape[0],), 0, _CLASSES.value)
  rng = jax.random.PRNGKey(2)
  variables = init_variables(model, shape)
  forward, train_step = _make_fns(model)
  result = {"lowering": lowering}

  start = time.perf_counter()
  train_compiled = train_step.lower(
      variables["params"], variables["batch_stats"], clips, labels, rng).compile()
  result["compile_s"] = time.perf_counter() - start
  result["train_flops"] = _flops(train_compiled)

  state = [jax.tree.map(jnp.copy, variables["params"]),
           jax.tree.map(jnp.copy, variables["batch_stats"])]

  def one_step():
    state[0], state[1], loss = train_compiled(state[0], state[1], clips, labels, rng)
    return loss

  result["train_s"] = _time_calls(one_step, steps)
  result["step"] = one_step  # For --interleave.
  if _PROFILE.value > 0:
    result["profile"] = step_profile.top_ops(train_compiled, one_step, top=_PROFILE.value)

  if not skip_forward:
    start = time.perf_counter()
    forward_compiled = forward.lower(variables, clips).compile()
    result["fwd_compile_s"] = time.perf_counter() - start
    result["fwd_flops"] = _flops(forward_compiled)
    result["fwd_s"] = _time_calls(lambda: forward_compiled(variables, clips), steps)
  return result


def _native_train_flops(batch: int) -> float:
  """FLOPs of the native train step (compiled only for its cost analysis)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  model = _build("native")
  shape = _clip_shape(batch)
  clips = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(lambda c: model.init(jax.random.PRNGKey(3), c), clips)
  _, train_step = _make_fns(model)
  labels = jax.ShapeDtypeStruct((shape[0],), jnp.int32)
  rng = jax.eval_shape(lambda: jax.random.PRNGKey(0))
  return _flops(train_step.lower(
      variables["params"], variables["batch_stats"], clips, labels, rng).compile())


def print_table(results: list[dict], batch: int, peak: float,
                common_flops: float | None) -> None:
  native = next((r for r in results if r["lowering"] == "native"), None)
  header = ("lowering", "compile s", "fwd clips/s", "train clips/s", "GFLOP/clip",
            "GFLOP/s", "% peak", "speedup train", "speedup fwd")
  print(" | ".join(header))
  for r in results:
    flops = common_flops if common_flops is not None else r["train_flops"]
    achieved = flops / r["train_s"]
    fwd = f"{batch / r['fwd_s']:.2f}" if "fwd_s" in r else "-"
    speed_train = speed_fwd = "-"
    if native is not None:
      speed_train = f"{native['train_s'] / r['train_s']:.2f}x"
      if "fwd_s" in r and "fwd_s" in native:
        speed_fwd = f"{native['fwd_s'] / r['fwd_s']:.2f}x"
    print(" | ".join((
        r["lowering"], f"{r['compile_s']:.1f}", fwd, f"{batch / r['train_s']:.3f}",
        f"{flops / batch / 1e9:.1f}", f"{achieved / 1e9:.1f}", f"{100 * achieved / peak:.0f}%",
        speed_train, speed_fwd)), flush=True)


def run_layers(lowerings, batch: int, steps: int) -> None:
  """Times fwd + bwd (input and kernel grads) of every distinct conv of the model."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import conv3d as conv3d_lib  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import padding as padding_lib  # pylint: disable=g-import-not-at-top

  model = _build("native")
  shape = _clip_shape(batch)
  seen = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, conv3d_lib.Conv3D) and context.method_name == "__call__":
      x = args[0]
      key = (tuple(x.shape), tuple(module.kernel_size), x.shape[-1], module.features,
             tuple(module.strides))
      pads = padding_lib.explicit_pads(x.shape[1:4], module.kernel_size, module.strides,
                                       module.padding)
      seen.setdefault(key + (pads,), 0)
      seen[key + (pads,)] += 1
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda c: model.init(jax.random.PRNGKey(0), c),
                   jax.ShapeDtypeStruct(shape, jnp.float32))
  print("x shape | kernel | cin->cout | strides | count | "
        + " | ".join(f"{l} fwd+bwd ms" for l in lowerings))
  totals = dict.fromkeys(lowerings, 0.0)
  for (xs, ks, cin, cout, strides, pads), count in sorted(seen.items(), key=str):
    x = jax.random.normal(jax.random.PRNGKey(0), xs, jnp.float32)
    kernel = 0.05 * jax.random.normal(jax.random.PRNGKey(1), (*ks, cin, cout), jnp.float32)
    cells = []
    for lowering in lowerings:
      loss = lambda x, k, l=lowering: jnp.sum(conv3d_lib.conv3d(x, k, strides, pads, l) ** 2)
      grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
      seconds = _time_calls(lambda: grad(x, kernel), steps)
      totals[lowering] += count * seconds
      cells.append(f"{1e3 * seconds:.1f}")
    print(f"{xs} | {ks} | {cin}->{cout} | {strides} | {count} | " + " | ".join(cells),
          flush=True)
  print("total (x count) | " + " | ".join(f"{l} {1e3 * t:.0f} ms" for l, t in totals.items()))


def find_batch(lowering: str) -> int:
  """--batch=auto: the largest batch whose train step compiles and runs (batch_search)."""
  import gc  # pylint: disable=g-import-not-at-top

  def fits(batch: int) -> bool:
    try:
      benchmark_lowering(lowering, batch, steps=1, skip_forward=True)
    except Exception as error:  # pylint: disable=broad-except
      if not batch_search.is_out_of_memory(error):
        raise
      print(f"  batch {batch}: out of memory", flush=True)
      gc.collect()
      return False
    print(f"  batch {batch}: fits", flush=True)
    return True

  return batch_search.largest_fitting_batch(fits, _MAX_BATCH.value)


def resolve_peak() -> tuple[float, str]:
  """The FLOP/s that '% peak' divides by, and where it comes from (see --peak)."""
  import jax  # pylint: disable=g-import-not-at-top
  kind = jax.devices()[0].device_kind
  tabulated = device_peaks.tabulated_peak(kind)
  if _PEAK.value == "table" and tabulated is None:
    raise app.UsageError(f"--peak=table: device kind {kind!r} is not in "
                         "d3d_jax.tools.device_peaks.BF16_PEAK_FLOPS; use --peak=measured")
  if tabulated is not None and _PEAK.value != "measured":
    return tabulated, f"{kind} bf16 dense peak {tabulated / 1e12:.0f} TFLOP/s (device_peaks table)"
  peak, n = measure_matmul_peak([int(m) for m in _MATMUL_SIZES.value], _STEPS.value)
  return peak, (f"measured f32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({n}x{n} @ {n}x{n}, "
                f"median of {_STEPS.value})")


def _torch_spec(batch: int, **extra) -> dict:
  return dict({"model": _MODEL.value, "batch": batch, "frames": _FRAMES.value,
               "size": _SIZE.value, "num_classes": _CLASSES.value, "steps": _STEPS.value,
               "amp_bf16": _DTYPE.value == "bfloat16", "compile": _TORCH_COMPILE.value},
              **extra)


def _torch_process_env() -> dict:
  """The environment of the PyTorch subprocess: ours, with this checkout importable."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return dict(os.environ, PYTHONPATH=os.pathsep.join(
      [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def run_torch(batch: int) -> dict:
  """The PyTorch side (`torch_benchmark`), in a subprocess so the frameworks never share
  the CPU at once; its JSON measurements."""
  done = subprocess.run(
      [sys.executable, "-m", "d3d_jax.tools.torch_benchmark", json.dumps(_torch_spec(batch))],
      capture_output=True, text=True, env=_torch_process_env(), check=False)
  if done.returncode != 0:
    raise SystemExit(f"the PyTorch benchmark failed (exit {done.returncode}):\n"
                     f"{done.stderr[-3000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def run_interleaved(results: list[dict], layout: str | None, batch: int,
                    rounds: int) -> dict:
  """`rounds` rounds of one train step of each contender in turn: PyTorch's first when
  `layout` is given (`torch_benchmark.serve`, in a subprocess that waits on its input
  in between), then each lowering's (``result["step"]``). Every contender's step
  seconds, taken under the same machine conditions."""
  import jax  # pylint: disable=g-import-not-at-top
  server = None
  if layout is not None:
    server = subprocess.Popen(
        [sys.executable, "-m", "d3d_jax.tools.torch_benchmark", "--serve",
         json.dumps(_torch_spec(batch, layout=layout))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_torch_process_env())

  def reply() -> dict:
    line = server.stdout.readline()
    if not line:
      server.kill()
      raise SystemExit(f"the PyTorch step server stopped (exit {server.wait()}):\n"
                       f"{server.stderr.read()[-3000:]}")
    return json.loads(line)

  timings = {"torch_s": [], "ours_s": {r["lowering"]: [] for r in results}}
  try:
    if server is not None:
      reply()  # Warmed up.
    for _ in range(rounds):
      if server is not None:
        server.stdin.write("step\n")
        server.stdin.flush()
        timings["torch_s"].append(reply()["train_s"])
      for r in results:
        start = time.perf_counter()
        jax.block_until_ready(r["step"]())
        timings["ours_s"][r["lowering"]].append(time.perf_counter() - start)
  finally:
    if server is not None:
      server.stdin.close()
      server.wait(timeout=60)
  return timings


PAIRED_HEADER = ("per round (each round's own ratio; median (quartiles)): framework | "
                 "lowering | speedup vs native | ours / torch")


def _paired_ratio(reference_s: list[float], times_s: list[float]) -> str:
  """Median (and quartiles, from 2 rounds on) of reference / time, round by round:
  "0.86x (0.80-0.93x)". A VM whose speed drifts between rounds moves the medians of the
  table above; within a round both steps see the same machine."""
  ratios = [ref / t for ref, t in zip(reference_s, times_s)]
  median = f"{statistics.median(ratios):.2f}x"
  if len(ratios) < 2:
    return median
  q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
  return f"{median} ({q1:.2f}-{q3:.2f}x)"


def print_interleaved(timings: dict, layout: str | None, batch: int) -> None:
  """Medians of the interleaved steps; each lowering's speedup over 'native' (when it
  ran) and ours / torch (when PyTorch ran), both ratios of median step times; then the
  same ratios round by round (`_paired_ratio`)."""
  ours_s, torch_s = timings["ours_s"], timings["torch_s"]
  contenders = ([f"PyTorch ({layout})"] if layout is not None else []) + list(ours_s)
  print(f"interleaved: {len(next(iter(ours_s.values())))} rounds of one train step each, "
        f"in turn: {', '.join(contenders)}")
  print("framework | lowering / layout | median s | min s | median clips/s | "
        "speedup vs native | ours / torch")
  native = statistics.median(ours_s["native"]) if "native" in ours_s else None
  rows = [("d3d_jax", name, times) for name, times in ours_s.items()]
  if layout is not None:
    rows.append(("torch", layout, torch_s))
  for framework, name, times in rows:
    median = statistics.median(times)
    speedup = f"{native / median:.2f}x" if native and framework == "d3d_jax" else "-"
    vs_torch = f"{statistics.median(torch_s) / median:.2f}x" if torch_s else "-"
    print(" | ".join((framework, name, f"{median:.3f}", f"{min(times):.3f}",
                      f"{batch / median:.3f}", speedup, vs_torch)), flush=True)
  # The same ratios taken within each round, where both steps met the same machine.
  print(PAIRED_HEADER)
  for name, times in ours_s.items():
    speedup = _paired_ratio(ours_s["native"], times) if native else "-"
    vs_torch = _paired_ratio(torch_s, times) if torch_s else "-"
    print(" | ".join(("d3d_jax", name, speedup, vs_torch)), flush=True)


def print_comparison(results: list[dict], torch_result: dict, batch: int, peak: float,
                     flops: float) -> None:
  """Ours (each lowering) vs PyTorch at its best layout, on one FLOP count."""
  best = torch_result["best"]
  print(f"PyTorch: {torch_result['torch_model']} for our {_MODEL.value} "
        f"({torch_result['differs']}); torch {torch_result['torch_version']}, "
        f"device {torch_result['device']}"
        + (f" ({torch_result['cpu_capability']} kernels)"
           if torch_result.get("cpu_capability") else "")
        + f", {torch_result['threads']} threads, "
        f"AMP bf16 {'on' if torch_result['amp_bf16'] else 'off'}; train step "
        + ", ".join(f"{r['layout']} {r['train_s']:.3f} s"
                    + (" (torch.compile)" if r["compiled"] else "")
                    + (f" (torch.compile failed: {r['compile_error']})"
                       if "compile_error" in r else "")
                    for r in torch_result["layouts"])
        + f"; best {best['layout']}")
  print(f"FLOPs: {flops / 1e9:.1f} GFLOP per step (ours, as above) for both rows; PyTorch's "
        f"own count (convs + matmuls) is {torch_result['torch_flops'] / 1e9:.1f} GFLOP.")
  if _DEPTH_MULTIPLIER.value != 1:
    print(f"note: ours runs at --depth_multiplier={_DEPTH_MULTIPLIER.value}, PyTorch's at "
          "full width: the ratio is not a like-for-like comparison.")
  print(" | ".join(("framework", "lowering / layout", "compile s (torch: 1st step)",
                    "train clips/s",
                    "GFLOP/s", "% peak", "ours / torch")))
  rows = [("d3d_jax", r["lowering"], r["compile_s"], r["train_s"]) for r in results]
  rows.append(("torch", best["layout"], best["first_step_s"], best["train_s"]))
  for framework, name, compile_s, train_s in rows:
    print(" | ".join((
        framework, name, f"{compile_s:.1f}", f"{batch / train_s:.3f}",
        f"{flops / train_s / 1e9:.1f}", f"{100 * flops / train_s / peak:.0f}%",
        f"{best['train_s'] / train_s:.2f}x")), flush=True)


def _add_xla_flag(flag: str, unless: str) -> None:
  """Appends `flag` to ``XLA_FLAGS`` unless the variable already contains `unless`."""
  current = os.environ.get("XLA_FLAGS", "")
  if unless not in current:
    os.environ["XLA_FLAGS"] = f"{current} {flag}".strip()


def main(argv):
  del argv
  host_memory_line = host_memory.keep_freed_memory()  # Before JAX starts threads.
  compare_torch = _COMPARE.value == "torch"
  if compare_torch:
    torch_benchmark.require_torch()  # Before minutes of compiling, not after.
    if _CHANNELS.value != 3:
      raise app.UsageError("--compare=torch: the PyTorch models take RGB (--channels=3)")
    if _MODEL.value not in torch_benchmark.TORCH_MODELS:
      print(f"--compare=torch: no PyTorch model comparable to {_MODEL.value!r} is built "
            f"(comparable: {sorted(torch_benchmark.TORCH_MODELS)}); timing ours only.")
      compare_torch = False
  lowerings = [l.strip() for l in _LOWERINGS.value]
  if len(set(lowerings)) != len(lowerings):
    raise app.UsageError(f"--lowering names a lowering twice: {','.join(lowerings)}")
  if _INTERLEAVE.value and not compare_torch and len(lowerings) < 2:
    raise app.UsageError("--interleave alternates the train steps of two or more "
                         "contenders: give --compare=torch (with a model in "
                         "torch_benchmark.TORCH_MODELS) or two or more --lowering")
  if _BATCH.value != "auto" and not (_BATCH.value.isdigit() and int(_BATCH.value) > 0):
    raise app.UsageError(f"--batch must be a positive integer or 'auto', got {_BATCH.value!r}")
  print(f"d3d_jax.tools.benchmark: model={_MODEL.value} batch={_BATCH.value} "
        f"clip={_FRAMES.value}x{_SIZE.value}x{_SIZE.value}x{_CHANNELS.value} "
        f"dtype={_DTYPE.value} padding={_PADDING.value} remat={_REMAT.value}")
  print(host_memory_line)
  torch_result = None
  if compare_torch:
    if _BATCH.value == "auto":
      raise app.UsageError(
          "--compare=torch needs a fixed --batch: find it with --batch=auto first, then "
          "pass --batch=N (PyTorch runs first, so it never competes with JAX's memory pool)")
    # PyTorch runs before JAX starts: its process has exited, and given back the CPU
    # threads or the GPU memory, before JAX claims them.
    print("running the PyTorch side first, in a subprocess ...", flush=True)
    torch_result = run_torch(int(_BATCH.value))
  # XLA flags must be set before JAX initialises its backend (first use below).
  if _SINGLE_THREAD_EIGEN.value:
    _add_xla_flag("--xla_cpu_multi_thread_eigen=false", unless="xla_cpu_multi_thread_eigen")
  if _PROFILE.value > 0:
    _add_xla_flag(step_profile.TRACEME_FLAG, unless=step_profile.TRACEME_FLAG)
  import jax  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import conv3d as conv3d_lib  # pylint: disable=g-import-not-at-top

  for lowering in lowerings:
    conv3d_lib.resolve_lowering(lowering)  # Validates the name.
  print(f"backend={jax.default_backend()} devices={jax.devices()} "
        f"cpus={os.cpu_count()} XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  print(f"host CPU: {host_cpu.describe()}")
  print("lowerings: " + ", ".join(
      f"{l}" + (f" (= {conv3d_lib.resolve_lowering(l)})" if l == "auto" else "")
      for l in lowerings), flush=True)
  if _BATCH.value == "auto":
    print(f"--batch=auto: doubling then bisecting up to --max_batch={_MAX_BATCH.value} "
          f"under the {lowerings[0]} lowering", flush=True)
    batch = find_batch(lowerings[0])
    print(f"--batch=auto: largest batch that fits: {batch}", flush=True)
  else:
    batch = int(_BATCH.value)
  if _LAYERS.value:
    run_layers(lowerings, batch, _STEPS.value)
    return

  peak, peak_source = resolve_peak()
  print(f"peak: {peak_source}", flush=True)

  results = []
  for lowering in lowerings:
    r = benchmark_lowering(lowering, batch, _STEPS.value, _SKIP_FORWARD.value)
    results.append(r)
    print(f"  {lowering}: train step {r['train_s']:.3f} s, compile {r['compile_s']:.1f} s"
          + (f"; forward {r['fwd_s']:.3f} s, compile {r['fwd_compile_s']:.1f} s"
             if "fwd_s" in r else "")
          + f"; own cost analysis {r['train_flops'] / 1e9:.1f} GFLOP/step", flush=True)
    if "profile" in r:
      print("\n".join(step_profile.format_rows(r["profile"])), flush=True)

  common = None
  if _FLOPS_FROM.value == "native":
    native = next((r for r in results if r["lowering"] == "native"), None)
    common = native["train_flops"] if native else _native_train_flops(batch)
    print("FLOPs: XLA cost analysis of the native lowering's compiled train step "
          f"({common / 1e9:.1f} GFLOP per step of {batch} clips), for every row.")
  else:
    print("FLOPs: each lowering's own XLA cost analysis.")
  print_table(results, batch, peak, common)
  if torch_result is not None:
    print_comparison(results, torch_result, batch, peak,
                     common if common is not None else results[0]["train_flops"])
  if _INTERLEAVE.value > 0 and jax.default_backend() != "cpu" and torch_result is not None:
    print("--interleave: with --compare=torch, CPU only (on an accelerator both "
          "frameworks would hold its memory at once); skipped.")
  elif _INTERLEAVE.value > 0:
    layout = torch_result["best"]["layout"] if torch_result is not None else None
    print_interleaved(run_interleaved(results, layout, batch, _INTERLEAVE.value), layout,
                      batch)


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  app.run(main)
