"""What CPU a benchmark ran on: model, family / model numbers, widest vector ISA, L3.

A CPU benchmark's numbers only compare with others from the same kind of CPU. The
project's 2-vCPU dev VMs have reported the same model name, "AMD EPYC", for a CPU
with AVX-512 (f32 matmul peak measured at 250-400 GFLOP/s) and for family 25 model 1
(Zen 3, AVX2 only; 110-155 GFLOP/s, against 157 at most for 2 cores at 2.45 GHz), and
the ratio of our train step to PyTorch's moves with it (README, "Ours vs PyTorch"). So
`benchmark` prints this line, and its PyTorch side the ISA of the kernels it uses.
"""

import os
import platform
from typing import Optional

# Widest first: the first whose flags are all present names the CPU's vector ISA.
_VECTOR_ISAS = (
    ("AVX-512", ("avx512f",)),
    ("AVX2", ("avx2", "fma")),
    ("AVX", ("avx",)),
    ("SSE4.2", ("sse4_2",)),
)
_CPUINFO = "/proc/cpuinfo"
_L3_SIZE = "/sys/devices/system/cpu/cpu0/cache/index3/size"


def _first_processor(cpuinfo: str) -> dict[str, str]:
  """The ``key: value`` fields of the first processor block of /proc/cpuinfo."""
  fields = {}
  for line in cpuinfo.splitlines():
    if not line.strip():
      if fields:
        break
      continue
    key, _, value = line.partition(":")
    fields.setdefault(key.strip(), value.strip())
  return fields


def _read_or_empty(path: str) -> str:
  """The text of a system file (not a user path), or '' where this OS has none."""
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return ""


def vector_isa(flags: set[str]) -> str:
  """The widest x86 vector ISA all of whose flags are in `flags`, or 'none listed'."""
  return next((name for name, needed in _VECTOR_ISAS if set(needed) <= flags), "none listed")


def describe(cpuinfo: Optional[str] = None, l3_size: Optional[str] = None) -> str:
  """One line: model name, family / model / stepping, vector ISA, L3 size, logical CPUs.

  Reads /proc/cpuinfo and the sysfs cache size (Linux x86) unless given their text;
  elsewhere falls back to `platform.processor()`.
  """
  cpuinfo = _read_or_empty(_CPUINFO) if cpuinfo is None else cpuinfo
  l3_size = _read_or_empty(_L3_SIZE).strip() if l3_size is None else l3_size
  fields = _first_processor(cpuinfo)
  if "flags" not in fields:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs "
            "(no x86 /proc/cpuinfo to read the vector ISA from)")
  parts = [fields.get("model name", "unknown model")]
  if "cpu family" in fields:
    parts.append(f"family {fields['cpu family']} model {fields.get('model', '?')} "
                 f"stepping {fields.get('stepping', '?')}")
  parts.append(f"vector ISA {vector_isa(set(fields['flags'].split()))}")
  if l3_size:
    parts.append(f"L3 {l3_size}")
  processors = sum(line.startswith("processor") for line in cpuinfo.splitlines())
  parts.append(f"{processors} logical CPUs")
  return ", ".join(parts)
