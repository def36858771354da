"""Alert state and history, persisted in SQLite side tables of the store file.

``alerts`` holds one row per alert the evaluator tracks (rule key + fingerprint):
its labels, annotations and the lifecycle ``Alert`` as JSON, so that after a
restart a firing alert stays firing (no new transition, no re-notification)
and a pending alert keeps its ``for`` timer. A row is written only when the
alert changed in more than its evaluation and data-seen times and its value,
so a steady alert costs no write per evaluation (SD card wear). ``alert_history``
holds every transition, capped at ``HISTORY_ROWS`` rows (the oldest go).

Writes are serialised by a lock over one connection, each a ``BEGIN IMMEDIATE``
transaction: the evaluator runs groups from worker threads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgewatch.alerting.lifecycle import Alert, AlertState, Transition, TransitionKind
from edgewatch.alerting.notice import Notice, NoticeStatus
from edgewatch.web.accounts import db_file, open_db, table_exists

log = logging.getLogger(__name__)

HISTORY_ROWS = 100_000
"""Most transitions kept in ``alert_history``."""

DDL = (
    """CREATE TABLE IF NOT EXISTS alerts (
    rule_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    group_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    series_labels TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    alert TEXT NOT NULL,
    held TEXT,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (rule_key, fingerprint)
)""",
    """CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    group_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    severity TEXT
)""",
    "CREATE INDEX IF NOT EXISTS alert_history_time ON alert_history (time_ms)",
)


@dataclass(frozen=True)
class StoredAlert:
    """One tracked alert: what the evaluator keeps per rule and labelset."""

    rule_key: str
    group_key: str
    rule: str
    fingerprint: str
    series_labels: Mapping[str, str]
    """The labels of the expression's series (matched against clear, severities, data)."""
    labels: Mapping[str, str]
    """The alert's labels: series labels, rule labels, ``alertname`` and ``severity``."""
    annotations: Mapping[str, str]
    alert: Alert
    held: tuple[Notice, ...] | None = None
    """While flapping: the notices as they stood when it started (sent unchanged)."""

    def persisted_form(self) -> tuple[Any, ...]:
        """What a write would change: all but the evaluation and data-seen times and value."""
        alert = replace(self.alert, evaluated_s=None, data_seen_s=None, last_value=None)
        return (dict(self.series_labels), dict(self.labels), self.held, alert)


@dataclass(frozen=True)
class HistoryEntry:
    """One transition of one alert."""

    time_ms: int
    group: str
    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    from_state: str
    to_state: str
    kind: str
    value: float | None
    severity: str | None


class AlertStore:
    """The ``alerts`` and ``alert_history`` tables of the store file at ``db_path``."""

    def __init__(self, db_path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = db_file(db_path)
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.path.exists():
                raise FileNotFoundError(f"no edgewatch store at {self.path}")
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=5.0, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 5000")
            for statement in DDL:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    def load(self, rule_keys: Collection[str]) -> list[StoredAlert]:
        """The persisted alerts of the rules in ``rule_keys``; the others are deleted."""
        keep = frozenset(rule_keys)
        with self._lock:
            conn = self._connection()
            rows = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts").fetchall()
            gone = sorted({row[0] for row in rows if row[0] not in keep})
            if gone:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany("DELETE FROM alerts WHERE rule_key = ?", [(k,) for k in gone])
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                log.info("alerts: dropped the saved alerts of %d removed rules", len(gone))
        return [_decode_alert(row) for row in rows if row[0] in keep]

    def save(
        self,
        upserts: Sequence[StoredAlert],
        deletes: Sequence[tuple[str, str]],
        history: Sequence[tuple[StoredAlert, Transition]],
    ) -> None:
        """Write one group evaluation's changes in one transaction.

        ``deletes`` are (rule key, fingerprint); ``history`` the transitions, each with
        the alert it belongs to.
        """
        if not (upserts or deletes or history):
            return
        now_ms = round(self._clock() * 1000)
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"INSERT OR REPLACE INTO alerts ({_ALERT_COLUMNS}, updated_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*_encode_alert(a), now_ms) for a in upserts],
                )
                conn.executemany(
                    "DELETE FROM alerts WHERE rule_key = ? AND fingerprint = ?", deletes
                )
                if history:
                    conn.executemany(
                        "INSERT INTO alert_history (time_ms, group_key, rule, fingerprint, "
                        "labels, from_state, to_state, kind, value, severity) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [_history_row(a, t) for a, t in history],
                    )
                    conn.execute(
                        "DELETE FROM alert_history WHERE id <= "
                        "(SELECT MAX(id) FROM alert_history) - ?",
                        (HISTORY_ROWS,),
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def history(
        self,
        *,
        since_ms: int,
        until_ms: int | None = None,
        rule: str | None = None,
        limit: int = 1000,
    ) -> list[HistoryEntry]:
        """Transitions from ``since_ms`` to ``until_ms`` (inclusive), newest first."""
        with self._lock:
            return query_history(
                self._connection(), since_ms=since_ms, until_ms=until_ms, rule=rule, limit=limit
            )

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()


def query_history(
    conn: sqlite3.Connection,
    *,
    since_ms: int,
    until_ms: int | None = None,
    rule: str | None = None,
    limit: int = 1000,
) -> list[HistoryEntry]:
    if not table_exists(conn, "alert_history"):
        return []
    where = ["time_ms >= ?"]
    args: list[Any] = [since_ms]
    if until_ms is not None:
        where.append("time_ms <= ?")
        args.append(until_ms)
    if rule is not None:
        where.append("rule = ?")
        args.append(rule)
    rows = conn.execute(
        "SELECT time_ms, group_key, rule, fingerprint, labels, from_state, to_state, kind, "
        f"value, severity FROM alert_history WHERE {' AND '.join(where)} "
        "ORDER BY time_ms DESC, id DESC LIMIT ?",
        (*args, max(0, limit)),
    ).fetchall()
    return [HistoryEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), *r[5:]) for r in rows]


def read_history(
    path: Path, *, since_ms: int, until_ms: int | None = None, rule: str | None = None,
    limit: int = 1000,
) -> list[HistoryEntry]:  # fmt: skip
    """``query_history`` over a read-only connection to the store at ``path`` (the CLI)."""
    with open_db(path, readonly=True) as conn:
        return query_history(conn, since_ms=since_ms, until_ms=until_ms, rule=rule, limit=limit)


def read_alerts(path: Path) -> list[StoredAlert]:
    """The alerts saved in the store at ``path``, read-only (the CLI)."""
    with open_db(path, readonly=True) as conn:
        if not table_exists(conn, "alerts"):
            return []
        rows = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts").fetchall()
    return [_decode_alert(row) for row in rows]


# ------------------------------------------------------------------ encoding

_ALERT_COLUMNS = (
    "rule_key, fingerprint, group_key, rule, series_labels, labels, annotations, alert, held"
)


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _history_row(a: StoredAlert, t: Transition) -> tuple[Any, ...]:
    return (
        round(t.time_s * 1000),
        a.group_key,
        a.rule,
        a.fingerprint,
        _dumps(dict(a.labels)),
        t.from_state.value,
        t.to_state.value,
        t.kind.value,
        t.value,
        t.severity or a.labels.get("severity"),
    )


def _encode_alert(a: StoredAlert) -> tuple[Any, ...]:
    held = None if a.held is None else _dumps([_notice_json(n) for n in a.held])
    return (
        a.rule_key,
        a.fingerprint,
        a.group_key,
        a.rule,
        _dumps(dict(a.series_labels)),
        _dumps(dict(a.labels)),
        _dumps(dict(a.annotations)),
        _dumps(alert_json(a.alert)),
        held,
    )


def _decode_alert(row: Sequence[Any]) -> StoredAlert:
    held = None if row[8] is None else tuple(_notice_of(n) for n in json.loads(row[8]))
    return StoredAlert(
        rule_key=row[0],
        fingerprint=row[1],
        group_key=row[2],
        rule=row[3],
        series_labels=json.loads(row[4]),
        labels=json.loads(row[5]),
        annotations=json.loads(row[6]),
        alert=alert_of(json.loads(row[7])),
        held=held,
    )


def alert_json(a: Alert) -> dict[str, Any]:
    """The lifecycle ``Alert`` as JSON-able values."""
    return {
        "labels": [list(pair) for pair in a.labels],
        "state": a.state.value,
        "active_since": a.active_since,
        "fired_at": a.fired_at,
        "resolved_at": a.resolved_at,
        "last_value": a.last_value,
        "severity": a.severity,
        "flapping": a.flapping,
        "transitions": [_transition_json(t) for t in a.transitions],
        "recent": list(a.recent),
        "keep_firing_until": a.keep_firing_until,
        "evaluated_s": a.evaluated_s,
        "data_seen_s": a.data_seen_s,
        "change_times": list(a.change_times),
    }


def _transition_json(t: Transition) -> list[Any]:
    kinds = (t.from_state.value, t.to_state.value, t.kind.value)
    return [t.time_s, *kinds, t.value, t.severity, t.previous_severity]


def alert_of(d: Mapping[str, Any]) -> Alert:
    return Alert(
        labels=tuple((str(k), str(v)) for k, v in d["labels"]),
        state=AlertState(d["state"]),
        active_since=d["active_since"],
        fired_at=d["fired_at"],
        resolved_at=d["resolved_at"],
        last_value=d["last_value"],
        severity=d["severity"],
        flapping=bool(d["flapping"]),
        transitions=tuple(
            Transition(
                t[0], AlertState(t[1]), AlertState(t[2]), t[4], TransitionKind(t[3]), t[5], t[6]
            )
            for t in d["transitions"]
        ),
        recent=tuple(bool(x) for x in d["recent"]),
        keep_firing_until=d["keep_firing_until"],
        evaluated_s=d["evaluated_s"],
        data_seen_s=d["data_seen_s"],
        change_times=tuple(float(x) for x in d["change_times"]),
    )


def _notice_json(n: Notice) -> dict[str, Any]:
    return {
        "labels": dict(n.labels),
        "annotations": dict(n.annotations),
        "status": n.status.value,
        "starts_at_ms": n.starts_at_ms,
        "ends_at_ms": n.ends_at_ms,
        "value": n.value,
        "generator_url": n.generator_url,
    }


def _notice_of(d: Mapping[str, Any]) -> Notice:
    return Notice(
        labels=dict(d["labels"]),
        annotations=dict(d["annotations"]),
        status=NoticeStatus(d["status"]),
        starts_at_ms=int(d["starts_at_ms"]),
        ends_at_ms=d["ends_at_ms"],
        value=d["value"],
        generator_url=d["generator_url"],
    )
