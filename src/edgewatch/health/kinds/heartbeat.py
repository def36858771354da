"""``heartbeat``: a dead man's switch. The application must ping at least every period.

- no success ping within ``period + grace`` of the last one (before the first:
  of when the check was built, so a pipeline that never starts is caught): fail;
- the last ping was a ``fail`` ping: fail until the next success;
- with ``start`` pings: a run started and not finished within ``max_duration``
  fails; a finished run shorter than ``min_duration`` warns.

The value is the seconds since the last success (before the first ping: since the
check was built), so ``warn_above`` can warn before the period runs out.
"""

from __future__ import annotations

from edgewatch.config.health import HeartbeatCheck
from edgewatch.health.heartbeat import Heartbeats, HeartbeatState
from edgewatch.health.model import CheckEnv, Observation, Status

UNIT = "seconds"


class HeartbeatKind:
    def __init__(self, settings: HeartbeatCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env
        self.built = env.clock()

    async def observe(self) -> Observation:
        heartbeats: Heartbeats | None = self.env.heartbeats
        if heartbeats is None:
            return Observation(
                Status.UNKNOWN,
                message="heartbeat pings are received by the running agent only",
            )
        return judge(
            self.settings, heartbeats.get(self.settings.name), self.built, self.env.clock()
        )


def judge(s: HeartbeatCheck, state: HeartbeatState | None, built: float, now: float) -> Observation:
    """The verdict on one heartbeat's state at ``now``."""
    last_success = state.last_success if state is not None else None
    age = max(0.0, now - (built if last_success is None else last_success))
    allowed = s.period + s.grace
    failed = state.last_fail if state is not None else None
    if failed is not None and (last_success is None or failed >= last_success):
        return Observation(Status.FAIL, age, f"fail ping {max(0.0, now - failed):.0f}s ago", UNIT)
    if state is not None and state.started is not None and s.max_duration is not None:
        running = max(0.0, now - state.started)
        if running > s.max_duration:
            return Observation(
                Status.FAIL,
                age,
                f"started {running:.0f}s ago, not finished (max {s.max_duration:g}s)",
                UNIT,
            )
    if age > allowed:
        if last_success is None:
            message = f"no ping in {age:.0f}s since the check started (period {s.period:g}s"
        else:
            message = f"no ping for {age:.0f}s (period {s.period:g}s"
        message += f" + grace {s.grace:g}s)" if s.grace else ")"
        return Observation(Status.FAIL, age, message, UNIT)
    if last_success is None:
        return Observation(Status.PASS, age, f"waiting for the first ping ({age:.0f}s)", UNIT)
    duration = state.last_duration if state is not None else None
    if s.min_duration is not None and duration is not None and duration < s.min_duration:
        return Observation(
            Status.WARN,
            age,
            f"last run took {duration:.1f}s, shorter than {s.min_duration:g}s",
            UNIT,
        )
    message = f"last ping {age:.0f}s ago"
    if duration is not None:
        message += f", last run took {duration:.1f}s"
    if state is not None and state.started is not None:
        message += f", running for {max(0.0, now - state.started):.0f}s"
    return Observation(Status.PASS, age, message, UNIT)
