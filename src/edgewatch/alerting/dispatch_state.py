"""The dispatcher's notification log: what it must remember across a restart.

Tables in the store file, all prefixed ``dispatch_``:

- ``dispatch_alerts``: the current alerts (firing, or resolved and not yet
  flushed), one JSON row per fingerprint;
- ``dispatch_groups``: per aggregation group (and so per receiver: a group
  belongs to one route): its timers, the alerts last notified with their
  status, and the escalation steps done;
- ``dispatch_sequence``: per receiver, group and kind, the number of messages
  sent, kept after the group ends so a later incident of the same group never
  reuses a ``dedupe_key``.

The dispatcher runs on the event loop and writes synchronously, so each write
is one short transaction on a connection it holds open.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edgewatch.alerting.notice import Notice, NoticeStatus
from edgewatch.alerting.routing import RouteNode

log = logging.getLogger(__name__)

DDL = (
    """CREATE TABLE IF NOT EXISTS dispatch_alerts (
        fingerprint TEXT PRIMARY KEY,
        notice TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS dispatch_groups (
        group_key TEXT PRIMARY KEY,
        receiver TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        first_fired_ms INTEGER NOT NULL,
        next_flush_ms INTEGER NOT NULL,
        last_flush_ms INTEGER,
        last_sent_ms INTEGER,
        notified TEXT NOT NULL,
        escalations INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS dispatch_sequence (
        receiver TEXT NOT NULL,
        group_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (receiver, group_key, kind)
    )""",
)


@dataclass
class Group:
    """One aggregation group: the alerts of one route sharing ``group_by`` values."""

    key: str
    node: RouteNode
    labels: dict[str, str]
    created_ms: int
    first_fired_ms: int
    next_flush_ms: int
    alerts: dict[str, Notice] = field(default_factory=dict)
    last_flush_ms: int | None = None
    last_sent_ms: int | None = None
    notified: dict[str, str] = field(default_factory=dict)
    """fingerprint -> token (status and severity) of the alerts in the last message."""
    escalations: int = 0
    """Escalation steps done (over all rounds)."""


def notice_to_json(n: Notice) -> str:
    return json.dumps(
        {
            "labels": dict(n.labels),
            "annotations": dict(n.annotations),
            "status": n.status.value,
            "starts_at_ms": n.starts_at_ms,
            "ends_at_ms": n.ends_at_ms,
            "value": n.value,
            "generator_url": n.generator_url,
        },
        sort_keys=True,
    )


def notice_from_json(text: str) -> Notice:
    d = json.loads(text)
    return Notice(
        labels=d["labels"],
        annotations=d["annotations"],
        status=NoticeStatus(d["status"]),
        starts_at_ms=d["starts_at_ms"],
        ends_at_ms=d["ends_at_ms"],
        value=d["value"],
        generator_url=d["generator_url"],
    )


@dataclass(frozen=True)
class SavedGroup:
    created_ms: int
    first_fired_ms: int
    next_flush_ms: int
    last_flush_ms: int | None
    last_sent_ms: int | None
    notified: dict[str, str]
    escalations: int


@dataclass
class Snapshot:
    alerts: list[Notice]
    groups: dict[str, SavedGroup]
    sequences: dict[tuple[str, str, str], int]


class DispatchLog:
    """The ``dispatch_*`` tables of one SQLite file; one connection, one writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        self._conn.execute("PRAGMA busy_timeout = 5000")
        for ddl in DDL:
            self._conn.execute(ddl)

    def close(self) -> None:
        self._conn.close()

    def load(self) -> Snapshot:
        conn = self._conn
        alerts: list[Notice] = []
        for fp, text in conn.execute("SELECT fingerprint, notice FROM dispatch_alerts"):
            try:
                alerts.append(notice_from_json(text))
            except (ValueError, KeyError, TypeError) as exc:
                log.error("dispatch: dropping unreadable alert %s from %s: %s", fp, self.path, exc)
        groups = {
            row[0]: SavedGroup(row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7])
            for row in conn.execute(
                "SELECT group_key, created_ms, first_fired_ms, next_flush_ms, last_flush_ms, "
                "last_sent_ms, notified, escalations FROM dispatch_groups"
            )
        }
        sequences = {
            (r, g, k): s
            for r, g, k, s in conn.execute(
                "SELECT receiver, group_key, kind, seq FROM dispatch_sequence"
            )
        }
        return Snapshot(alerts, groups, sequences)

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield Writer(self._conn)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


class Writer:
    """The writes of one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def put_alerts(self, alerts: Iterable[Notice]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO dispatch_alerts (fingerprint, notice) VALUES (?, ?)",
            [(a.fingerprint, notice_to_json(a)) for a in alerts],
        )

    def drop_alerts(self, fingerprints: Iterable[str]) -> None:
        self._conn.executemany(
            "DELETE FROM dispatch_alerts WHERE fingerprint = ?", [(fp,) for fp in fingerprints]
        )

    def put_groups(self, groups: Iterable[Group]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO dispatch_groups (group_key, receiver, created_ms, "
            "first_fired_ms, next_flush_ms, last_flush_ms, last_sent_ms, notified, escalations) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    g.key,
                    g.node.receiver,
                    g.created_ms,
                    g.first_fired_ms,
                    g.next_flush_ms,
                    g.last_flush_ms,
                    g.last_sent_ms,
                    json.dumps(g.notified, sort_keys=True),
                    g.escalations,
                )
                for g in groups
            ],
        )

    def drop_groups(self, keys: Iterable[str]) -> None:
        self._conn.executemany(
            "DELETE FROM dispatch_groups WHERE group_key = ?", [(k,) for k in keys]
        )

    def put_sequences(self, sequences: Iterable[tuple[tuple[str, str, str], int]]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO dispatch_sequence (receiver, group_key, kind, seq) "
            "VALUES (?, ?, ?, ?)",
            [(r, g, k, s) for (r, g, k), s in sequences],
        )
