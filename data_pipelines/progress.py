"""A dependency-free progress bar with rate and ETA for the dataset tools.

On a terminal it redraws one line; otherwise (logs, CI) it prints a line at
most every `log_every_sec` seconds so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
  seconds = int(max(0, round(seconds)))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h:d}:{m:02d}:{s:02d}'


class ProgressBar:
  """Counts finished items and shows `done/total`, items/s and the ETA."""

  def __init__(self, total: int, desc: str, *, unit: str = 'videos',
               stream: TextIO | None = None, enabled: bool = True,
               log_every_sec: float = 10.0):
    self.total = total
    self.desc = desc
    self.unit = unit
    self.stream = stream or sys.stderr
    self.enabled = enabled
    self.log_every_sec = log_every_sec
    self.done = 0
    self._start = time.monotonic()
    self._last_draw = 0.0
    self._tty = hasattr(self.stream, 'isatty') and self.stream.isatty()

  def update(self, n: int = 1) -> None:
    self.done += n
    now = time.monotonic()
    interval = 0.2 if self._tty else self.log_every_sec
    if self.done >= self.total or now - self._last_draw >= interval:
      self._draw(now)

  def line(self, now: float | None = None) -> str:
    now = time.monotonic() if now is None else now
    elapsed = now - self._start
    rate = self.done / elapsed if elapsed > 0 else 0.0
    pct = 100.0 * self.done / self.total if self.total else 100.0
    width = 24
    filled = int(width * self.done / self.total) if self.total else width
    bar = '#' * filled + '.' * (width - filled)
    eta = (self.total - self.done) / rate if rate > 0 else float('nan')
    eta_s = format_duration(eta) if eta == eta else '?'
    return (f'{self.desc} [{bar}] {self.done}/{self.total} {self.unit} '
            f'({pct:3.0f}%) {rate:.1f} {self.unit}/s '
            f'elapsed {format_duration(elapsed)} ETA {eta_s}')

  def _draw(self, now: float) -> None:
    self._last_draw = now
    if not self.enabled:
      return
    if self._tty:
      self.stream.write('\r' + self.line(now))
      if self.done >= self.total:
        self.stream.write('\n')
    else:
      self.stream.write(self.line(now) + '\n')
    self.stream.flush()

  def close(self) -> None:
    if self.done < self.total:
      self._draw(time.monotonic())
