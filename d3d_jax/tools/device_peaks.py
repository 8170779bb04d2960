"""Dense bf16 matmul peaks of the accelerators users train on, looked up by device kind.

The benchmark divides a train step's achieved FLOP/s by this peak to report model FLOPs
utilisation (MFU). Values are the vendors' published dense (no sparsity) bf16 peaks per
chip (per GPU):

| device | TFLOP/s | source |
|---|---|---|
| NVIDIA H100 SXM | 989 | NVIDIA H100 Tensor Core GPU datasheet (1979 with sparsity) |
| NVIDIA H200 (SXM) | 989 | NVIDIA H200 datasheet: same Hopper tensor cores as H100 SXM |
| NVIDIA A100 | 312 | NVIDIA A100 Tensor Core GPU datasheet (624 with sparsity) |
| TPU v4 | 275 | Google Cloud TPU v4 documentation, per chip |
| TPU v5e | 197 | Google Cloud TPU v5e documentation, per chip |
| TPU v5p | 459 | Google Cloud TPU v5p documentation, per chip |

A device whose kind is not in the table (a CPU, another GPU) has no tabulated peak:
the benchmark then measures one (the best f32 `jnp.dot` it times).
"""

from typing import Optional

# (substring of jax.Device.device_kind, lower-cased) -> bf16 dense FLOP/s per device.
# Order matters: the first match wins, so longer / more specific names come first.
BF16_PEAK_FLOPS = (
    ("h100", 989e12),
    ("h200", 989e12),
    ("a100", 312e12),
    ("tpu v4", 275e12),
    ("tpu v5 lite", 197e12),  # How JAX names a v5e chip.
    ("tpu v5e", 197e12),
    ("tpu v5p", 459e12),
    ("tpu v5", 459e12),  # How JAX names a v5p chip.
)


def tabulated_peak(device_kind: str) -> Optional[float]:
  """The bf16 dense peak FLOP/s of a device of `device_kind`, or None if not tabulated."""
  kind = device_kind.lower()
  for name, flops in BF16_PEAK_FLOPS:
    if name in kind:
      return flops
  return None
