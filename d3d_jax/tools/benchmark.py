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

XLA:CPU threading: on small CPUs the Eigen runtime's own intra-op threads contend
with XLA's concurrent execution of independent ops (the Inception branches), so by
default this tool adds ``--xla_cpu_multi_thread_eigen=false`` to ``XLA_FLAGS``
(~20-30% faster on 2 cores; ``--single_thread_eigen=false`` to keep XLA's default).
The flag is set before JAX initialises its backend, and printed.

``--layers`` instead times every distinct convolution of the model (shape, kernel,
stride, padding) forward + backward under each lowering, which is how the per-kernel
choices of the 'folded' lowering were made (see `d3d_jax.models.conv3d`).
"""

import os
import statistics
import time
from typing import Callable

from absl import app
from absl import flags
import numpy as np

_MODEL = flags.DEFINE_string("model", "s3dg", "A name of d3d_jax.models.MODELS.")
_BATCH = flags.DEFINE_integer("batch", 2, "Clips per step.")
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
    "single_thread_eigen", True,
    "Add --xla_cpu_multi_thread_eigen=false to XLA_FLAGS (faster on few CPU cores).")
_FLOPS_FROM = flags.DEFINE_enum(
    "flops_from", "native", ["native", "own"],
    "Whose XLA cost analysis counts the FLOPs: the native lowering's (one common count "
    "for every row) or each lowering's own.")
_MATMUL_SIZES = flags.DEFINE_list(
    "matmul_sizes", ["1024", "2048", "3072"], "Square f32 matmul sizes for the peak.")
_LAYERS = flags.DEFINE_bool(
    "layers", False, "Time each distinct conv of the model (fwd + bwd) per lowering instead.")


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
  from d3d_jax.models import build_model  # pylint: disable=g-import-not-at-top
  return build_model(_MODEL.value, num_classes=_CLASSES.value, lowering=lowering,
                     padding=_PADDING.value, dtype=_DTYPE.value,
                     input_channels=_CHANNELS.value)


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


def benchmark_lowering(lowering: str, steps: int, skip_forward: bool) -> dict:
  """Compiles and times the forward pass and train step of the model under `lowering`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  model = _build(lowering)
  shape = (_BATCH.value, _FRAMES.value, _SIZE.value, _SIZE.value, _CHANNELS.value)
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

  if not skip_forward:
    start = time.perf_counter()
    forward_compiled = forward.lower(variables, clips).compile()
    result["fwd_compile_s"] = time.perf_counter() - start
    result["fwd_flops"] = _flops(forward_compiled)
    result["fwd_s"] = _time_calls(lambda: forward_compiled(variables, clips), steps)
  return result


def _native_train_flops() -> float:
  """FLOPs of the native train step (compiled only for its cost analysis)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  model = _build("native")
  shape = (_BATCH.value, _FRAMES.value, _SIZE.value, _SIZE.value, _CHANNELS.value)
  clips = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(lambda c: model.init(jax.random.PRNGKey(3), c), clips)
  _, train_step = _make_fns(model)
  labels = jax.ShapeDtypeStruct((shape[0],), jnp.int32)
  rng = jax.eval_shape(lambda: jax.random.PRNGKey(0))
  return _flops(train_step.lower(
      variables["params"], variables["batch_stats"], clips, labels, rng).compile())


def print_table(results: list[dict], peak: float, common_flops: float | None) -> None:
  batch = _BATCH.value
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


def run_layers(lowerings, steps: int) -> None:
  """Times fwd + bwd (input and kernel grads) of every distinct conv of the model."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import conv3d as conv3d_lib  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import padding as padding_lib  # pylint: disable=g-import-not-at-top

  model = _build("native")
  shape = (_BATCH.value, _FRAMES.value, _SIZE.value, _SIZE.value, _CHANNELS.value)
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


def main(argv):
  del argv
  if _SINGLE_THREAD_EIGEN.value and "xla_cpu_multi_thread_eigen" not in os.environ.get(
      "XLA_FLAGS", ""):
    # Must happen before JAX initialises its CPU backend (first use below).
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
  import jax  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import conv3d as conv3d_lib  # pylint: disable=g-import-not-at-top

  lowerings = [l.strip() for l in _LOWERINGS.value]
  for lowering in lowerings:
    conv3d_lib.resolve_lowering(lowering)  # Validates the name.
  print(f"d3d_jax.tools.benchmark: model={_MODEL.value} batch={_BATCH.value} "
        f"clip={_FRAMES.value}x{_SIZE.value}x{_SIZE.value}x{_CHANNELS.value} "
        f"dtype={_DTYPE.value} padding={_PADDING.value}")
  print(f"backend={jax.default_backend()} devices={jax.devices()} "
        f"cpus={os.cpu_count()} XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  print("lowerings: " + ", ".join(
      f"{l}" + (f" (= {conv3d_lib.resolve_lowering(l)})" if l == "auto" else "")
      for l in lowerings), flush=True)
  if _LAYERS.value:
    run_layers(lowerings, _STEPS.value)
    return

  peak, peak_n = measure_matmul_peak([int(n) for n in _MATMUL_SIZES.value], _STEPS.value)
  print(f"measured f32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({peak_n}x{peak_n} @ "
        f"{peak_n}x{peak_n}, median of {_STEPS.value})", flush=True)

  results = []
  for lowering in lowerings:
    r = benchmark_lowering(lowering, _STEPS.value, _SKIP_FORWARD.value)
    results.append(r)
    print(f"  {lowering}: train step {r['train_s']:.3f} s, compile {r['compile_s']:.1f} s"
          + (f"; forward {r['fwd_s']:.3f} s, compile {r['fwd_compile_s']:.1f} s"
             if "fwd_s" in r else "")
          + f"; own cost analysis {r['train_flops'] / 1e9:.1f} GFLOP/step", flush=True)

  common = None
  if _FLOPS_FROM.value == "native":
    native = next((r for r in results if r["lowering"] == "native"), None)
    common = native["train_flops"] if native else _native_train_flops()
    print("FLOPs: XLA cost analysis of the native lowering's compiled train step "
          f"({common / 1e9:.1f} GFLOP per step of {_BATCH.value} clips), for every row.")
  else:
    print("FLOPs: each lowering's own XLA cost analysis.")
  print_table(results, peak, common)


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  app.run(main)
