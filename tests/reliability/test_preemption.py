"""SIGTERM in train, train_and_eval and eval: checkpoint, no evaluation, no export,
a line saying the run is incomplete (main then exits 0); a stale export is never
evaluated. The signal is this test process's own, sent at a checkpoint."""

import os
import signal
import threading
import time

from absl import logging
import pytest

from d3d_jax import evaluation, main, trainer
from tests.trainer.conftest import tiny_config


def _signal_when(path, process_signal, timeout=120):
  """Sends `process_signal` to this process once `path` exists."""
  def watch():
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline:
      time.sleep(0.005)
    os.kill(os.getpid(), process_signal)
  thread = threading.Thread(target=watch, daemon=True)
  thread.start()
  return thread


def test_sigterm_in_train_checkpoints_and_stops_without_export(tiny_dataset, tmp_path,
                                                               caplog):
  config = tiny_config(tiny_dataset, total_steps=2000, mode="train")
  watcher = _signal_when(tmp_path / "checkpoints" / "3", signal.SIGTERM)
  with caplog.at_level(logging.WARNING):
    state = trainer.train(config, str(tmp_path))
  watcher.join()
  step = int(state.step)
  assert 3 <= step < 2000 and not trainer.is_complete(config, state)
  assert str(step) in os.listdir(tmp_path / "checkpoints")  # Saved where it stopped.
  assert not (tmp_path / "export").exists()
  assert (f"The run is INCOMPLETE: a termination signal stopped it at step {step} of 2000"
          in caplog.text)
  with pytest.raises(FileNotFoundError, match=f"no export in workdir .*; its newest "
                                              f"checkpoint is step {step}: the run is "
                                              f"incomplete"):
    evaluation.evaluate_workdir(config, str(tmp_path))


def test_sigterm_in_train_and_eval_skips_evaluation_and_never_uses_a_stale_export(
    tiny_dataset, tmp_path, caplog):
  trainer.train(tiny_config(tiny_dataset, total_steps=3), str(tmp_path))  # export @ 3
  config = tiny_config(tiny_dataset, total_steps=2000, mode="train_and_eval")
  watcher = _signal_when(tmp_path / "checkpoints" / "9", signal.SIGTERM)
  with caplog.at_level(logging.WARNING):
    assert main.run_mode(config, str(tmp_path)) is None  # main() then exits 0.
  watcher.join()
  assert "The run is INCOMPLETE" in caplog.text
  assert not (tmp_path / "eval").exists()  # Neither the stale export nor the state.

  # The workdir's export (step 3) is older than its checkpoints: refused by eval.
  with pytest.raises(ValueError, match=r"export .* is of step 3, older than the "
                                       r"workdir's newest checkpoint \(step \d+\)"):
    evaluation.evaluate_workdir(tiny_config(tiny_dataset), str(tmp_path))


def test_sigterm_during_the_evaluation_stops_it_with_an_incomplete_line(tiny_dataset,
                                                                         tmp_path, caplog):
  trainer.train(tiny_config(tiny_dataset, total_steps=3), str(tmp_path))
  events = set(os.listdir(tmp_path))

  def signal_once_the_eval_writer_exists():
    deadline = time.time() + 120
    while set(os.listdir(tmp_path)) == events and time.time() < deadline:
      time.sleep(0.005)
    os.kill(os.getpid(), signal.SIGTERM)

  watcher = threading.Thread(target=signal_once_the_eval_writer_exists, daemon=True)
  watcher.start()
  with caplog.at_level(logging.WARNING):
    assert main.run_mode(tiny_config(tiny_dataset, total_steps=3, mode="eval"),
                         str(tmp_path)) is None
  watcher.join()
  assert "The evaluation is INCOMPLETE: a termination signal stopped it" in caplog.text
  assert not (tmp_path / "eval").exists()


def test_sigterm_during_a_periodic_evaluation_abandons_it_and_stops_at_that_step(
    tiny_dataset, tmp_path, caplog, monkeypatch):
  make_eval_dataset = evaluation.input_pipeline.make_eval_dataset
  evaluated = []

  class SignalAfterTheFirstBatch:
    def __init__(self, dataset):
      self.dataset = dataset

    def as_numpy_iterator(self):
      for i, batch in enumerate(self.dataset.as_numpy_iterator()):
        if i == 1:
          os.kill(os.getpid(), signal.SIGTERM)
        evaluated.append(i)
        yield batch

  monkeypatch.setattr(evaluation.input_pipeline, "make_eval_dataset",
                      lambda config: SignalAfterTheFirstBatch(make_eval_dataset(config)))
  config = tiny_config(tiny_dataset, total_steps=2000, mode="train_and_eval",
                       eval_every_steps=3, **{"input.eval_batch_size": 2})
  with caplog.at_level(logging.WARNING):
    assert main.run_mode(config, str(tmp_path)) is None
  assert evaluated == [0, 1]  # The pass stopped before evaluating the second batch...
  assert "The evaluation at step 3 was stopped by a termination signal" in caplog.text
  assert not (tmp_path / "eval").exists()  # ...and reported nothing.
  assert "The run is INCOMPLETE: a termination signal stopped it at step 3 of 2000" in (
      caplog.text)
  assert "3" in os.listdir(tmp_path / "checkpoints")
