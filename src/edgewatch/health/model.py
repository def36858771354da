"""The health vocabulary: statuses, one observation of a check, a check's result."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from edgewatch.config.health import CheckBase


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def code(self) -> int:
        """Nagios' code (0 pass, 1 warn, 2 fail, 3 unknown): the value of edgewatch_check_status."""
        return _CODES[self]

    @property
    def severity(self) -> int:
        """Order for "worst of": pass < unknown < warn < fail."""
        return _SEVERITY[self]


_CODES = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.UNKNOWN: 3}
_SEVERITY = {Status.PASS: 0, Status.UNKNOWN: 1, Status.WARN: 2, Status.FAIL: 3}


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: s.severity, default=Status.PASS)


@dataclass(frozen=True)
class Observation:
    """What one run of a check saw: the kind's verdict, the value it measured, why."""

    status: Status
    value: float | None = None
    message: str = ""
    unit: str = ""


@dataclass(frozen=True)
class CheckResult:
    """A check's state after a run: the reported status (after retries) and the run."""

    name: str
    kind: str
    component: str
    status: Status  # reported, after retries
    observed: Status  # this run's, after thresholds
    value: float | None
    unit: str
    message: str
    duration_s: float
    time_ms: int
    since_ms: int  # when the reported status began
    critical: bool = False


@dataclass
class CheckEnv:
    """What check kinds may use: injected, so tests give fakes of the OS and the clock."""

    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    dev_root: Path = Path("/dev")
    clock: Callable[[], float] = time.time
    engine: Any = None  # edgewatch.query.Engine, for metric and disk checks
    heartbeats: Any = None  # edgewatch.health.heartbeat.Heartbeats


class CheckKind(Protocol):
    """One kind of check: built from its config section, observed on its interval.

    ``observe`` may be cancelled at the check's timeout (the runner reports unknown);
    blocking work goes through ``edgewatch.health.blocking.run_blocking`` (a per-check
    daemon thread, so a hung call never starves another check) or a subprocess, never
    on the loop.
    """

    def __init__(self, settings: CheckBase, env: CheckEnv) -> None: ...

    async def observe(self) -> Observation: ...
