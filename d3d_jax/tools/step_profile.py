"""Where a compiled step's time goes: its most expensive XLA ops, from a profiler trace.

`python -m d3d_jax.tools.benchmark ... --profile=20` prints, per lowering, the 20 ops of
the train step that took the most time. XLA:CPU marks each op it runs in the profiler
trace when ``--xla_cpu_enable_xprof_traceme=true`` is in ``XLA_FLAGS`` before JAX starts
(the benchmark adds it). The trace of a few calls (`jax.profiler.trace`) is summed per op
and each op is joined with its line in the compiled HLO, which gives its shape and, in
its metadata, the layer it comes from (``.../Conv3d_1a_7x7/temporal/...``).

Times are thread time: ops that run at once on several cores each count in full, so
the shares are of the summed op time, not of the wall time. This is how the data
movement of the folded lowering's temporal taps (issue 16) was found.
"""

import collections
import glob
import gzip
import json
import os
import re
import tempfile
from typing import Callable

TRACEME_FLAG = "--xla_cpu_enable_xprof_traceme=true"

_INSTRUCTION = re.compile(r"\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ")
_OP_NAME = re.compile(r'op_name="([^"]+)"')


def hlo_instructions(hlo_text: str) -> dict[str, tuple[str, str]]:
  """Instruction name -> (result shape, the op_name of its metadata, or '')."""
  instructions = {}
  for line in hlo_text.splitlines():
    match = _INSTRUCTION.match(line)
    if match:
      op_name = _OP_NAME.search(line)
      shape = "(tuple)" if match.group(2).startswith("(") else match.group(2)
      instructions[match.group(1)] = (shape, op_name.group(1) if op_name else "")
  return instructions


def top_ops(compiled, run: Callable[[], object], calls: int = 2, top: int = 20) -> list[dict]:
  """Traces `calls` calls of `run` (which runs `compiled`) and returns the `top` ops by
  time: name, ms per call, share of all op time, shape and source op_name."""
  import jax  # pylint: disable=g-import-not-at-top
  instructions = hlo_instructions(compiled.as_text())
  with tempfile.TemporaryDirectory() as directory:
    with jax.profiler.trace(directory):
      for _ in range(calls):
        jax.block_until_ready(run())
    traces = glob.glob(os.path.join(directory, "plugins", "profile", "*", "*.trace.json.gz"))
    if not traces:
      raise RuntimeError(f"jax.profiler.trace wrote no *.trace.json.gz under {directory}")
    with gzip.open(traces[0]) as f:
      events = json.load(f)["traceEvents"]
  micros = collections.defaultdict(float)
  for event in events:
    if event.get("ph") == "X" and event.get("name") in instructions:
      micros[event["name"]] += event["dur"]
  total = sum(micros.values()) or 1.0
  ranked = sorted(micros.items(), key=lambda item: -item[1])[:top]
  return [{"op": name, "ms": us / 1e3 / calls, "share": us / total,
           "shape": instructions[name][0], "source": instructions[name][1]}
          for name, us in ranked]


def format_rows(rows: list[dict]) -> list[str]:
  """The table `benchmark --profile` prints."""
  lines = ["  op | ms/step (thread time) | share | shape | source"]
  for r in rows:
    source = r["source"].split("/", 1)[-1]  # Drops the jit(...) prefix.
    lines.append(f"  {r['op']} | {r['ms']:.1f} | {100 * r['share']:.1f}% | {r['shape']} | "
                 f"{source}")
  return lines
