"""SilenceStore on a real store file: validation, states, the cache, other writers, pruning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgewatch.alerting.matchers import parse_matchers
from edgewatch.alerting.silences import (
    KEEP_EXPIRED_MS,
    SilenceError,
    SilenceNotFound,
    SilenceStore,
)
from edgewatch.store import Store

T0 = 1_800_000_000.0
HOUR_MS = 3_600_000


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def ms(self) -> int:
        return round(self.now * 1000)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    Store.open(tmp_path / "data").close()
    return tmp_path / "data" / "edgewatch.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _store(db: Path, clock: FakeClock) -> SilenceStore:
    return SilenceStore(db, clock=clock)


def _add(store: SilenceStore, clock: FakeClock, text: str, **kw: int) -> str:
    start = kw.get("start", clock.ms())
    end = kw.get("end", start + HOUR_MS)
    silence = store.create(
        parse_matchers(text), starts_ms=start, ends_ms=end, created_by="alice", comment="work"
    )
    return silence.id


def test_active_silence_matches_only_alerts_matching_every_matcher(
    db: Path, clock: FakeClock
) -> None:
    store = _store(db, clock)
    sid = _add(store, clock, 'alertname="DiskFull", device=~"sd.*"')
    now = clock.ms()
    assert store.silenced_by({"alertname": "DiskFull", "device": "sda1"}, now) == [sid]
    assert store.silenced_by({"alertname": "DiskFull", "device": "nvme0"}, now) == []
    assert store.silenced_by({"alertname": "CpuHot", "device": "sda1"}, now) == []


def test_silence_holds_only_between_its_start_and_end(db: Path, clock: FakeClock) -> None:
    store = _store(db, clock)
    start = clock.ms() + HOUR_MS
    sid = _add(store, clock, "job=cam", start=start, end=start + HOUR_MS)
    labels = {"alertname": "X", "job": "cam"}
    silence = store.get(sid)
    assert silence is not None and silence.state(clock.ms()) == "pending"
    assert store.silenced_by(labels, start - 1) == []
    assert store.silenced_by(labels, start) == [sid]
    assert store.silenced_by(labels, start + HOUR_MS) == []
    assert [s.id for s in store.list(state="pending")] == [sid]
    assert store.list(state="active") == []


@pytest.mark.parametrize(
    ("matchers", "start", "end", "by", "comment", "message"),
    [
        ("", 0, HOUR_MS, "alice", "x", "at least one matcher"),
        ('foo=~".*"', 0, HOUR_MS, "alice", "x", "match the empty string"),
        ('foo=~".*", bar!="x"', 0, HOUR_MS, "alice", "x", "match the empty string"),
        ("job=cam", HOUR_MS, HOUR_MS, "alice", "x", "end after it starts"),
        ("job=cam", 0, HOUR_MS, " ", "x", "author"),
        ("job=cam", 0, HOUR_MS, "alice", "", "comment"),
    ],
)
def test_invalid_silences_are_refused_with_the_reason(
    db: Path,
    clock: FakeClock,
    matchers: str,
    start: int,
    end: int,
    by: str,
    comment: str,
    message: str,
) -> None:
    store = _store(db, clock)
    with pytest.raises(SilenceError, match=message):
        store.create(
            parse_matchers(matchers),
            starts_ms=clock.ms() + start,
            ends_ms=clock.ms() + end,
            created_by=by,
            comment=comment,
        )
    assert store.list() == []


def test_a_matcher_not_matching_empty_makes_a_regex_catch_all_acceptable(
    db: Path, clock: FakeClock
) -> None:
    store = _store(db, clock)
    sid = _add(store, clock, 'foo=~".*", job="cam"')
    assert store.silenced_by({"job": "cam"}, clock.ms()) == [sid]


def test_expire_ends_the_silence_now_and_cannot_be_undone(db: Path, clock: FakeClock) -> None:
    store = _store(db, clock)
    sid = _add(store, clock, "job=cam")
    clock.now += 60
    expired = store.expire(sid)
    assert expired.ends_ms == clock.ms()
    assert store.silenced_by({"job": "cam"}, clock.ms()) == []
    assert [s.id for s in store.list(state="expired")] == [sid]
    with pytest.raises(SilenceError, match="already expired"):
        store.expire(sid)
    with pytest.raises(SilenceError, match="has expired"):
        store.update(sid, ends_ms=clock.ms() + HOUR_MS)
    with pytest.raises(SilenceNotFound):
        store.expire("no-such-id")


def test_expiring_a_pending_silence_ends_it_before_it_began(db: Path, clock: FakeClock) -> None:
    store = _store(db, clock)
    sid = _add(store, clock, "job=cam", start=clock.ms() + HOUR_MS, end=clock.ms() + 2 * HOUR_MS)
    expired = store.expire(sid)
    assert expired.starts_ms == expired.ends_ms == clock.ms()
    assert expired.state(clock.ms()) == "expired"


def test_update_extends_an_active_silence_but_keeps_its_start(db: Path, clock: FakeClock) -> None:
    store = _store(db, clock)
    sid = _add(store, clock, "job=cam")
    updated = store.update(sid, ends_ms=clock.ms() + 5 * HOUR_MS, comment="longer")
    assert updated.comment == "longer" and updated.ends_ms == clock.ms() + 5 * HOUR_MS
    assert store.silenced_by({"job": "cam"}, clock.ms() + 4 * HOUR_MS) == [sid]
    with pytest.raises(SilenceError, match="start cannot move"):
        store.update(sid, starts_ms=clock.ms() + 1)


def test_mute_silences_every_alert_for_its_duration(db: Path, clock: FakeClock) -> None:
    store = _store(db, clock)
    muted = store.mute(1800, created_by="bob", comment="bin emptied")
    assert [str(m) for m in muted.matchers] == ['alertname=~".+"']
    assert store.silenced_by({"alertname": "Anything", "x": "y"}, clock.ms()) == [muted.id]
    assert store.silenced_by({"alertname": "Anything"}, clock.ms() + 1800_000) == []
    with pytest.raises(SilenceError, match="above zero"):
        store.mute(0, created_by="bob", comment="x")


def test_silences_survive_a_restart_with_their_matchers(db: Path, clock: FakeClock) -> None:
    sid = _add(_store(db, clock), clock, 'a="1", b!="2", c=~"x|y", d!~"z.*"')
    again = _store(db, clock).get(sid)
    assert again is not None
    assert [str(m) for m in again.matchers] == ['a="1"', 'b!="2"', 'c=~"x|y"', 'd!~"z.*"']
    assert again.created_by == "alice" and again.comment == "work"


def test_another_process_writes_are_seen_within_a_second_without_a_read_per_call(
    db: Path, clock: FakeClock
) -> None:
    agent = _store(db, clock)
    labels = {"alertname": "X", "job": "cam"}
    assert agent.silenced_by(labels, clock.ms()) == []
    cli = _store(db, FakeClock(clock.now))
    sid = _add(cli, clock, "job=cam")
    # Within the second the agent answers from its cache: no SQLite read per call.
    assert agent.silenced_by(labels, clock.ms()) == []
    clock.now += 1.0
    assert agent.silenced_by(labels, clock.ms()) == [sid]
    cli.expire(sid, clock.ms())
    clock.now += 1.0
    assert agent.silenced_by(labels, clock.ms()) == []


def test_an_own_write_is_seen_at_once(db: Path, clock: FakeClock) -> None:
    store = _store(db, clock)
    assert store.silenced_by({"job": "cam"}, clock.ms()) == []
    sid = _add(store, clock, "job=cam")
    assert store.silenced_by({"job": "cam"}, clock.ms()) == [sid]


def test_expired_silences_are_deleted_seven_days_after_their_end(
    db: Path, clock: FakeClock
) -> None:
    store = _store(db, clock)
    old = _add(store, clock, "job=cam")
    store.expire(old)
    clock.now += KEEP_EXPIRED_MS / 1000 - 1
    assert store.prune() == 0
    clock.now += 2
    assert store.prune() == 1
    assert store.get(old) is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM silences").fetchone() == (0,)


def test_a_store_without_the_table_or_file_has_no_silences(tmp_path: Path) -> None:
    store = SilenceStore(tmp_path / "missing")
    assert store.silenced_by({"alertname": "X"}, 0) == []
    assert store.list() == []
