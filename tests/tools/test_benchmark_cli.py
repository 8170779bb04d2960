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
  header = lines.index("framework | lowering / layout | compile s (torch: 1st step) | "
                       "train clips/s | GFLOP/s | % peak | ours / torch")
  ours, torch_row = (l.split(" | ") for l in lines[header + 1:header + 3])
  assert ours[:2] == ["d3d_jax", "native"]
  assert torch_row[0] == "torch" and torch_row[1] in ("NCDHW", "channels_last_3d")
  assert torch_row[6] == "1.00x"
  # ours / torch = ratio of train clips/s (to the printed rounding).
  assert float(ours[6].rstrip("x")) == pytest.approx(
      float(ours[3]) / float(torch_row[3]), rel=0.01, abs=0.006)


def test_interleave_needs_compare_torch():
  returncode, output = _run(TINY_FLAGS + ["--interleave=3"])
  assert returncode != 0
  assert "--interleave alternates with PyTorch's steps: it needs --compare=torch" in output


@REQUIRES_TORCH
def test_interleave_alternates_torch_and_our_steps_and_prints_the_median_ratio():
  returncode, output = _run(TINY_FLAGS + ["--lowering=native", "--skip_forward",
                                          "--compare=torch", "--interleave=3"])
  assert returncode == 0, output
  lines = output.splitlines()
  assert any(re.fullmatch(r"interleaved: 3 rounds of one PyTorch \((NCDHW|channels_last_3d)\) "
                          r"then one of our \(native\) train steps", l) for l in lines), output
  header = lines.index(
      "framework | lowering / layout | median s | min s | median clips/s | ours / torch")
  ours, torch_row = (l.split(" | ") for l in lines[header + 1:header + 3])
  assert ours[:2] == ["d3d_jax", "native"] and torch_row[0] == "torch"
  assert torch_row[5] == "1.00x"
  for row in (ours, torch_row):
    assert 0 < float(row[3]) <= float(row[2])  # min <= median
    assert float(row[4]) == pytest.approx(2 / float(row[2]), rel=0.01, abs=0.002)
  assert float(ours[5].rstrip("x")) == pytest.approx(
      float(torch_row[2]) / float(ours[2]), rel=0.02, abs=0.006)


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
