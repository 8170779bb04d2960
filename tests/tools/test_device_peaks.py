"""The bf16 dense peak the benchmark's MFU divides by, looked up by jax device_kind."""

import pytest

from d3d_jax.tools import device_peaks


@pytest.mark.parametrize("device_kind, tflops", [
    ("NVIDIA H100 80GB HBM3", 989),
    ("NVIDIA H200", 989),
    ("NVIDIA A100-SXM4-80GB", 312),
    ("TPU v4", 275),
    ("TPU v5 lite", 197),
    ("TPU v5e", 197),
    ("TPU v5p", 459),
    ("TPU v5", 459),
])
def test_tabulated_peak_of_each_accelerator(device_kind, tflops):
  assert device_peaks.tabulated_peak(device_kind) == tflops * 1e12


def test_a_cpu_has_no_tabulated_peak():
  assert device_peaks.tabulated_peak("cpu") is None
