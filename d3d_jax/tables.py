r"""The papers' tables from finished workdirs: paper number, measured, difference.

  python -m d3d_jax.tables --workdirs=gs://YOUR_BUCKET/workdirs [--paper=d3d] \
      [--csv=/tmp/d3d_tables.csv]

`--workdirs` is a comma-separated list of workdirs, or of directories whose
subdirectories are workdirs. A workdir measures the rows its config carries
(``paper_rows`` in ``WORKDIR/run_config.json``, `d3d_jax.paper_rows`) with the metrics
of its newest evaluation (``WORKDIR/eval/metrics.json``). Every claimed row of the
chosen papers is printed, one markdown table per paper table; a row no workdir
measures shows "—". Several workdirs of one row (seeds) are averaged; the table says
how many. `--csv` also writes every row as CSV ('-' = standard output).
"""

import csv
import dataclasses
import io
import json
import sys
from typing import Optional, Sequence

from absl import app, flags

from d3d_jax import evaluation, paper_rows
from d3d_jax.checkpointing import RUN_CONFIG_FILE
from data_pipelines import paths

_FLAGS = {}  # Defined only when run as a program (other tools have a --workdirs).


def _define_flags() -> dict:
  return dict(
      workdirs=flags.DEFINE_list("workdirs", None, "Workdirs, or directories of workdirs."),
      paper=flags.DEFINE_enum("paper", None, list(paper_rows.PAPERS),
                              "Only this paper's tables (default: all four)."),
      csv=flags.DEFINE_string("csv", "", "Also write the rows as CSV to this file "
                              "('-' = standard output)."))

MISSING = "—"
CSV_COLUMNS = ("paper", "table", "row", "dataset", "metric", "paper_number", "measured",
               "difference", "runs", "workdirs", "note")


@dataclasses.dataclass(frozen=True)
class Measurement:
  """One workdir's value of one row, in the paper's unit."""

  row_id: str
  value: float
  step: int
  workdir: str


def _workdir_paths(entries: Sequence[str]) -> list:
  """Each entry if it is a workdir (has run_config.json), else its subdirectories
  that are."""
  found = []
  for entry in entries:
    path = paths.resolve(entry)
    if (path / RUN_CONFIG_FILE).exists():
      found.append(path)
    elif path.is_dir():
      found.extend(sorted(p for p in path.iterdir() if (p / RUN_CONFIG_FILE).exists()))
    else:
      raise FileNotFoundError(f"--workdirs: {entry} is neither a workdir (no "
                              f"{RUN_CONFIG_FILE}) nor a directory")
  return found


def _measures_column(row: paper_rows.PaperRow, settings: dict) -> bool:
  """False when the run's input.num_classes is set to another dataset's count."""
  num_classes = settings.get("input.num_classes")
  expected = paper_rows.DATASET_CLASSES.get(row.column)
  return num_classes is None or expected is None or int(num_classes) == expected


def measure(workdir) -> list[Measurement]:
  """The rows `workdir` measures, with the values of its newest evaluation; [] when
  its config carries no rows or it has not been evaluated."""
  settings = json.loads((workdir / RUN_CONFIG_FILE).read_text()).get("settings", {})
  metrics_path = workdir / "eval" / evaluation.METRICS_FILE
  if not metrics_path.exists():
    return []
  record = json.loads(metrics_path.read_text())
  measurements = []
  for row in paper_rows.rows_of_settings(settings):
    if row.metric in record["metrics"] and _measures_column(row, settings):
      measurements.append(Measurement(row.id, record["metrics"][row.metric] * row.scale(),
                                      int(record["step"]), str(workdir)))
  return measurements


def table_rows(measurements: Sequence[Measurement], paper: Optional[str] = None) -> list[dict]:
  """One dict per claimed row (CSV_COLUMNS), in the order of `paper_rows.ROWS`."""
  by_row = {}
  for m in measurements:
    by_row.setdefault(m.row_id, []).append(m)
  rows = []
  for row in paper_rows.ROWS.values():
    if paper is not None and row.paper != paper:
      continue
    runs = by_row.get(row.id, [])
    measured = sum(m.value for m in runs) / len(runs) if runs else None
    rows.append({
        "paper": row.paper, "table": row.table, "row": row.row, "dataset": row.column,
        "metric": row.metric, "paper_number": row.number, "measured": measured,
        "difference": None if measured is None else measured - row.number,
        "runs": len(runs), "workdirs": " ".join(m.workdir for m in runs),
        "note": row.note})
  return rows


def _number(value, signed: bool = False) -> str:
  if value is None:
    return MISSING
  return f"{value:+.2f}" if signed else f"{value:.2f}"


def markdown(rows: Sequence[dict]) -> str:
  """One markdown table per (paper, table)."""
  out, current = [], None
  for r in rows:
    if (r["paper"], r["table"]) != current:
      current = (r["paper"], r["table"])
      out += ["", f"### {paper_rows.PAPERS[r['paper']]}, Table {r['table']}", "",
              "| row | dataset | metric | paper | measured | difference | runs |",
              "|---|---|---|---:|---:|---:|---:|"]
    note = f" ({r['note']})" if r["note"] else ""
    out.append(f"| {r['row']}{note} | {r['dataset']} | {r['metric']} | "
               f"{r['paper_number']:.2f} | {_number(r['measured'])} | "
               f"{_number(r['difference'], signed=True)} | {r['runs']} |")
  return "\n".join(out).strip() + "\n"


def to_csv(rows: Sequence[dict]) -> str:
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
  writer.writeheader()
  for r in rows:
    writer.writerow({k: (MISSING if r[k] is None else r[k]) for k in CSV_COLUMNS})
  return buffer.getvalue()


def tables(workdirs: Sequence[str], paper: Optional[str] = None) -> list[dict]:
  """The table rows of `paper` (None = all) measured by `workdirs`."""
  measurements = [m for w in _workdir_paths(workdirs) for m in measure(w)]
  return table_rows(measurements, paper)


def main(argv) -> None:
  del argv
  if not _FLAGS["workdirs"].value:
    raise app.UsageError("--workdirs is required")
  rows = tables(_FLAGS["workdirs"].value, _FLAGS["paper"].value)
  print(markdown(rows))
  csv_path = _FLAGS["csv"].value
  if csv_path == "-":
    sys.stdout.write(to_csv(rows))
  elif csv_path:
    paths.resolve(csv_path).write_text(to_csv(rows))


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  _FLAGS.update(_define_flags())
  app.run(main)
