r"""Parameters and XLA FLOPs that W3 adds to a backbone, at the paper's input size.

    python -m d3d_jax.tools.w3_overhead --models=i3d,s3dg --frames=16 --size=224

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

_MODELS = flags.DEFINE_list("models", ["i3d", "s3dg"], "Backbones (d3d_jax.models.MODELS).")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip (W3 Table 6: 16).")
_SIZE = flags.DEFINE_integer("size", 224, "Crop size (W3: 224).")
_CLASSES = flags.DEFINE_integer("num_classes", 174, "Classes (Something-Something: 174).")


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


VARIANTS = (("plain", {}), ("+ W3", {"block_module": "w3"}),
            ("+ W3 + refinement", {"block_module": "w3", "attention_refinement": True}))


def main(argv):
  del argv
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
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
  print("W3 Table 6 (TSM ResNet-50, 16 x 224^2): 65.0 -> 67.1 GFLOPs (+3.2 %)")


if __name__ == "__main__":
  app.run(main)
