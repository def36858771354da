"""The outbox's tables: their schema, the row types and the reads behind the
delivery history (``/api/alerts/history``, self-metrics)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.alerting.notice import Notification
from edgewatch.notify.payload import from_record
from edgewatch.web.accounts import open_db, table_exists

DDL = (
    """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    receiver TEXT NOT NULL,
    channel INTEGER NOT NULL,
    channel_desc TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    group_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    done_ms INTEGER,
    UNIQUE (receiver, dedupe_key, channel))""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_ms)",
    """CREATE TABLE IF NOT EXISTS outbox_attempts (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT NOT NULL,
    duration_ms INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS outbox_attempts_item ON outbox_attempts (item_id)",
    "CREATE INDEX IF NOT EXISTS outbox_attempts_at ON outbox_attempts (at_ms)",
)
COLUMNS = (
    "id, receiver, channel, channel_desc, dedupe_key, group_key, kind, record, state, "
    "created_ms, next_attempt_ms, attempts, last_error, done_ms"
)
DUE_SQL = (
    f"SELECT {COLUMNS} FROM outbox o WHERE state = 'pending' AND next_attempt_ms <= ? "
    "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.receiver = o.receiver "
    "AND p.channel = o.channel AND p.group_key = o.group_key AND p.id < o.id "
    "AND p.state IN ('pending', 'sending')) ORDER BY id LIMIT ?"
)


class ItemState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    GIVEN_UP = "given_up"


@dataclass(frozen=True)
class OutboxItem:
    """One notification to one channel of its receiver."""

    id: int
    receiver: str
    channel: int
    channel_desc: str
    dedupe_key: str
    group_key: str
    kind: str
    record: str = field(repr=False)
    state: ItemState
    created_ms: int
    next_attempt_ms: int
    attempts: int
    last_error: str
    done_ms: int | None

    @property
    def notification(self) -> Notification:
        return from_record(self.record)


@dataclass(frozen=True)
class OutboxAttempt:
    item_id: int
    receiver: str
    channel_desc: str
    at_ms: int
    ok: bool
    error: str
    duration_ms: int


@dataclass(frozen=True)
class OutboxStats:
    """``pending`` now; the rest counted since this Outbox was made."""

    pending: int
    delivered: int
    failed: int
    given_up: int
    retried: int
    errors: int = 0
    """Database and callback errors the loop logged and survived."""
    by_receiver: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per receiver: ``delivered``, ``failed``, ``given_up`` and ``retried``."""


def item_from_row(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=row[0],
        receiver=row[1],
        channel=row[2],
        channel_desc=row[3],
        dedupe_key=row[4],
        group_key=row[5],
        kind=row[6],
        record=row[7],
        state=ItemState(row[8]),
        created_ms=row[9],
        next_attempt_ms=row[10],
        attempts=row[11],
        last_error=row[12],
        done_ms=row[13],
    )


def _read(path: Path, sql: str, args: tuple[Any, ...]) -> list[Any]:
    with open_db(path, readonly=True) as conn:
        if not table_exists(conn, "outbox"):
            return []
        return conn.execute(sql, args).fetchall()


def pending_count(path: Path) -> int:
    """Rows not yet finished (pending or being sent)."""
    rows = _read(path, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')", ())
    return int(rows[0][0]) if rows else 0


def read_items(
    path: Path, *, since_ms: int = 0, state: ItemState | None = None, limit: int = 100
) -> list[OutboxItem]:
    """Rows created at or after ``since_ms`` (optionally in ``state``), newest first."""
    where = "created_ms >= ?" + ("" if state is None else " AND state = ?")
    args: tuple[Any, ...] = (since_ms,) if state is None else (since_ms, state.value)
    rows = _read(
        path,
        f"SELECT {COLUMNS} FROM outbox WHERE {where} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    )
    return [item_from_row(r) for r in rows]


def read_attempts(path: Path, *, since_ms: int = 0, limit: int = 1000) -> list[OutboxAttempt]:
    """Delivery attempts at or after ``since_ms``, newest first."""
    rows = _read(
        path,
        "SELECT a.item_id, o.receiver, o.channel_desc, a.at_ms, a.ok, a.error, a.duration_ms "
        "FROM outbox_attempts a JOIN outbox o ON o.id = a.item_id WHERE a.at_ms >= ? "
        "ORDER BY a.id DESC LIMIT ?",
        (since_ms, limit),
    )
    return [OutboxAttempt(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]
