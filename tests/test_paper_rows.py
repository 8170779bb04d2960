"""The claimed paper rows (d3d_jax/paper_rows.py) and the configs that carry them agree."""

import dataclasses
import importlib

import pytest

from d3d_jax import paper_rows
from tests.test_configs import EXPERIMENTS, RUNS


def _config(name, variant):
  module = importlib.import_module(f"configs.{name}")
  return module.get_config() if variant is None else module.get_config(variant)


CARRIED = {(name, variant): _config(name, variant).paper_rows.to_dict()
           for name, variant in RUNS}


def test_every_claimed_row_is_carried_by_a_config():
  carried = {row_id for rows in CARRIED.values() for row_id in rows}
  assert sorted(set(paper_rows.ROWS) - carried) == []


@pytest.mark.parametrize("name,variant", RUNS)
def test_every_row_a_config_carries_is_a_claimed_row_with_its_values(name, variant):
  for row_id, fields in CARRIED[(name, variant)].items():
    assert row_id in paper_rows.ROWS, f"configs/{name}.py:{variant} carries {row_id}"
    claimed = dataclasses.asdict(paper_rows.ROWS[row_id])
    del claimed["id"]
    assert fields == claimed


@pytest.mark.parametrize("name,variant", [run for run in RUNS if CARRIED[run]])
def test_a_config_docstring_states_the_paper_number_of_each_row_it_carries(name, variant):
  doc = importlib.import_module(f"configs.{name}").__doc__
  for row_id, fields in CARRIED[(name, variant)].items():
    assert f"{fields['number']:.1f}" in doc or f"{fields['number']:.2f}" in doc, row_id


def test_every_paper_config_file_carries_rows():
  """Each experiment file of the four papers (not the synthetic demo, not the shared
  *_common modules) reproduces at least one claimed row."""
  paper_files = [n for n in EXPERIMENTS if not n.startswith("synthetic_")]
  without = [n for n in paper_files
             if not any(rows for (name, _), rows in CARRIED.items() if name == n)]
  assert without == []


def test_a_row_id_not_in_the_list_is_an_error_naming_the_list():
  with pytest.raises(ValueError, match=r"\['d3d_t9_x'\] are not in d3d_jax/paper_rows.py"):
    paper_rows.section("d3d_t2_d3d", "d3d_t9_x")
