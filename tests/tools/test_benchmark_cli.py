"""`python -m d3d_jax.tools.benchmark`: what it prints, on a tiny model.

Run as a subprocess, as users run it: the tool's absl flags (``--model``, ``--batch``,
...) share names with other tools' flags, and it sets XLA_FLAGS before JAX starts.
"""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from d3d_jax.tools import host_cpu

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_FLAGS = ["--model=s3dg", "--depth_multiplier=0.125", "--batch=2", "--frames=8",
              "--size=32", "--num_classes=5", "--steps=1", "--matmul_sizes=64"]
REQUIRES_TORCH = pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                                    reason="needs the torch extra: pip install -e '.[torch]'")
TABLE_HEADER = ("lowering | compile s | fwd clips/s | train clips/s | GFLOP/clip | GFLOP/s | "
                "% peak | speedup train | speedup fwd")


def _run(args, prelude=""):
  """Runs the benchmark's main with `args` after the Python `prelude`; (exit code, output)."""
  code = (f"import sys\n{prelude}\nfrom absl import app\n"
          "from d3d_jax.tools import benchmark\n"
          f"app.run(benchmark.main, argv=['benchmark'] + {args!r})")
  done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                        text=True, timeout=300, check=False)
  return done.returncode, done.stdout + done.stderr


def test_prints_the_peak_and_one_table_row_per_lowering():
  returncode, output = _run(TINY_FLAGS + ["--lowering=native", "--skip_forward"])
  assert returncode == 0, output
  lines = output.splitlines()
  assert any(l.startswith("peak: measured f32 matmul peak: ") for l in lines), output
  assert f"host CPU: {host_cpu.describe()}" in lines, output
  header = lines.index(TABLE_HEADER)
  cells = lines[header + 1].split(" | ")
  assert len(cells) == 9
  assert cells[0] == "native"
  assert float(cells[1]) > 0  # compile s
  assert cells[2] == "-"  # --skip_forward
  assert float(cells[3]) > 0  # train clips/s
  assert cells[6].endswith("%")
  assert cells[7:] == ["1.00x", "-"]


def test_compare_torch_without_torch_says_how_to_install_it():
  returncode, output = _run(TINY_FLAGS + ["--compare=torch"],
                            prelude="sys.modules['torch'] = None")
  assert returncode != 0
  assert "pip install -e '.[torch]'" in output
  assert "peak:" not in output  # It stops before measuring anything.



def test_batch_must_be_a_positive_integer_or_auto():
  returncode, output = _run(["--batch=0"])
  assert returncode != 0
  assert "--batch must be a positive integer or 'auto', got '0'" in output


@REQUIRES_TORCH
def test_compare_torch_prints_both_frameworks_and_the_ratio():
  returncode, output = _run(TINY_FLAGS + ["--lowering=native", "--skip_forward",
                                          "--compare=torch"])
  assert returncode == 0, output
  lines = output.splitlines()
  assert any(l.startswith("PyTorch: torchvision.models.video.s3d for our s3dg (") for l in lines)
  # The ISA of PyTorch's CPU kernels, e.g. "device cpu (AVX2 kernels)".
  assert re.search(r"device cpu \(\w+ kernels\), \d+ threads", output), output
  header = lines.index("framework | lowering / layout | compile s (torch: 1st step) | "
                       "train clips/s | GFLOP/s | % peak | ours / torch")
  ours, torch_row = (l.split(" | ") for l in lines[header + 1:header + 3])
  assert ours[:2] == ["d3d_jax", "native"]
  assert torch_row[0] == "torch" and torch_row[1] in ("NCDHW", "channels_last_3d")
  assert torch_row[6] == "1.00x"
  # ours / torch = ratio of train clips/s (to the printed rounding).
  assert float(ours[6].rstrip("x")) == pytest.approx(
      float(ours[3]) / float(torch_row[3]), rel=0.01, abs=0.006)


INTERLEAVED_HEADER = ("framework | lowering / layout | median s | min s | median clips/s | "
                      "speedup vs native | ours / torch")
PAIRED_HEADER = ("per round (each round's own ratio; median (quartiles)): framework | "
                 "lowering | speedup vs native | ours / torch")


def test_interleave_needs_two_contenders():
  returncode, output = _run(TINY_FLAGS + ["--lowering=folded", "--interleave=3"])
  assert returncode != 0
  assert ("--interleave alternates the train steps of two or more contenders: give "
          "--compare=torch") in output


def test_a_lowering_named_twice_is_a_usage_error():
  returncode, output = _run(TINY_FLAGS + ["--lowering=native,folded,native"])
  assert returncode != 0
  assert "--lowering names a lowering twice: native,folded,native" in output


def _assert_ratio_of_medians(printed, numerator, denominator):
  """`printed` ("2.56x") is numerator / denominator, medians printed to 3 decimals and
  the ratio taken before that rounding, itself printed to 2."""
  lo = (float(numerator) - 5e-4) / (float(denominator) + 5e-4)
  hi = (float(numerator) + 5e-4) / (float(denominator) - 5e-4)
  assert lo - 0.005 <= float(printed.rstrip("x")) <= hi + 0.005, (printed, lo, hi)


def _interleaved_rows(output, contenders):
  lines = output.splitlines()
  assert f"interleaved: 3 rounds of one train step each, in turn: {contenders}" in lines, output
  header, paired = lines.index(INTERLEAVED_HEADER), lines.index(PAIRED_HEADER)
  rows = [l.split(" | ") for l in lines[header + 1:paired]]
  for row in rows:
    median, fastest, clips_per_s = (float(cell) for cell in row[2:5])
    assert 0 < fastest <= median
    # clips/s = batch / median, from the median before its rounding to 3 decimals.
    assert 2 / (median + 5e-4) - 1e-3 <= clips_per_s <= 2 / (median - 5e-4) + 1e-3
  return rows, [l.split(" | ") for l in lines[paired + 1:]]


def _assert_paired_ratio(cell):
  """A per-round ratio cell: "median (q1-q3x)" with q1 <= median <= q3."""
  match = re.fullmatch(r"(\d+\.\d\d)x \((\d+\.\d\d)-(\d+\.\d\d)x\)", cell)
  assert match, cell
  median, q1, q3 = (float(g) for g in match.groups())
  assert 0 < q1 <= median <= q3, cell


def test_interleave_alternates_the_lowerings_and_prints_the_speedup_over_native():
  returncode, output = _run(TINY_FLAGS + ["--lowering=native,folded", "--skip_forward",
                                          "--interleave=3"])
  assert returncode == 0, output
  (native, folded), paired = _interleaved_rows(output, "native, folded")
  assert native[:2] == ["d3d_jax", "native"] and folded[:2] == ["d3d_jax", "folded"]
  assert native[5] == "1.00x" and native[6] == folded[6] == "-"
  _assert_ratio_of_medians(folded[5], native[2], folded[2])
  # Round by round: native against itself is exactly 1; no PyTorch, no ours / torch.
  assert paired == [["d3d_jax", "native", "1.00x (1.00-1.00x)", "-"],
                    ["d3d_jax", "folded", paired[1][2], "-"]]
  _assert_paired_ratio(paired[1][2])


@REQUIRES_TORCH
def test_interleave_alternates_torch_and_our_steps_and_prints_the_median_ratio():
  returncode, output = _run(TINY_FLAGS + ["--lowering=native", "--skip_forward",
                                          "--compare=torch", "--interleave=3"])
  assert returncode == 0, output
  layout = re.search(r"interleaved: 3 rounds of one train step each, in turn: "
                     r"PyTorch \((NCDHW|channels_last_3d)\), native", output).group(1)
  (ours, torch_row), paired = _interleaved_rows(output, f"PyTorch ({layout}), native")
  assert paired == [["d3d_jax", "native", "1.00x (1.00-1.00x)", paired[0][3]]]
  _assert_paired_ratio(paired[0][3])
  assert ours[:2] == ["d3d_jax", "native"]
  assert torch_row[:2] == ["torch", layout] and torch_row[5] == "-" and torch_row[6] == "1.00x"
  assert ours[5] == "1.00x"
  _assert_ratio_of_medians(ours[6], torch_row[2], ours[2])


def test_profile_prints_the_most_expensive_ops_with_their_layers():
  returncode, output = _run(TINY_FLAGS + ["--lowering=folded", "--skip_forward", "--profile=15"])
  assert returncode == 0, output
  lines = output.splitlines()
  header = lines.index("  op | ms/step (thread time) | share | shape | source")
  rows = [l.split(" | ") for l in lines[header + 1:header + 16]]
  assert len(rows) == 15 and all(len(r) == 5 for r in rows)
  times = [float(r[1]) for r in rows]
  assert times == sorted(times, reverse=True) and times[0] > 0
  assert all(re.fullmatch(r"[a-z0-9]+\[[0-9,]*\](\{[0-9,]*\})?|\(tuple\)", r[3]) for r in rows), rows
  assert any("/Conv3d_" in r[4] or "/Mixed_" in r[4] for r in rows)  # Layers, from metadata.
