"""NumPy oracles for the stem unit (conv -> BatchNorm -> ReLU), in each reference's layout.

Written directly from the reference semantics: TF convolutions on NDHWC inputs with
DHWIO kernels and 'SAME' padding; PyTorch convolutions on NCDHW inputs with OIDHW
kernels and explicit symmetric padding. No layout conversion of the importer is used.
"""

import numpy as np


def tf_same_pads(size, kernel, stride):
  """TF 'SAME': out = ceil(in / stride); the extra pad goes at the end."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def conv_ndhwc(x, w_dhwio, strides, pads):
  """TF-style conv3d: x (N,D,H,W,C), w (kd,kh,kw,C,O), pads ((lo,hi),)*3."""
  x = np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))
  kd, kh, kw = w_dhwio.shape[:3]
  out = [(x.shape[1 + i] - k) // s + 1 for i, (k, s) in enumerate(zip((kd, kh, kw), strides))]
  y = np.zeros((x.shape[0], *out, w_dhwio.shape[-1]), np.float64)
  sd, sh, sw = strides
  for a in range(kd):
    for b in range(kh):
      for c in range(kw):
        patch = x[:, a:a + sd * out[0]:sd, b:b + sh * out[1]:sh, c:c + sw * out[2]:sw, :]
        y += np.einsum("ndhwc,co->ndhwo", patch, w_dhwio[a, b, c])
  return y


def conv_ncdhw(x, w_oidhw, strides, pads):
  """PyTorch-style Conv3d: x (N,C,D,H,W), w (O,C,kd,kh,kw), pads ((lo,hi),)*3."""
  x = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
  kd, kh, kw = w_oidhw.shape[2:]
  out = [(x.shape[2 + i] - k) // s + 1 for i, (k, s) in enumerate(zip((kd, kh, kw), strides))]
  y = np.zeros((x.shape[0], w_oidhw.shape[0], *out), np.float64)
  sd, sh, sw = strides
  for a in range(kd):
    for b in range(kh):
      for c in range(kw):
        patch = x[:, :, a:a + sd * out[0]:sd, b:b + sh * out[1]:sh, c:c + sw * out[2]:sw]
        y += np.einsum("ncdhw,oc->nodhw", patch, w_oidhw[:, :, a, b, c])
  return y


def batch_norm_relu(y, mean, var, beta, gamma=None, eps=1e-3, channel_axis=-1):
  """Inference BatchNorm (moving statistics) then ReLU; channels on `channel_axis`."""
  shape = [1] * y.ndim
  shape[channel_axis] = -1
  r = lambda v: np.reshape(v, shape)
  out = (y - r(mean)) / np.sqrt(r(var) + eps)
  if gamma is not None:
    out = out * r(gamma)
  return np.maximum(out + r(beta), 0.0)
