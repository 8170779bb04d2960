r"""Parameters and XLA FLOPs that W3 adds to a backbone, at the paper's input size, and
the CPU train-step cost of W3 on the demo's network.

    python -m d3d_jax.tools.w3_overhead --backbones=tsm_resnet50,i3d,s3dg --num_frames=16 \
        --crop_size=224
    python -m d3d_jax.tools.w3_overhead --train_step  # the synthetic demo's S3D-G

For each backbone it builds the plain network, the network with W3 in every block
(``block_module='w3'``) and with W3 plus the attention-guided refinement (Eq. 7-8),
and prints the parameter count and the FLOPs of one eval-mode forward pass of one
clip from XLA's cost analysis of the lowered (native-convolution) computation. W3's
Table 6 (TSM ResNet-50, 16 frames, 224 px) reports 65.0 GFLOPs for TSM and 67.1 for
TSM + W3 (+3.2 %); those "GFLOPs" are multiply-accumulates (ResNet-50's 4.1 G per
224 px frame x 16 = 65.6), so the table prints XLA's FLOPs / 2 as "GMAC" beside them.
XLA also counts the elementwise work (BatchNorm, ReLU, the masks' products) that
MAC counts of the literature leave out.
"""

from absl import app, flags

from d3d_jax import host_memory

_MODELS = flags.DEFINE_list("backbones", ["tsm_resnet50", "i3d", "s3dg"],
                            "Backbones (d3d_jax.models.MODELS).")
_FRAMES = flags.DEFINE_integer("num_frames", 16, "Frames per clip (W3 Table 6: 16).")
_SIZE = flags.DEFINE_integer("crop_size", 224, "Crop size (W3: 224).")
_CLASSES = flags.DEFINE_integer("classes", 174, "Classes (Something-Something: 174).")
_TRAIN_STEP = flags.DEFINE_bool(
    "train_step", False, "Instead: time the train step (fwd + bwd + SGD) of the synthetic "
    "demo's S3D-G (configs/synthetic_common.py, batch 16, 16 x 32 x 32) plain and with W3.")
_STEPS = flags.DEFINE_integer("timed_steps", 20, "Timed train steps (median reported).")


def measure(name: str, frames: int, size: int, num_classes: int, **options) -> tuple:
  """(parameters, XLA forward FLOPs) of one clip through `build_model(name, ...)`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import build_model  # pylint: disable=g-import-not-at-top
  model = build_model(name, num_classes=num_classes, lowering="native", **options)
  clip = jax.ShapeDtypeStruct((1, frames, size, size, 3), jnp.float32)
  variables = jax.eval_shape(lambda c: model.init(jax.random.PRNGKey(0), c), clip)
  params = sum(x.size for x in jax.tree_util.tree_leaves(variables["params"]))
  lowered = jax.jit(lambda v, c: model.apply(v, c)[0]).lower(variables, clip)
  analysis = lowered.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return params, float(analysis["flops"])


W3_REFINED = {"block_module": "w3", "attention_refinement": True}
VARIANTS = (("plain", {}), ("+ CBAM", {"block_module": "cbam"}),
            ("+ W3", {"block_module": "w3"}), ("+ W3 + refinement", W3_REFINED),
            ("+ W3 (full temporal convs) + refinement",
             dict(W3_REFINED, block_module_options={"temporal_mixing": "full"})))


def time_train_steps(steps: int) -> None:
  """Median train-step time of the demo's network, plain and with W3 + refinement."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from configs.synthetic_common import get_synthetic_config  # pylint: disable=g-import-not-at-top
  from d3d_jax.models import build_model  # pylint: disable=g-import-not-at-top
  from d3d_jax.tools import benchmark  # pylint: disable=g-import-not-at-top
  config = get_synthetic_config("rgb", "ce")
  i = config.input
  shape = (i.batch_size, i.num_frames, i.crop_size, i.crop_size, 3)
  clips = jax.random.uniform(jax.random.PRNGKey(0), shape, jnp.float32, -1.0, 1.0)
  labels = jax.random.randint(jax.random.PRNGKey(1), (shape[0],), 0, 12)
  print(f"train step of the demo's {config.model.name} ({dict(config.model.options)}), "
        f"batch {shape}, {jax.default_backend()}, median of {steps}")
  base = None
  for variant, options in (("plain", {}), ("+ W3 + refinement", W3_REFINED)):
    model = build_model(config.model.name, 12, **config.model.options.to_dict(), **options)
    variables = benchmark.init_variables(model, shape)
    _, train_step = benchmark._make_fns(model)  # pylint: disable=protected-access
    state = [variables["params"], variables["batch_stats"]]

    def one_step():
      state[0], state[1], loss = train_step(state[0], state[1], clips, labels,
                                            jax.random.PRNGKey(2))
      return loss

    seconds = benchmark._time_calls(one_step, steps)  # pylint: disable=protected-access
    base = base or seconds
    print(f"| {variant} | {seconds * 1e3:.1f} ms | x{seconds / base:.2f} |")


def main(argv):
  del argv
  print(host_memory.keep_freed_memory())  # Before TensorFlow or JAX start threads.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  if _TRAIN_STEP.value:
    time_train_steps(_STEPS.value)
    return
  print(f"{_FRAMES.value} frames x {_SIZE.value}^2, {_CLASSES.value} classes, one clip, "
        f"eval-mode forward")
  print("| backbone | variant | params | added params | XLA GFLOP | GMAC (= GFLOP/2) | added |")
  print("|---|---|---:|---:|---:|---:|---:|")
  for name in _MODELS.value:
    base = None
    for variant, options in VARIANTS:
      params, flops = measure(name, _FRAMES.value, _SIZE.value, _CLASSES.value, **options)
      base = base or (params, flops)
      added = (f"{params - base[0]:,}", f"{100 * (flops / base[1] - 1):+.2f} %")
      print(f"| {name} | {variant} | {params:,} | {added[0]} | {flops / 1e9:.2f} | "
            f"{flops / 2e9:.2f} | {added[1]} |")
  print("W3 Table 6 (TSM ResNet-50, 16 x 224^2): TSM 65.0, + CBAM 66.5 (+2.3 %), "
        "+ W3 67.1 GFLOPs (+3.2 %)")


if __name__ == "__main__":
  app.run(main)
