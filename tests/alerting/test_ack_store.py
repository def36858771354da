"""AckStore on a real store file: ack, re-ack, un-ack, clear on resolve, other writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.alerting.acks import AckError, AckStore
from edgewatch.store import Store

T0 = 1_800_000_000.0
FP = "0123456789abcdef"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    Store.open(tmp_path / "data").close()
    return tmp_path / "data" / "edgewatch.db"


def test_ack_names_the_person_and_survives_a_restart(db: Path) -> None:
    clock = FakeClock()
    store = AckStore(db, clock=clock)
    assert store.acked_by(FP) is None
    ack = store.ack(FP, by="alice", comment="replacing the disk")
    assert (ack.acked_by, ack.comment, ack.acked_ms) == ("alice", "replacing the disk", T0 * 1000)
    assert store.acked_by(FP) == "alice"
    again = AckStore(db, clock=clock)
    assert again.get(FP) == ack
    assert again.list() == [ack]


def test_a_reack_replaces_the_previous_one(db: Path) -> None:
    store = AckStore(db, clock=FakeClock())
    store.ack(FP, by="alice")
    second = store.ack(FP, by="bob", comment="mine now")
    assert store.acked_by(FP) == "bob"
    assert [a.acked_by for a in store.list()] == ["bob"]
    assert second.acked_ms > T0 * 1000  # the same millisecond: still a newer ack


def test_unack_and_clear_remove_the_ack(db: Path) -> None:
    store = AckStore(db, clock=FakeClock())
    store.ack(FP, by="alice")
    assert store.unack(FP) is True
    assert store.unack(FP) is False
    assert store.acked_by(FP) is None
    store.ack(FP, by="alice")
    store.clear(FP)  # the alert resolved
    assert store.get(FP) is None
    store.clear("ffffffffffffffff")  # nothing to clear: no error


def test_an_ack_older_than_the_incident_does_not_count(db: Path) -> None:
    clock = FakeClock()
    store = AckStore(db, clock=clock)
    store.ack(FP, by="alice")
    incident_start = round((T0 + 10) * 1000)
    assert store.acked_by(FP, since_ms=incident_start) is None
    assert store.acked_by(FP, since_ms=incident_start - 10_000) == "alice"


@pytest.mark.parametrize(
    ("fingerprint", "by"), [("", "a"), ("a b", "a"), ("x" * 65, "a"), (FP, "")]
)
def test_bad_fingerprints_and_names_are_refused(db: Path, fingerprint: str, by: str) -> None:
    store = AckStore(db, clock=FakeClock())
    with pytest.raises(AckError):
        store.ack(fingerprint, by=by)
    assert store.list() == []


def test_another_process_acks_are_seen_within_a_second(db: Path) -> None:
    clock = FakeClock()
    agent = AckStore(db, clock=clock)
    assert agent.acked_by(FP) is None
    AckStore(db, clock=FakeClock()).ack(FP, by="carol")
    assert agent.acked_by(FP) is None  # answered from memory within the second
    clock.now += 1.0
    assert agent.acked_by(FP) == "carol"
    AckStore(db, clock=FakeClock()).unack(FP)
    clock.now += 1.0
    assert agent.acked_by(FP) is None
