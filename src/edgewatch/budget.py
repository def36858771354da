"""The agent's CPU budget: its own CPU over a sliding window against a share of one core.

``observe(t, cpu_seconds)`` is fed the process's utime+stime now and then. Once
the window holds enough history, usage above the budget doubles the throttle
factor of the expensive collectors (up to ``max_factor``), usage below half the
budget halves it again. After each change the history restarts, so the next
decision is judged on a full window measured under the new factor.
"""

from __future__ import annotations

import os
from collections import deque

DEFAULT_WINDOW_S = 60.0
MAX_FACTOR = 8
# Relax only well under the budget, so throttling does not flap.
RELAX_FRACTION = 0.5
# A decision needs this fraction of a full window of history.
MIN_SPAN_FRACTION = 0.9


def process_cpu_seconds() -> float:
    """utime + stime of this process (all threads), in seconds."""
    t = os.times()
    return t.user + t.system


class CpuBudget:
    def __init__(
        self,
        budget_ratio: float,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        max_factor: int = MAX_FACTOR,
    ) -> None:
        self.budget_ratio = budget_ratio
        self.window_s = window_s
        self.max_factor = max_factor
        self._factor = 1
        self._history: deque[tuple[float, float]] = deque()
        self._usage: float | None = None

    @property
    def factor(self) -> int:
        return self._factor

    @property
    def usage_ratio(self) -> float | None:
        """Own CPU as a fraction of one core over the window (None until measured)."""
        return self._usage

    def observe(self, t: float, cpu_seconds: float) -> int | None:
        """Record a measurement; returns the new factor when it changed, else None."""
        history = self._history
        history.append((t, cpu_seconds))
        # Keep one point at or before the window's start so the span covers the window.
        while len(history) >= 2 and history[1][0] <= t - self.window_s:
            history.popleft()
        t0, cpu0 = history[0]
        span = t - t0
        if span <= 0:
            return None
        self._usage = max(0.0, (cpu_seconds - cpu0) / span)
        if span < self.window_s * MIN_SPAN_FRACTION or self.budget_ratio <= 0:
            return None
        new = self._factor
        if self._usage > self.budget_ratio and self._factor < self.max_factor:
            new = self._factor * 2
        elif self._usage < self.budget_ratio * RELAX_FRACTION and self._factor > 1:
            new = self._factor // 2
        if new == self._factor:
            return None
        self._factor = new
        history.clear()
        history.append((t, cpu_seconds))
        return new
