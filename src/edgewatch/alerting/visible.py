"""What receivers see of an alert: its notices after an evaluation, and when to forget it.

An alert shows as up to two firing notices: the alert itself while it fires
(and while it is in ``nodata`` after firing: nothing says it stopped), and a
distinct ``alertstate="nodata"`` notice while its data is missing. A notice
shown before and gone now is sent once more as resolved. While the alert is
flapping, what it showed when flapping started is held and sent unchanged;
when flapping stops, the notices catch up with its state.
"""

from __future__ import annotations

from dataclasses import replace

from edgewatch.alerting.lifecycle import Alert, AlertPolicy, AlertState
from edgewatch.alerting.notice import Notice, NoticeStatus
from edgewatch.alerting.state import StoredAlert

NODATA_LABEL = "alertstate"
RESOLVED_KEPT_S = 900.0
"""How long a resolved alert stays listed (Prometheus keeps them 15 minutes)."""


def firing_notices(a: Alert, base: Notice) -> list[Notice]:
    """The alert's firing notices now; ``base`` gives labels, annotations and link."""
    out: list[Notice] = []
    stale_firing = a.fired_at is not None and a.resolved_at is None
    if a.state is AlertState.FIRING or (a.state is AlertState.NODATA and stale_firing):
        since = a.fired_at if a.fired_at is not None else a.active_since
        out.append(replace(base, starts_at_ms=_ms(since, a), value=a.last_value))
    if a.state is AlertState.NODATA:
        since = next(
            (t.time_s for t in reversed(a.transitions) if t.to_state is AlertState.NODATA),
            None,
        )
        labels = {**base.labels, NODATA_LABEL: AlertState.NODATA.value}
        out.append(replace(base, labels=labels, starts_at_ms=_ms(since, a), value=None))
    return out


def visible_notices(
    new: StoredAlert, shown: tuple[Notice, ...], now_ms: int | None, base: Notice
) -> tuple[StoredAlert, list[Notice]]:
    """The notices of ``new`` after an evaluation at ``now_ms``, given those it showed
    before (``shown``); and ``new`` with what it holds while flapping."""
    if new.held is not None:
        shown = new.held
    if new.alert.flapping:
        return replace(new, held=shown), list(shown)
    current = firing_notices(new.alert, base)
    kinds = {_kind(n) for n in current}
    resolved = [
        replace(
            n,
            status=NoticeStatus.RESOLVED,
            ends_at_ms=now_ms,
            value=new.alert.last_value if _kind(n) == "alert" else None,
        )
        for n in shown
        if _kind(n) not in kinds and now_ms is not None
    ]
    return replace(new, held=None), [*current, *resolved]


def is_idle(a: Alert, policy: AlertPolicy, now_s: float, *, has_data: bool) -> bool:
    """Nothing left to remember: inactive (or resolved a while ago) with no debounce,
    flap or missing-data history that a later evaluation needs."""
    if a.state not in (AlertState.INACTIVE, AlertState.RESOLVED) or a.flapping or any(a.recent):
        return False
    resolved = a.resolved_at if a.state is AlertState.RESOLVED else None
    if resolved is not None and now_s - resolved < RESOLVED_KEPT_S:
        return False
    flap = policy.flap
    if flap is not None and a.change_times and a.change_times[-1] > now_s - flap.window_s:
        return False
    # Without data now, it may still go to nodata.
    return has_data or policy.nodata_after_s is None


def _kind(n: Notice) -> str:
    return "nodata" if n.labels.get(NODATA_LABEL) == AlertState.NODATA.value else "alert"


def _ms(seconds: float | None, a: Alert) -> int:
    if seconds is None:
        seconds = a.evaluated_s if a.evaluated_s is not None else 0.0
    return round(seconds * 1000)
