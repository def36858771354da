"""warn_above / fail_above / warn_below / fail_below applied to an observed value."""

from __future__ import annotations

import math

from edgewatch.config.health import CheckBase
from edgewatch.health.model import Observation, Status, worst


def apply(settings: CheckBase, obs: Observation) -> Observation:
    """The observation with its status raised by the thresholds its value crosses."""
    value = obs.value
    if value is None or math.isnan(value) or obs.status is Status.UNKNOWN:
        return obs
    verdicts: list[tuple[Status, str]] = []
    if settings.fail_above is not None and value > settings.fail_above:
        verdicts.append((Status.FAIL, f"above {settings.fail_above:g}"))
    if settings.fail_below is not None and value < settings.fail_below:
        verdicts.append((Status.FAIL, f"below {settings.fail_below:g}"))
    if settings.warn_above is not None and value > settings.warn_above:
        verdicts.append((Status.WARN, f"above {settings.warn_above:g}"))
    if settings.warn_below is not None and value < settings.warn_below:
        verdicts.append((Status.WARN, f"below {settings.warn_below:g}"))
    if not verdicts:
        return obs
    status, why = max(verdicts, key=lambda v: v[0].severity)
    new = worst([obs.status, status])
    if new is obs.status:
        return obs
    unit = f" {obs.unit}" if obs.unit else ""
    message = f"{value:g}{unit} is {why}" + (f"; {obs.message}" if obs.message else "")
    return Observation(new, value, message, obs.unit)
