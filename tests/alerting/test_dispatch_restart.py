"""Restart safety: a new Dispatcher on the same SQLite file neither repeats nor forgets."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from edgewatch.alerting.dispatch import Dispatcher
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind
from edgewatch.config.routing import RootRoute

S = 1000
M = 60 * S
T0 = 1_700_000_000_000
ROUTE = RootRoute.model_validate(
    {
        "receiver": "ops",
        "group_by": ["alertname"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
        "escalation": {"steps": [{"after": "20m", "receiver": "lead"}]},
    }
)


def fire(name: str, **labels: str) -> Notice:
    return Notice(labels={"alertname": name, **labels}, starts_at_ms=T0, value=1.0)


def run(d: Dispatcher, start: int, end: int, step: int = S) -> list[Notification]:
    out: list[Notification] = []
    for t in range(start, end + 1, step):
        out += d.tick(t)
    return out


def keys(sent: list[Notification]) -> list[str]:
    return [n.dedupe_key for n in sent]


def test_restart_does_not_renotify_before_repeat_and_continues_escalation(
    tmp_path: Path,
) -> None:
    db = tmp_path / "edgewatch.db"
    a, b = fire("Disk", host="a"), fire("Disk", host="b")
    first = Dispatcher(ROUTE, db_path=db)
    first.update([a, b], T0)
    assert keys(run(first, T0, T0 + 60 * S)) == ['ops/0:{alertname="Disk"}/notify/0']
    first.close()  # as after SIGKILL: nothing more is written

    second = Dispatcher(ROUTE, db_path=db)
    second.update([replace(a, value=2.0), b], T0 + 2 * M)  # the evaluator resends what fires
    # nothing until the escalation (20 min after first firing) ...
    assert keys(run(second, T0 + 2 * M, T0 + 20 * M - S)) == []
    assert keys(run(second, T0 + 20 * M, T0 + 21 * M)) == ['lead/0:{alertname="Disk"}/escalation/0']
    second.close()

    third = Dispatcher(ROUTE, db_path=db)
    third.update([a, b], T0 + 22 * M)
    # ... and the repeat comes 1h after the first message, with the next sequence number
    quiet = run(third, T0 + 22 * M, T0 + 60 * M + 29 * S, step=10 * S)
    assert keys(quiet) == []
    repeat = run(third, T0 + 60 * M + 30 * S, T0 + 66 * M)
    assert keys(repeat) == ['ops/0:{alertname="Disk"}/notify/1']
    assert [x.labels["host"] for x in repeat[0].alerts] == ["a", "b"]
    third.close()


def test_group_created_before_a_restart_keeps_its_group_wait(tmp_path: Path) -> None:
    db = tmp_path / "edgewatch.db"
    first = Dispatcher(ROUTE, db_path=db)
    first.update([fire("Disk", host="a")], T0)
    assert run(first, T0, T0 + 10 * S) == []
    first.close()
    second = Dispatcher(ROUTE, db_path=db)
    assert run(second, T0 + 11 * S, T0 + 29 * S) == []
    (n,) = run(second, T0 + 30 * S, T0 + 31 * S)
    assert n.dedupe_key.endswith("/notify/0")
    second.close()


def test_pending_resolve_survives_a_restart_and_sequences_outlive_the_group(
    tmp_path: Path,
) -> None:
    db = tmp_path / "edgewatch.db"
    a = fire("Disk", host="a")
    first = Dispatcher(ROUTE, db_path=db)
    first.update([a], T0)
    run(first, T0, T0 + 30 * S)
    first.update([replace(a, status=NoticeStatus.RESOLVED)], T0 + M)
    first.close()

    second = Dispatcher(ROUTE, db_path=db)
    (done,) = run(second, T0 + M, T0 + 6 * M)
    assert done.status is NoticeStatus.RESOLVED and done.dedupe_key.endswith("/notify/1")
    assert second.groups() == [] and second.alerts() == []
    second.close()

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM dispatch_alerts").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM dispatch_groups").fetchone() == (0,)
    conn.close()

    third = Dispatcher(ROUTE, db_path=db)
    third.update([a], T0 + 100 * M)
    (again,) = run(third, T0 + 100 * M, T0 + 101 * M)
    assert again.kind is NotificationKind.NOTIFY and again.dedupe_key.endswith("/notify/2")
    third.close()


def test_changed_route_tree_starts_groups_afresh(tmp_path: Path) -> None:
    db = tmp_path / "edgewatch.db"
    first = Dispatcher(ROUTE, db_path=db)
    first.update([fire("Disk", host="a")], T0)
    run(first, T0, T0 + 30 * S)
    first.close()
    regrouped = ROUTE.model_copy(update={"group_by": ["host"]})
    second = Dispatcher(regrouped, db_path=db)
    assert run(second, T0 + 40 * M, T0 + 40 * M + 29 * S) == []
    (n,) = run(second, T0 + 40 * M + 30 * S, T0 + 41 * M)
    assert n.group_key == '0:{host="a"}'
    second.close()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT group_key FROM dispatch_groups").fetchall()
    conn.close()
    assert rows == [('0:{host="a"}',)]
