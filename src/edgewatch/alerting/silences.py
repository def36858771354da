"""Silences: label matchers and a time range during which matching alerts notify nobody.

A silence is *pending* before its start, *active* from its start until its end,
*expired* after; expiring one sets its end to now, and an expired silence cannot
be changed again (create a new one). Validation is Alertmanager's: at least one
matcher, not every matcher matching the empty string (``{foo=~".*"}`` alone would
silence everything by accident), an end after the start, an author and a comment.
The global mute is a silence with the single matcher ``alertname=~".+"``.

Rows live in the ``silences`` table of the store file. ``silenced_by`` runs for
every alert on every dispatcher tick, so it answers from memory: the cache is
reloaded after each write of this store, and at most once per second it checks,
with one cheap query, whether another process (the CLI) changed the table.
Expired silences are deleted 7 days after their end.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from edgewatch.alerting.matchers import Matcher, MatcherError, MatchOp
from edgewatch.web.accounts import db_file, open_db, table_exists

log = logging.getLogger(__name__)

SilenceState = Literal["active", "pending", "expired"]
STATES: tuple[SilenceState, ...] = ("active", "pending", "expired")
KEEP_EXPIRED_MS = 7 * 86_400_000
CHECK_EVERY_S = 1.0  # how often silenced_by looks for changes made by other processes
MAX_MATCHERS = 64
MAX_COMMENT = 2000
MAX_AUTHOR = 128
MUTE_MATCHER = Matcher("alertname", MatchOp.REGEX, ".+")

SILENCES_DDL = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
)
"""
_COLUMNS = "id, matchers, starts_ms, ends_ms, created_by, comment, created_ms, updated_ms"


class SilenceError(ValueError):
    """A silence that cannot be created or changed; the message says why."""


class SilenceNotFound(KeyError):
    """No silence with this id."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str
    created_ms: int
    updated_ms: int

    def state(self, now_ms: int) -> SilenceState:
        if self.ends_ms <= now_ms:
            return "expired"
        return "pending" if now_ms < self.starts_ms else "active"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def matcher_from_dict(data: Mapping[str, Any]) -> Matcher:
    """A matcher from Alertmanager's v2 shape ``{name, value, isRegex, isEqual}``."""
    name, value = data.get("name"), data.get("value")
    is_regex, is_equal = data.get("isRegex", False), data.get("isEqual", True)
    if not isinstance(name, str) or not isinstance(value, str):
        raise SilenceError("a matcher needs a string name and value")
    if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
        raise SilenceError("a matcher's isRegex and isEqual are true or false")
    if is_regex:
        op = MatchOp.REGEX if is_equal else MatchOp.NOT_REGEX
    else:
        op = MatchOp.EQUAL if is_equal else MatchOp.NOT_EQUAL
    try:
        return Matcher(name, op, value)
    except MatcherError as exc:
        raise SilenceError(f"bad matcher {name}: {exc}") from None


def validate(
    matchers: Sequence[Matcher], starts_ms: int, ends_ms: int, by: str, comment: str
) -> None:
    """Raise SilenceError when a silence with these fields would be refused."""
    if not matchers:
        raise SilenceError("a silence needs at least one matcher")
    if len(matchers) > MAX_MATCHERS:
        raise SilenceError(f"a silence may have at most {MAX_MATCHERS} matchers")
    if all(m.matches({}) for m in matchers):
        shown = ", ".join(str(m) for m in matchers)
        raise SilenceError(
            f"matchers {{{shown}}} all match the empty string and would silence every "
            "alert; add one that does not (use a mute for that)"
        )
    if ends_ms <= starts_ms:
        raise SilenceError("a silence must end after it starts")
    if not by.strip() or len(by) > MAX_AUTHOR:
        raise SilenceError(f"a silence needs its author (created_by, 1-{MAX_AUTHOR} characters)")
    if not comment.strip() or len(comment) > MAX_COMMENT:
        raise SilenceError(f"a silence needs a comment (1-{MAX_COMMENT} characters)")


def _row(row: tuple[Any, ...]) -> Silence:
    matchers = tuple(matcher_from_dict(m) for m in json.loads(row[1]))
    return Silence(
        id=str(row[0]),
        matchers=matchers,
        starts_ms=int(row[2]),
        ends_ms=int(row[3]),
        created_by=str(row[4]),
        comment=str(row[5]),
        created_ms=int(row[6]),
        updated_ms=int(row[7]),
    )


class SilenceStore:
    """The silences of one store file (a data directory or ``.db``). Blocking SQLite:
    call the writers off the event loop; ``silenced_by`` is in-memory."""

    def __init__(self, db_path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = db_file(db_path)
        self.clock = clock
        self._lock = threading.RLock()
        self._cache: dict[str, Silence] = {}
        self._signature: tuple[int, float, int] | None = None
        self._checked_at: float | None = None
        self._ready = False

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    # -- reading -----------------------------------------------------------------------

    def silenced_by(self, labels: Mapping[str, str], now_ms: int) -> list[str]:
        """Ids of the silences active at ``now_ms`` whose matchers all match ``labels``."""
        self._maybe_refresh()
        hits = [
            s
            for s in self._cache.values()
            if s.starts_ms <= now_ms < s.ends_ms and s.matches(labels)
        ]
        hits.sort(key=lambda s: (s.starts_ms, s.id))
        return [s.id for s in hits]

    def get(self, silence_id: str) -> Silence | None:
        self._refresh()
        return self._cache.get(silence_id)

    def list(self, *, state: SilenceState | None = None) -> list[Silence]:
        """Silences (of ``state``), the newest start first."""
        self._refresh()
        now = self.now_ms()
        out = [s for s in self._cache.values() if state is None or s.state(now) == state]
        out.sort(key=lambda s: (s.starts_ms, s.created_ms, s.id), reverse=True)
        return out

    def _maybe_refresh(self) -> None:
        now = self.clock()
        checked = self._checked_at
        if checked is not None and 0 <= now - checked < CHECK_EVERY_S:
            return
        try:
            self._refresh()
        except (sqlite3.Error, OSError) as exc:
            # Keep the silences known so far: better than dropping them all.
            log.error("silences: cannot read %s: %s", self.path, exc)
            self._checked_at = now

    def _refresh(self) -> None:
        """Reload the cache when the table changed since the last look."""
        with self._lock:
            self._checked_at = self.clock()
            if not self.path.exists():
                self._cache, self._signature = {}, None
                return
            with open_db(self.path, readonly=True) as conn:
                if not table_exists(conn, "silences"):
                    self._cache, self._signature = {}, None
                    return
                signature = self._read_signature(conn)
                if signature == self._signature:
                    return
                rows = conn.execute(f"SELECT {_COLUMNS} FROM silences").fetchall()
            cache: dict[str, Silence] = {}
            for row in rows:
                try:
                    cache[row[0]] = _row(row)
                except (ValueError, TypeError, KeyError) as exc:
                    log.error(
                        "silences: row %s in %s is unreadable, skipped: %s", row[0], self.path, exc
                    )
            self._cache, self._signature = cache, signature

    @staticmethod
    def _read_signature(conn: sqlite3.Connection) -> tuple[int, float, int]:
        # Every write changes one of these: an insert the count and the top rowid, a
        # delete the count, an update the sum (updated_ms only grows).
        row = conn.execute(
            "SELECT count(*), total(updated_ms), coalesce(max(rowid), 0) FROM silences"
        ).fetchone()
        return int(row[0]), float(row[1]), int(row[2])

    # -- writing -----------------------------------------------------------------------

    def create(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_ms: int | None = None,
        ends_ms: int,
        created_by: str,
        comment: str,
    ) -> Silence:
        """A new silence; ``starts_ms`` None: now."""
        now = self.now_ms()
        start = now if starts_ms is None else starts_ms
        validate(matchers, start, ends_ms, created_by, comment)
        if ends_ms <= now:
            raise SilenceError("the silence would already have ended")
        silence = Silence(
            str(uuid.uuid4()), tuple(matchers), start, ends_ms, created_by, comment, now, now
        )
        self._write(self._insert, silence)
        log.info("silence %s created by %s: %s", silence.id, created_by, _shown(silence))
        return silence

    def update(
        self,
        silence_id: str,
        *,
        matchers: Sequence[Matcher] | None = None,
        starts_ms: int | None = None,
        ends_ms: int | None = None,
        created_by: str | None = None,
        comment: str | None = None,
    ) -> Silence:
        """Change a pending or active silence (an active one keeps its start)."""
        now = self.now_ms()
        with self._lock:
            old = self._fetch(silence_id)
            state = old.state(now)
            if state == "expired":
                raise SilenceError(f"silence {silence_id} has expired; create a new one")
            if state == "active" and starts_ms is not None and starts_ms != old.starts_ms:
                raise SilenceError(f"silence {silence_id} is active: its start cannot move")
            new = replace(
                old,
                matchers=old.matchers if matchers is None else tuple(matchers),
                starts_ms=old.starts_ms if starts_ms is None else starts_ms,
                ends_ms=old.ends_ms if ends_ms is None else ends_ms,
                created_by=old.created_by if created_by is None else created_by,
                comment=old.comment if comment is None else comment,
                updated_ms=max(now, old.updated_ms + 1),
            )
            validate(new.matchers, new.starts_ms, new.ends_ms, new.created_by, new.comment)
            if new.ends_ms <= now:
                raise SilenceError("the silence would already have ended; expire it instead")
            self._write(self._replace, new)
        log.info("silence %s updated: %s", new.id, _shown(new))
        return new

    def expire(self, silence_id: str, now_ms: int | None = None) -> Silence:
        """End the silence now (a pending one ends before it began). Raises
        SilenceNotFound, or SilenceError when it has expired already."""
        now = self.now_ms() if now_ms is None else now_ms
        with self._lock:
            old = self._fetch(silence_id)
            if old.state(now) == "expired":
                raise SilenceError(f"silence {silence_id} has already expired")
            new = replace(
                old,
                starts_ms=min(old.starts_ms, now),
                ends_ms=now,
                updated_ms=max(now, old.updated_ms + 1),
            )
            self._write(self._replace, new)
        log.info("silence %s expired", silence_id)
        return new

    def mute(self, seconds: float, *, created_by: str, comment: str) -> Silence:
        """Silence every alert for ``seconds`` from now (``alertname=~".+"``)."""
        if not seconds > 0:
            raise SilenceError("a mute needs a duration above zero")
        now = self.now_ms()
        return self.create(
            [MUTE_MATCHER],
            starts_ms=now,
            ends_ms=now + round(seconds * 1000),
            created_by=created_by,
            comment=comment,
        )

    def prune(self, now_ms: int | None = None) -> int:
        """Delete the silences that ended more than 7 days ago; how many went."""
        now = self.now_ms() if now_ms is None else now_ms
        with self._lock:
            if not self.path.exists():
                return 0
            return self._write(self._delete_old, now)

    def close(self) -> None:
        """Nothing to release (connections are per call); for symmetry with the others."""

    def _fetch(self, silence_id: str) -> Silence:
        self._refresh()
        found = self._cache.get(silence_id)
        if found is None:
            raise SilenceNotFound(silence_id)
        return found

    def _write(self, fn: Callable[[sqlite3.Connection, Any], int], arg: Any) -> int:
        with self._lock, open_db(self.path) as conn:
            if not self._ready:
                conn.execute(SILENCES_DDL)
                self._ready = True
            conn.execute("BEGIN IMMEDIATE")
            try:
                count = fn(conn, arg)
                self._delete_old(conn, self.now_ms())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._signature = None  # reload: this write and any other since
            self._refresh()
            return count

    @staticmethod
    def _values(s: Silence) -> tuple[object, ...]:
        matchers = json.dumps([m.to_dict() for m in s.matchers], separators=(",", ":"))
        return (
            s.id,
            matchers,
            s.starts_ms,
            s.ends_ms,
            s.created_by,
            s.comment,
            s.created_ms,
            s.updated_ms,
        )

    def _insert(self, conn: sqlite3.Connection, s: Silence) -> int:
        conn.execute(
            f"INSERT INTO silences ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._values(s)
        )
        return 1

    def _replace(self, conn: sqlite3.Connection, s: Silence) -> int:
        cursor = conn.execute(
            "UPDATE silences SET matchers = ?, starts_ms = ?, ends_ms = ?, created_by = ?, "
            "comment = ?, updated_ms = ? WHERE id = ?",
            (*self._values(s)[1:6], s.updated_ms, s.id),
        )
        if cursor.rowcount != 1:
            raise SilenceNotFound(s.id)
        return 1

    @staticmethod
    def _delete_old(conn: sqlite3.Connection, now_ms: int) -> int:
        cursor = conn.execute("DELETE FROM silences WHERE ends_ms < ?", (now_ms - KEEP_EXPIRED_MS,))
        return cursor.rowcount


def _shown(s: Silence) -> str:
    return "{" + ", ".join(str(m) for m in s.matchers) + "}"
