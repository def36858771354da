"""The outbox against a real HTTP receiver: retries, backoff, permanent
failures, give-up, all with an injected clock (no sleeping)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

from webhook_receiver import Receiver, free_port, notification

from edgewatch.config.notify import OutboxSettings, WebhookConfig
from edgewatch.notify.base import Channel
from edgewatch.notify.outbox import ItemState, Outbox, OutboxItem
from edgewatch.notify.webhook import WebhookChannel

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def make_outbox(
    tmp_path: Path, urls: list[str], clock: Clock, **settings: Any
) -> tuple[Outbox, list[OutboxItem]]:
    db = tmp_path / "edgewatch.db"
    sqlite3.connect(db).close()
    channels: dict[str, list[Channel]] = {
        "ops": [WebhookChannel(WebhookConfig(url=u)) for u in urls]
    }
    given_up: list[OutboxItem] = []
    outbox = Outbox(
        db,
        OutboxSettings(**settings),
        channels=channels.__getitem__,
        clock=clock,
        rng=random.Random(7),
        on_give_up=given_up.append,
    )
    return outbox, given_up


def test_receiver_down_then_up_gets_the_notification_once(tmp_path: Path) -> None:
    clock = Clock()
    port = free_port()
    outbox, _ = make_outbox(tmp_path, [f"http://127.0.0.1:{port}/hook"], clock)
    assert outbox.enqueue(notification("k1"))

    assert asyncio.run(outbox.deliver_due()) == 1  # nobody listens: connection refused
    [item] = outbox.items()
    assert item.state is ItemState.PENDING
    assert item.attempts == 1
    assert "ConnectError" in item.last_error
    assert 2_500 <= item.next_attempt_ms - int(T0 * 1000) <= 5_000

    with Receiver(port=port) as receiver:
        assert asyncio.run(outbox.deliver_due()) == 0  # not due yet
        clock.t += 5
        assert asyncio.run(outbox.deliver_due()) == 1
        clock.t += 3600
        assert asyncio.run(outbox.deliver_due()) == 0
        assert receiver.paths() == ["/hook"]
        assert receiver.requests[0].json()["groupKey"] == "g1"
    [item] = outbox.items()
    assert item.state is ItemState.DELIVERED
    assert [a.ok for a in outbox.attempts()] == [True, False]  # newest first
    assert outbox.pending_count() == 0
    assert outbox.stats().delivered == 1
    assert outbox.stats().retried == 1


def test_5xx_is_retried_with_exponential_backoff_and_jitter(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver([500, (503, "busy"), 200]) as receiver:
        outbox, _ = make_outbox(
            tmp_path, [receiver.url + "/h"], clock, backoff_initial=10, backoff_max=25
        )
        outbox.enqueue(notification())
        delays = []
        for _ in range(3):
            assert asyncio.run(outbox.deliver_due()) == 1
            [item] = outbox.items()
            if item.state is not ItemState.PENDING:
                break
            delays.append((item.next_attempt_ms - round(clock.t * 1000)) / 1000)
            clock.t = item.next_attempt_ms / 1000 - 0.001
            assert asyncio.run(outbox.deliver_due()) == 0  # one millisecond early
            clock.t += 0.001
        assert receiver.count() == 3
    assert item.state is ItemState.DELIVERED
    assert 5 <= delays[0] <= 10  # initial, times [0.5, 1]
    assert 10 <= delays[1] <= 20  # doubled
    errors = [a.error for a in outbox.attempts()]
    assert errors[0] == ""
    assert "answered 503 Service Unavailable: busy" in errors[1]
    assert "answered 500" in errors[2]


def test_backoff_is_capped_at_backoff_max(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver(default_status=502) as receiver:
        outbox, _ = make_outbox(
            tmp_path, [receiver.url], clock, backoff_initial=1, backoff_max=4, max_age=3600
        )
        outbox.enqueue(notification())
        for _ in range(8):
            asyncio.run(outbox.deliver_due())
            [item] = outbox.items()
            clock.t = item.next_attempt_ms / 1000
        assert receiver.count() == 8
    assert item.next_attempt_ms - item_time(outbox) <= 4_000


def item_time(outbox: Outbox) -> int:
    return outbox.attempts()[0].at_ms


def test_4xx_is_a_permanent_failure_with_its_message(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver([(400, "missing field 'alerts'")]) as receiver:
        outbox, given_up = make_outbox(tmp_path, [receiver.url + "/hook"], clock)
        outbox.enqueue(notification())
        asyncio.run(outbox.deliver_due())
        clock.t += 86400 * 2
        assert asyncio.run(outbox.deliver_due()) == 0
        assert receiver.count() == 1
    [item] = outbox.items()
    assert item.state is ItemState.FAILED
    assert item.last_error == (
        f"http://127.0.0.1:{receiver.port}/hook answered 400 Bad Request: missing field 'alerts'"
    )
    assert given_up == []
    assert outbox.stats().failed == 1


def test_url_credentials_and_query_never_reach_the_error(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver([(401, "no")]) as receiver:
        url = f"http://alice:hunter2pw@127.0.0.1:{receiver.port}/hook?token=s3cr3tq"
        outbox, _ = make_outbox(tmp_path, [url], clock)
        outbox.enqueue(notification())
        asyncio.run(outbox.deliver_due())
    [item] = outbox.items()
    assert item.state is ItemState.FAILED
    for text in (item.last_error, item.channel_desc, outbox.attempts()[0].error):
        assert "hunter2pw" not in text
        assert "s3cr3tq" not in text
        assert "alice" not in text
    assert f"127.0.0.1:{receiver.port}/hook" in item.last_error


def test_gives_up_after_max_age_and_reports_it(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver(default_status=503) as receiver:
        outbox, given_up = make_outbox(
            tmp_path, [receiver.url], clock, max_age=60, backoff_initial=5, backoff_max=20
        )
        outbox.enqueue(notification("k-old"))
        for _ in range(20):
            asyncio.run(outbox.deliver_due())
            [item] = outbox.items()
            if item.state is not ItemState.PENDING:
                break
            clock.t = item.next_attempt_ms / 1000
        sent = receiver.count()
    assert item.state is ItemState.GIVEN_UP
    assert 3 <= sent <= 12
    assert clock.t - T0 < 60
    [gone] = given_up
    assert gone.dedupe_key == "k-old"
    assert gone.state is ItemState.GIVEN_UP
    assert gone.attempts == sent
    assert "503" in gone.last_error
    assert outbox.stats().given_up == 1
    assert outbox.pending_count() == 0


def test_a_row_found_past_max_age_is_given_up_unsent(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver() as receiver:
        outbox, given_up = make_outbox(tmp_path, [receiver.url], clock, max_age=600)
        outbox.enqueue(notification())
        clock.t += 601  # the agent was off
        assert asyncio.run(outbox.deliver_due()) == 0
        assert receiver.count() == 0
    assert [g.state for g in given_up] == [ItemState.GIVEN_UP]
    assert outbox.items()[0].state is ItemState.GIVEN_UP


def test_finished_rows_are_deleted_after_keep(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver() as receiver:
        outbox, _ = make_outbox(tmp_path, [receiver.url], clock, keep=86400)
        outbox.enqueue(notification("a"))
        asyncio.run(outbox.deliver_due())
        clock.t += 86400 + 3600
        outbox.enqueue(notification("b"))
        asyncio.run(outbox.deliver_due())
    assert [i.dedupe_key for i in outbox.items()] == ["b"]
    assert len(outbox.attempts()) == 1


def test_stats_count_per_receiver(tmp_path: Path) -> None:
    clock = Clock()
    with Receiver([500, 200, (400, "no")]) as receiver:
        outbox, _ = make_outbox(tmp_path, [receiver.url], clock)
        outbox.enqueue(notification("a", group_key="ga"))
        outbox.enqueue(notification("b", group_key="gb"))
        asyncio.run(outbox.deliver_due())  # a: 500, b: 200
        clock.t += 60
        asyncio.run(outbox.deliver_due())  # a: 400
    stats = outbox.stats()
    assert stats.by_receiver == {"ops": {"delivered": 1, "failed": 1, "given_up": 0, "retried": 1}}
    assert (stats.pending, stats.errors) == (0, 0)
    assert "record" not in repr(outbox.items()[0])
