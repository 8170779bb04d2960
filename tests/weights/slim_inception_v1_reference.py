"""TF-slim's Inception-v1: its checkpoint layout restated, and the real network built.

* `layout`: the tensor names and shapes of slim's `inception_v1_2016_08_28` checkpoint,
  restated from TF-slim's `nets/inception_v1.py` (the `tf-slim` package) without the
  importer's code; `depth` scales channels like our depth_multiplier (tiny tests).
* `build_random_inception_v1`: TF-slim's own `inception_v1` (graph mode, under
  `inception_v1_arg_scope`, is_training=False) with random weights, its logits on
  images, and the checkpoint its `Saver` writes: the published file's names, and its
  single-file V1 checkpoint format.

tf-slim 1.1.0 (2020, the last release) needs two shims on TF >= 2.16:

* its `batch_norm` builds the Keras-2 layer `tf.compat.v1.layers.BatchNormalization`
  when ``updates_collections`` is `GraphKeys.UPDATE_OPS` (as `inception_v1_arg_scope`
  sets it); TF now loads that layer from the separate `tf_keras` package. With
  ``updates_collections=None`` slim takes its fused path (`nn.fused_batch_norm`): the
  same variables and, at inference, the same arithmetic;
* that path's `utils.constant_value` tests ``isinstance(x, ops.Tensor)``, an alias TF
  2.21 no longer has in `tensorflow.python.framework.ops`; it is set back to `tf.Tensor`.
"""

import warnings

from tests.weights import reference_layouts

SCOPE = "InceptionV1/"
NUM_CLASSES = 1001  # slim's ImageNet labels: 1000 classes and 'background'
# slim's Inception-v1 needs 224 px: its Logits pool is a fixed 7x7 VALID window.
IMAGE_SIZE = 224


def layout(depth=reference_layouts.full_depth, num_classes=NUM_CLASSES, in_channels=3,
           prefix=SCOPE):
  """{name: shape}: 2-D kernels (k,k,Cin,Cout), BatchNorm without gamma, 1001 logits."""
  units = [("Conv2d_1a_7x7", 7, in_channels, depth(64)),
           ("Conv2d_2b_1x1", 1, depth(64), depth(64)),
           ("Conv2d_2c_3x3", 3, depth(64), depth(192))]
  c_in = depth(192)
  for block, b0, b1a, b1b, b2a, b2b, b3 in reference_layouts.INCEPTION:
    b2_3x3 = "Conv2d_0a_3x3" if block == "Mixed_5b" else "Conv2d_0b_3x3"  # slim's quirk
    units += [(f"{block}/Branch_0/Conv2d_0a_1x1", 1, c_in, depth(b0)),
              (f"{block}/Branch_1/Conv2d_0a_1x1", 1, c_in, depth(b1a)),
              (f"{block}/Branch_1/Conv2d_0b_3x3", 3, depth(b1a), depth(b1b)),
              (f"{block}/Branch_2/Conv2d_0a_1x1", 1, c_in, depth(b2a)),
              (f"{block}/Branch_2/{b2_3x3}", 3, depth(b2a), depth(b2b)),
              (f"{block}/Branch_3/Conv2d_0b_1x1", 1, c_in, depth(b3))]
    c_in = depth(b0) + depth(b1b) + depth(b2b) + depth(b3)
  tensors = {}
  for name, k, cin, cout in units:
    tensors[f"{prefix}{name}/weights"] = (k, k, cin, cout)
    for stat in ("beta", "moving_mean", "moving_variance"):
      tensors[f"{prefix}{name}/BatchNorm/{stat}"] = (cout,)
  tensors[f"{prefix}Logits/Conv2d_0c_1x1/weights"] = (1, 1, c_in, num_classes)
  tensors[f"{prefix}Logits/Conv2d_0c_1x1/biases"] = (num_classes,)
  return tensors


def _tf_and_slim():
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.framework import ops  # pylint: disable=g-import-not-at-top
  if not hasattr(ops, "Tensor"):
    ops.Tensor = tf.Tensor  # the alias tf-slim 1.1.0 uses (module docstring)
  import tf_slim  # pylint: disable=g-import-not-at-top
  from tf_slim.nets import inception_v1  # pylint: disable=g-import-not-at-top
  return tf, tf_slim, inception_v1


def build_random_inception_v1(prefix, images, seed=0):
  """TF-slim's `inception_v1(num_classes=1001, is_training=False)` with random weights.

  Args:
    prefix: where its `tf.compat.v1.train.Saver` writes the checkpoint.
    images: [B, 224, 224, 3] float32.
    seed: of the random values (`reference_layouts.random_tensors`: positive variances).

  Returns:
    (checkpoint prefix, {variable name: value}, logits [B, 1001] of `images`).
  """
  tf, slim, inception_v1 = _tf_and_slim()
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, images.shape)
    with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
      conv_args = slim.current_arg_scope()[slim.arg_scope_func_key(slim.conv2d)]
      fused_bn = dict(conv_args["normalizer_params"], updates_collections=None)
      with slim.arg_scope([slim.conv2d], normalizer_params=fused_bn), \
          warnings.catch_warnings():
        # slim's conv2d calls the TF-1 layer's deprecated `apply`.
        warnings.filterwarnings("ignore", message="`layer.apply` is deprecated")
        logits, _ = inception_v1.inception_v1(x, num_classes=NUM_CLASSES, is_training=False)
    variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
    values = reference_layouts.random_tensors(
        {name: tuple(v.shape.as_list()) for name, v in variables.items()}, seed)
    assign = [v.assign(values[name]) for name, v in variables.items()]
    # The model zoo's tarball holds one file, inception_v1.ckpt: TF's V1 checkpoint format.
    saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(assign)
      written = saver.save(session, str(prefix), write_meta_graph=False)
      return written, values, session.run(logits, {x: images})
