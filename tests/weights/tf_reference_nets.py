"""The DeepMind I3D and slim S3D-G forward passes in TensorFlow ops, from raw file tensors.

Restated from the reference code's semantics (kinetics-i3d's i3d.py, TF-slim's s3dg.py):
TF 'SAME' convolutions and max pools, inference BatchNorm without gamma (eps 1e-3), slim's
temporal conv with bias and its self-gating, the [2,7,7] VALID average pool (clipped to
the input as slim does), a 1x1x1 logits conv and the mean over time. Structure is read
off the tensor names, so a mapping mistake in the importer cannot be mirrored here.
"""

import numpy as np

BLOCKS = ("Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
          "Mixed_5b", "Mixed_5c")


def _tf():
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


def _network(x, unit, conv_names, logits_names):
  tf = _tf()
  pool = lambda x, k, s: tf.nn.max_pool3d(x, (1, *k, 1), (1, *s, 1), "SAME")
  x = unit(x, conv_names("Conv3d_1a_7x7"), (2, 2, 2))
  x = pool(x, (1, 3, 3), (1, 2, 2))
  x = unit(unit(x, conv_names("Conv3d_2b_1x1")), conv_names("Conv3d_2c_3x3"))
  x = pool(x, (1, 3, 3), (1, 2, 2))
  for block in BLOCKS:
    if block == "Mixed_4b":
      x = pool(x, (3, 3, 3), (2, 2, 2))
    if block == "Mixed_5b":
      x = pool(x, (2, 2, 2), (2, 2, 2))
    b2_3x3 = "Conv3d_0a_3x3" if block == "Mixed_5b" else "Conv3d_0b_3x3"
    x = tf.concat([
        unit(x, conv_names(f"{block}/Branch_0/Conv3d_0a_1x1")),
        unit(unit(x, conv_names(f"{block}/Branch_1/Conv3d_0a_1x1")),
             conv_names(f"{block}/Branch_1/Conv3d_0b_3x3")),
        unit(unit(x, conv_names(f"{block}/Branch_2/Conv3d_0a_1x1")),
             conv_names(f"{block}/Branch_2/{b2_3x3}")),
        unit(pool(x, (3, 3, 3), (1, 1, 1)), conv_names(f"{block}/Branch_3/Conv3d_0b_1x1")),
    ], axis=-1)
  window = [min(w, s) for w, s in zip((2, 7, 7), x.shape[1:4])]
  x = tf.nn.avg_pool3d(x, (1, *window, 1), (1, 1, 1, 1, 1), "VALID")
  kernel, bias = logits_names
  x = tf.nn.conv3d(x, kernel, (1, 1, 1, 1, 1), "VALID") + bias
  return tf.reduce_mean(x[:, :, 0, 0, :], axis=1).numpy()


def _batch_norm_relu(x, beta, mean, var):
  tf = _tf()
  flat = lambda v: np.reshape(v, (-1,))
  return tf.nn.relu((x - flat(mean)) / np.sqrt(flat(var) + 1e-3) + flat(beta))


def deepmind_i3d_logits(tensors, x, scope="RGB/inception_i3d/"):
  """Sonnet `InceptionI3d` at inference (is_training=False, dropout_keep_prob=1)."""
  tf = _tf()

  def unit(x, name, strides=(1, 1, 1)):
    y = tf.nn.conv3d(x, tensors[f"{name}/conv_3d/w"], (1, *strides, 1), "SAME")
    bn = f"{name}/batch_norm/"
    return _batch_norm_relu(y, tensors[bn + "beta"], tensors[bn + "moving_mean"],
                            tensors[bn + "moving_variance"])

  logits = scope + "Logits/Conv3d_0c_1x1/conv_3d/"
  return _network(x, unit, lambda name: scope + name,
                  (tensors[logits + "w"], tensors[logits + "b"]))


def slim_s3dg_logits(tensors, x, scope="InceptionV1/"):
  """slim `s3dg(..., is_training=False)`: separable units with a temporal bias, gating."""
  tf = _tf()

  def unit(x, name, strides=(1, 1, 1)):
    kernel = tensors[f"{name}/weights"]
    spatial_strides = (1, *strides[1:]) if f"{name}/temporal/weights" in tensors else strides
    y = tf.nn.conv3d(x, kernel, (1, *spatial_strides, 1), "SAME")
    bn = f"{name}/BatchNorm/"
    y = _batch_norm_relu(y, tensors[bn + "beta"], tensors[bn + "moving_mean"],
                         tensors[bn + "moving_variance"])
    if f"{name}/temporal/weights" in tensors:
      y = tf.nn.conv3d(y, tensors[f"{name}/temporal/weights"], (1, strides[0], 1, 1, 1), "SAME")
      y = tf.nn.relu(y + tensors[f"{name}/temporal/biases"])
    if f"{name}/self_gating/transformer_W/weights" in tensors:
      pooled = tf.reduce_mean(y, axis=(1, 2, 3), keepdims=True)
      gate = tf.nn.conv3d(pooled, tensors[f"{name}/self_gating/transformer_W/weights"],
                          (1, 1, 1, 1, 1), "VALID")
      y = y * tf.sigmoid(gate)
    return y

  logits = scope + "Logits/Conv2d_0c_1x1/"
  slim_name = lambda name: scope + name.replace("Conv3d_", "Conv2d_").replace(
      "Mixed_5b/Branch_2/Conv2d_0a_3x3", "Mixed_5b/Branch_2/Conv2d_0b_3x3")
  return _network(x, unit, slim_name, (tensors[logits + "weights"], tensors[logits + "biases"]))
