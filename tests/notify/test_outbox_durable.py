"""The outbox across restarts, deduplication, per-channel rows, ordering and
the run loop (two loops on one file never send twice)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from webhook_receiver import Receiver, free_port, notification

from edgewatch.alerting.notice import Notification
from edgewatch.config.notify import OutboxSettings, WebhookConfig
from edgewatch.notify.base import Channel
from edgewatch.notify.outbox import ItemState, Outbox
from edgewatch.notify.webhook import WebhookChannel

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def webhooks(*urls: str) -> dict[str, list[Channel]]:
    return {"ops": [WebhookChannel(WebhookConfig(url=u)) for u in urls]}


def open_outbox(
    db: Path, channels: dict[str, Sequence[Channel]], clock: Clock, **settings: float
) -> Outbox:
    if not db.exists():
        sqlite3.connect(db).close()
    return Outbox(
        db,
        OutboxSettings(**settings),
        channels=channels.__getitem__,
        clock=clock,
        rng=random.Random(3),
    )


def test_pending_rows_are_delivered_by_a_new_outbox_after_restart(tmp_path: Path) -> None:
    db, clock, port = tmp_path / "edgewatch.db", Clock(), free_port()
    first = open_outbox(db, webhooks(f"http://127.0.0.1:{port}/a"), clock)
    assert first.enqueue(notification("k1"))
    asyncio.run(first.deliver_due())  # receiver down
    del first

    clock.t += 30
    with Receiver(port=port) as receiver:
        second = open_outbox(db, webhooks(f"http://127.0.0.1:{port}/a"), clock)
        assert second.pending_count() == 1
        assert not second.enqueue(notification("k1"))  # the dispatcher re-running
        assert asyncio.run(second.deliver_due()) == 1
        assert receiver.count() == 1
    assert second.items()[0].attempts == 2


def test_a_send_interrupted_by_a_crash_is_sent_again_on_restart(tmp_path: Path) -> None:
    db, clock = tmp_path / "edgewatch.db", Clock()
    with Receiver() as receiver:
        first = open_outbox(db, webhooks(receiver.url), clock)
        first.enqueue(notification("k1"))
        with sqlite3.connect(db) as conn:  # what a SIGKILL mid-send leaves behind
            conn.execute("UPDATE outbox SET state = 'sending', attempts = 1")
        assert asyncio.run(first.deliver_due()) == 0  # claimed by "someone": not sent
        second = open_outbox(db, webhooks(receiver.url), clock)
        assert asyncio.run(second.deliver_due()) == 1
        assert receiver.count() == 1


def test_the_same_dedupe_key_is_delivered_once(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver() as receiver:
        outbox = open_outbox(tmp_path / "edgewatch.db", webhooks(receiver.url), clock)
        assert outbox.enqueue(notification("same"))
        assert not outbox.enqueue(notification("same"))
        asyncio.run(outbox.deliver_due())
        assert not outbox.enqueue(notification("same"))  # also once delivered
        assert outbox.enqueue(notification("other"))
        asyncio.run(outbox.deliver_due())
        assert [r.json()["groupKey"] for r in receiver.requests] == ["g1", "g1"]
        assert receiver.count() == 2


def test_only_the_failed_channel_of_a_receiver_is_retried(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver() as good, Receiver([500]) as bad:
        outbox = open_outbox(
            tmp_path / "edgewatch.db", webhooks(good.url + "/good", bad.url + "/bad"), clock
        )
        outbox.enqueue(notification())
        assert asyncio.run(outbox.deliver_due()) == 2
        clock.t += 60
        assert asyncio.run(outbox.deliver_due()) == 1
        assert good.count() == 1
        assert bad.count() == 2
    assert {i.state for i in outbox.items()} == {ItemState.DELIVERED}


def test_a_later_message_of_a_group_waits_for_the_earlier(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver([500]) as receiver:
        # One at a time: the receiver's 500 must meet "fire", not a parallel "other".
        outbox = open_outbox(
            tmp_path / "edgewatch.db", webhooks(receiver.url), clock, max_parallel=1
        )
        outbox.enqueue(notification("fire", status="firing"))
        outbox.enqueue(notification("resolve", status="resolved"))
        outbox.enqueue(notification("other", group_key="g2"))
        assert asyncio.run(outbox.deliver_due()) == 2  # "fire" fails; "resolve" waits
        clock.t += 60
        asyncio.run(outbox.deliver_due())
        statuses = [(r.json()["groupKey"], r.json()["status"]) for r in receiver.requests]
    assert statuses == [
        ("g1", "firing"),
        ("g2", "firing"),
        ("g1", "firing"),
        ("g1", "resolved"),
    ]


def test_an_unknown_receiver_fails_its_rows_permanently(tmp_path: Path) -> None:
    clock = Clock()
    channels: dict[str, Sequence[Channel]] = dict(webhooks("http://127.0.0.1:9/x"))
    outbox = open_outbox(tmp_path / "edgewatch.db", channels, clock)
    outbox.enqueue(notification())
    del channels["ops"]  # removed from the config by a reload
    asyncio.run(outbox.deliver_due())
    [item] = outbox.items()
    assert item.state is ItemState.FAILED
    assert item.last_error == "receiver 'ops' is no longer configured"


class Gate:
    """A channel that blocks until released, counting sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def send(self, notification: Notification) -> None:
        await self.release.wait()
        self.sent.append(notification.dedupe_key)

    def describe(self) -> str:
        return "gate"


async def _wait_for(predicate: object, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def test_two_loops_on_one_file_never_send_twice(tmp_path: Path) -> None:
    db, clock = tmp_path / "edgewatch.db", Clock()

    async def scenario() -> list[str]:
        gate = Gate()
        channels: dict[str, Sequence[Channel]] = {"ops": [gate]}
        one = open_outbox(db, channels, clock, max_parallel=3)
        two = open_outbox(db, channels, clock, max_parallel=3)
        for i in range(10):
            (one if i % 2 else two).enqueue(notification(f"k{i}", group_key=f"g{i}"))
        stop = asyncio.Event()
        loops = [asyncio.create_task(o.run(stop)) for o in (one, two)]
        gate.release.set()
        await _wait_for(lambda: len(gate.sent) >= 10 and one.pending_count() == 0)
        stop.set()
        await asyncio.gather(*loops)
        return gate.sent

    sent = asyncio.run(scenario())
    assert sorted(sent) == sorted(f"k{i}" for i in range(10))


def test_run_delivers_what_is_enqueued_and_stop_leaves_the_rest(tmp_path: Path) -> None:
    db, clock = tmp_path / "edgewatch.db", Clock()

    async def scenario() -> tuple[int, int]:
        gate = Gate()
        with Receiver() as receiver:
            channels: dict[str, Sequence[Channel]] = {
                "ops": webhooks(receiver.url)["ops"],
                "slow": [gate],
            }
            outbox = open_outbox(db, channels, clock)
            stop = asyncio.Event()
            loop = asyncio.create_task(outbox.run(stop))
            outbox.enqueue(notification("now"))
            outbox.enqueue(notification("stuck", receiver="slow"))
            await _wait_for(lambda: receiver.count() == 1)
            stop.set()
            await loop  # cancels the blocked send and puts its row back
            return receiver.count(), outbox.pending_count()

    assert asyncio.run(scenario()) == (1, 1)
    [stuck] = [i for i in open_outbox(db, {}, clock).items() if i.receiver == "slow"]
    assert stuck.state is ItemState.PENDING
    assert stuck.attempts == 0
