"""The one progress reporter: a bar for loops over many items and a log line per step, on stderr.

Both are silent unless enabled, so library functions take ``progress=False`` and only the
command lines turn them on.
"""

import math
import sys
import time

__all__ = ["ProgressBar", "StepLog"]


class ProgressBar:
    """A one-line progress bar on stderr: done/total, rate and time left.

    Parameters
    ----------
    total : int >= 0
        Items to do.
    description : str
        Text before the bar.
    unit : str
        What the rate counts ("clips").
    enabled : bool
        Draw nothing when False.
    stream : file, optional
        Default ``sys.stderr``.
    """

    def __init__(self, total, *, description="", unit="items", enabled=True, stream=None):
        self.total, self.description, self.unit, self.enabled = total, description, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.drawn = 0
        self.start = self.last = time.perf_counter()

    def update(self, count=1):
        """Count ``count`` more items done; redraws at most every 0.2 s, and at the end."""
        self.done += count
        now = time.perf_counter()
        if self.enabled and (now - self.last >= 0.2 or self.done == self.total):
            self.last = now
            self._draw(now)

    def _draw(self, now):
        self.drawn = self.done
        elapsed = now - self.start
        fraction = self.done / self.total if self.total else 1.0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        bar = "#" * int(30 * fraction)
        eta = f"{int(left) // 60:02d}:{int(left) % 60:02d}" if math.isfinite(left) else "--:--"
        self.stream.write(f"\r{self.description} [{bar:<30}] {self.done}/{self.total} "
                          f"{rate:.1f} {self.unit}/s, {eta} left")
        self.stream.flush()

    def close(self):
        """Draw the final state and end the line."""
        if self.enabled:
            if self.drawn != self.done or self.done == 0:
                self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()


class StepLog:
    """One line per step on stderr: ``[name 12.3 s] message``.

    Parameters
    ----------
    name : str or None
        Prefix in brackets (the command); None prints the bare message.
    enabled : bool
        Print nothing when False.
    elapsed : bool
        Put the seconds since the log was made after ``name``.
    stream : file, optional
        Default ``sys.stderr``.
    """

    def __init__(self, name=None, *, enabled=True, elapsed=False, stream=None):
        self.name, self.enabled, self.elapsed = name, enabled, elapsed
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, message):
        if not self.enabled:
            return
        if self.name is None:
            line = message
        elif self.elapsed:
            line = f"[{self.name} {time.perf_counter() - self.started:6.1f} s] {message}"
        else:
            line = f"[{self.name}] {message}"
        print(line, file=self.stream if self.stream is not None else sys.stderr, flush=True)
