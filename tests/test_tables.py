"""`python -m d3d_jax.tables` on workdirs of tiny real runs: each run is the tiny
synthetic config labelled with claimed paper rows (``config.paper_rows``), trained a
few steps and evaluated by `d3d_jax.main.run_mode`, as a paper config's run would be."""

import json
import os
import subprocess
import sys

import pytest

from d3d_jax import main, paper_rows, tables
from tests.trainer.conftest import tiny_config

pytestmark = pytest.mark.slow  # Three tiny training runs and a subprocess.

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D3D_ROWS = ("d3d_t2_s3dg_rgb", "d3d_t6_s3dg")   # metric top1@fullx1
WANG_ROW = "wang_t1_student_ucf101"             # metric top1@1x1


def _run(data_dir, workdir, rows, seed=0, **overrides):
  config = tiny_config(data_dir, total_steps=2, seed=seed, **overrides)
  config.paper_rows = paper_rows.section(*rows)
  main.run_mode(config, str(workdir))
  with open(os.path.join(workdir, "eval", "metrics.json")) as f:
    return json.load(f)["metrics"]


@pytest.fixture(scope="module")
def workdirs(tiny_dataset, tmp_path_factory):
  """A directory of three evaluated workdirs (one whole-video D3D-row run, two seeds of
  a Wang row) and one of a run that was never evaluated; their metrics."""
  root = tmp_path_factory.mktemp("workdirs")
  metrics = {
      "d3d": _run(tiny_dataset, root / "s3dg_rgb", D3D_ROWS,
                  **{"input.eval_num_frames": 0, "input.eval_max_frames": 8}),
      "wang0": _run(tiny_dataset, root / "student_seed0", [WANG_ROW], seed=0),
      "wang1": _run(tiny_dataset, root / "student_seed1", [WANG_ROW], seed=1),
  }
  main.run_mode(tiny_config(tiny_dataset, total_steps=1, mode="train"), str(root / "untagged"))
  return root, metrics


def _by_row(rows):
  return {(r["paper"], r["table"], r["row"], r["dataset"]): r for r in rows}


def test_a_row_shows_its_workdirs_metric_in_percent_and_the_difference(workdirs):
  root, metrics = workdirs
  row = _by_row(tables.tables([str(root)], "d3d"))[("d3d", "2", "S3D-G RGB", "Kinetics-400")]
  assert row["measured"] == pytest.approx(100 * metrics["d3d"]["top1@fullx1"])
  assert row["difference"] == pytest.approx(row["measured"] - 74.0)
  assert row["runs"] == 1 and row["workdirs"] == str(root / "s3dg_rgb")


def test_the_workdirs_of_one_row_are_averaged_and_counted(workdirs):
  root, metrics = workdirs
  row = _by_row(tables.tables([str(root / "student_seed0"), str(root / "student_seed1")],
                              "wang"))[("wang", "1", "Student", "UCF101")]
  assert row["runs"] == 2
  assert row["measured"] == pytest.approx(
      50 * (metrics["wang0"]["top1@1x1"] + metrics["wang1"]["top1@1x1"]))


def test_every_claimed_row_of_the_paper_is_printed_and_missing_ones_show_a_dash(workdirs):
  root, _ = workdirs
  rows = tables.tables([str(root)], "d3d")
  assert len(rows) == sum(r.paper == "d3d" for r in paper_rows.ROWS.values())
  text = tables.markdown(rows)
  assert "| D3D distilled at layer 4F | Kinetics-400 | top1@fullx1 | 74.80 | — | — | 0 |" in text
  assert text.count("### D3D (Stroud et al., WACV 2020), Table ") == 3  # Tables 1, 2, 6


def test_a_run_labelled_for_another_dataset_column_does_not_fill_it(tmp_path):
  workdir = tmp_path / "liu_hmdb51"
  (workdir / "eval").mkdir(parents=True)
  settings = {"input.num_classes": 51, **{
      f"paper_rows.{row_id}.{k}": v for row_id in ("liu_t1_i3d_rgb_ucf101",
                                                    "liu_t1_i3d_rgb_hmdb51")
      for k, v in paper_rows.section(row_id)[row_id].to_dict().items()}}
  (workdir / "run_config.json").write_text(json.dumps({"settings": settings}))
  (workdir / "eval" / "metrics.json").write_text(json.dumps(
      {"step": 10, "metrics": {"mean_class_accuracy@10x3": 0.5}}))
  rows = _by_row(tables.tables([str(workdir)], "liu"))
  assert rows[("liu", "1", "RGB I3D", "HMDB51")]["measured"] == pytest.approx(50.0)
  assert rows[("liu", "1", "RGB I3D", "UCF101")]["measured"] is None


def test_the_command_prints_markdown_and_csv(workdirs):
  root, metrics = workdirs
  result = subprocess.run(
      [sys.executable, "-m", "d3d_jax.tables", f"--workdirs={root}", "--paper=wang",
       "--csv=-"], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
      text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  measured = 50 * (metrics["wang0"]["top1@1x1"] + metrics["wang1"]["top1@1x1"])
  assert (f"| Student | UCF101 | top1@1x1 | 64.10 | {measured:.2f} | "
          f"{measured - 64.1:+.2f} | 2 |") in result.stdout
  header = ",".join(tables.CSV_COLUMNS)
  csv_lines = result.stdout[result.stdout.index(header):].splitlines()
  assert len(csv_lines) == 1 + sum(r.paper == "wang" for r in paper_rows.ROWS.values())
  assert "wang,1,KD,UCF101,top1@1x1,65.2,—,—,0,," in csv_lines
