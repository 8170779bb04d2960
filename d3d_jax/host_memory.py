"""Keeps freed host memory in the process, so XLA:CPU steps stop page-faulting.

XLA:CPU allocates a train step's temporaries with malloc, from its own threads: 1.56 GB
for S3D at 2 x 16 x 224^2. glibc serves every block above 32 MiB with a fresh ``mmap``
and gives it back with ``munmap`` when the step frees it, so the next step faults every
page in again and the kernel zeroes it. Measured on the 2-core machine of the closing
note of issue 16: ~430,000 minor page faults and 0.7-1.8 s of kernel time per S3D step,
and a [200704, 64] x [64, 448] matmul at 210 ms instead of 78 ms. PyTorch's eager CPU
steps pay the same (~200,000-300,000 faults per S3D step).

`keep_freed_memory` sets glibc's allocator (``mallopt``) to

* one arena (``M_ARENA_MAX=1``): blocks larger than a secondary arena's 64 MiB heap are
  always ``mmap``-ed, whatever the other settings, and XLA's threads would get such
  arenas;
* no ``mmap`` for large blocks (``M_MMAP_MAX=0``), so they come from the heap;
* no trimming (``M_TRIM_THRESHOLD=-1``), so the heap is never given back.

Once the heap has grown to the step's peak, the same pages are reused: 0 faults (from
the second step on with jax 0.10; with jax 0.12, on Python >= 3.12, the heap grows once
or twice more, when a step still finds the previous step's temporaries allocated).
The cost: the process keeps its peak host memory until it exits (the next step needs it
anyway).

The entry points (`d3d_jax.main`, the demo, `probe_flow`, the benchmarks) call it first,
before TensorFlow or JAX start any thread, since a thread that already has its own arena
keeps it. It changes nothing

* off Linux / glibc (macOS, musl): their allocators differ;
* when the math runs on an accelerator (``JAX_PLATFORMS`` names no ``cpu`` first, or a
  CUDA / ROCm / TPU plugin for JAX is installed and ``JAX_PLATFORMS`` is unset): there
  the host only feeds tf.data, whose many threads are better served by many arenas;
* when ``D3D_JAX_HOST_MEMORY=release`` (glibc's default behaviour).
"""

import ctypes
import ctypes.util
import importlib.metadata
import os
import platform

MODE_VARIABLE = "D3D_JAX_HOST_MEMORY"
MODES = ("keep", "release")

# mallopt(3) parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

_ACCELERATOR_DISTRIBUTIONS = ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm60-plugin",
                              "jax-rocm7-plugin", "libtpu", "libtpu-nightly")


def _mode() -> str:
  mode = os.environ.get(MODE_VARIABLE, "keep").strip().lower() or "keep"
  if mode not in MODES:
    raise ValueError(f"{MODE_VARIABLE} must be one of {MODES}, got {mode!r}")
  return mode


def _runs_on_accelerator() -> bool:
  """Whether JAX will compute on a GPU / TPU, judged without starting JAX."""
  platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
  if platforms:
    return not platforms.startswith("cpu")
  for name in _ACCELERATOR_DISTRIBUTIONS:
    try:
      importlib.metadata.distribution(name)
      return True
    except importlib.metadata.PackageNotFoundError:
      pass
  return False


def keep_freed_memory() -> str:
  """Applies the settings of the module docstring where they apply; returns a line
  saying what it did, for the caller's log."""
  if _mode() == "release":
    return f"host memory: glibc defaults ({MODE_VARIABLE}=release)"
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return "host memory: allocator defaults (not Linux with glibc)"
  if _runs_on_accelerator():
    return "host memory: glibc defaults (JAX computes on an accelerator)"
  libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
  applied = [libc.mallopt(_M_ARENA_MAX, 1), libc.mallopt(_M_MMAP_MAX, 0),
             libc.mallopt(_M_TRIM_THRESHOLD, -1)]
  if not all(applied):
    return f"host memory: glibc refused mallopt ({applied}); allocator defaults"
  return (f"host memory: freed memory kept in the process (one malloc arena, no mmap, "
          f"no trim; {MODE_VARIABLE}=release turns this off)")
