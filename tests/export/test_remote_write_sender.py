"""The remote_write sender over a real store, posting to a real loopback receiver.

Time is injected (the sender's wall clock, monotonic clock and sleep), so
backoff and bandwidth waits are asserted exactly without waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from remote_write_receiver import WriteReceiver
from remote_write_support import (
    CPU,
    MEM,
    MINUTES,
    T0,
    TEMP,
    FakeTime,
    drain,
    endpoint,
    expected,
    labels_of,
    sender,
)

from edgewatch.config import Config, ConfigError, load_config
from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write import FAMILIES, RemoteWriteService
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.model import Sample
from edgewatch.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_backfill_sends_every_sample_once_in_order(store: Store, fake: FakeTime) -> None:
    ep = endpoint("http://x", batch_size=100, extra_labels={"device": "rvm-1", "site": "s1"})
    with WriteReceiver() as rx:
        s = sender(store, fake, ep.model_copy(update={"url": rx.url}))
        asyncio.run(drain(s))
        got = rx.accepted()
    assert set(got) == {labels_of(k, device="rvm-1", site="s1") for k in (CPU, MEM, TEMP)}
    for key in (CPU, MEM, TEMP):
        assert got[labels_of(key, device="rvm-1", site="s1")] == expected(store, key)
    assert all(r.samples() <= 100 for r in rx.received)
    assert s.samples_sent == 3 * MINUTES * 6
    assert s.cursor == round(fake.now * 1000) - 30_000  # up to now - delay
    headers = rx.received[0].headers
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"


def test_keep_and_drop_filter_by_metric_name(store: Store, fake: FakeTime) -> None:
    with WriteReceiver() as rx:
        ep = endpoint(rx.url, keep="node_.*", drop="node_cpu.*")
        asyncio.run(drain(sender(store, fake, ep)))
        got = rx.accepted()
    assert list(got) == [labels_of(MEM)]
    assert len(got[labels_of(MEM)]) == MINUTES * 6


def test_a_new_sender_resumes_from_the_saved_checkpoint(store: Store, fake: FakeTime) -> None:
    end = fake.now
    fake.now = (T0 + 10 * 60_000 + 30_000) / 1000  # first run: up to T0 + 10 min
    with WriteReceiver() as rx:
        first = sender(store, fake, endpoint(rx.url))
        asyncio.run(drain(first))
        first.save()
        cut = first.cursor
        assert cut == T0 + 10 * 60_000
        fake.now = end
        second = sender(store, fake, endpoint(rx.url), start_ms=T0 + 25 * 60_000)
        assert second.cursor == cut  # the checkpoint wins over start_ms
        asyncio.run(drain(second))
        got = rx.accepted()
    assert got[labels_of(CPU)] == expected(store, CPU)  # no gap, nothing twice
    assert Checkpoints(store.path).load(second.name) == cut  # saved at most every 10 s
    second.save()
    assert Checkpoints(store.path).load(second.name) == second.cursor


def test_5xx_and_429_are_retried_with_backoff_and_retry_after(store: Store, fake: FakeTime) -> None:
    script: list[int | tuple[int, dict[str, str]]] = [503, 500, (429, {"Retry-After": "7"}), 502]
    with WriteReceiver(script) as rx:
        ep = endpoint(rx.url, backoff_initial="1s", backoff_max="4s", batch_size=10_000)
        s = sender(store, fake, ep)
        asyncio.run(drain(s))
        received = list(rx.received)
        got = rx.accepted()
    assert [r.status for r in received[:5]] == [503, 500, 429, 502, 204]
    assert all(r.series == received[0].series for r in received[:5])  # the same batch again
    s1, s2, s3, s4 = fake.sleeps
    assert 0.5 <= s1 <= 1.0 and 1.0 <= s2 <= 2.0  # doubling, jitter in [0.5, 1]
    assert s3 == 4.0  # Retry-After 7 s, capped by backoff_max
    assert 2.0 <= s4 <= 4.0
    assert s.failures == 4
    assert got[labels_of(TEMP)] == expected(store, TEMP)


def test_an_unreachable_endpoint_keeps_the_cursor_until_it_answers(
    store: Store, fake: FakeTime
) -> None:
    with WriteReceiver() as rx:
        port = rx.port
    s = sender(store, fake, endpoint(f"http://127.0.0.1:{port}/api/v1/write"))

    async def stop_after_three(seconds: float) -> None:
        await fake.sleep(seconds)
        if len(fake.sleeps) == 3:
            s.stop()

    s._sleep = stop_after_three  # the third backoff ends the run (as the agent's stop does)
    assert asyncio.run(drain(s, once=True)) is False
    assert s.failures == 3 and s.samples_sent == 0
    assert s.cursor == T0 - 1
    assert s.pending() > 0 and s.lag_seconds() > MINUTES * 60


def test_backlog_older_than_max_backlog_is_skipped_and_counted(
    store: Store, fake: FakeTime
) -> None:
    with WriteReceiver() as rx:
        s = sender(store, fake, endpoint(rx.url, max_backlog="11m"))
        asyncio.run(drain(s))
        got = rx.accepted()
    floor = round(fake.now * 1000) - 11 * 60_000
    assert got[labels_of(CPU)] == [p for p in expected(store, CPU) if p[0] > floor]
    assert s.dropped_backlog > 0
    assert abs(s.dropped_backlog - 3 * sum(1 for p in expected(store, CPU) if p[0] <= floor)) <= 6


def test_bandwidth_cap_spaces_requests(store: Store, fake: FakeTime) -> None:
    with WriteReceiver() as rx:
        s = sender(store, fake, endpoint(rx.url, batch_size=100, bandwidth_limit=1000))
        asyncio.run(drain(s))
        sizes = [r.size for r in rx.received]
    assert len(sizes) > 5
    # Every request but the first waits for the previous one's bytes at 1000 B/s.
    assert sum(fake.sleeps) == pytest.approx(sum(sizes[:-1]) / 1000, rel=1e-6)


def test_bearer_and_basic_auth_headers(store: Store, fake: FakeTime) -> None:
    with WriteReceiver() as rx:
        bearer = endpoint(rx.url, name="b", bearer_token="s3cret", keep="temperature_celsius")
        asyncio.run(drain(sender(store, fake, bearer)))
        basic = endpoint(rx.url, name="a", basic_auth={"username": "u", "password": "p"})
        asyncio.run(drain(sender(store, fake, basic), once=True))
        first, second = rx.received[0], rx.received[-1]
    assert first.headers["Authorization"] == "Bearer s3cret"
    assert second.headers["Authorization"] == "Basic dTpw"
    assert "s3cret" not in repr(bearer)


def test_extra_headers_reach_the_receiver_and_are_never_logged_or_shown(
    store: Store, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"X-Scope-OrgID": "tenant-s3cret", "X-Custom": "v2"}
    with WriteReceiver([503, 400]) as rx:  # a retry and a rejection: both are logged
        ep = endpoint(rx.url, headers=headers, bearer_token="tok3n", batch_size=100)
        with caplog.at_level(logging.DEBUG):
            asyncio.run(drain(sender(store, fake, ep)))
        received = list(rx.received)
    assert len(received) > 2
    for r in received:
        assert r.headers["X-Scope-OrgID"] == "tenant-s3cret"
        assert r.headers["X-Custom"] == "v2"
        assert r.headers["Authorization"] == "Bearer tok3n"
        assert r.headers["Content-Type"] == "application/x-protobuf"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "503" in logged and "400" in logged
    assert "s3cret" not in logged and "tok3n" not in logged
    shown = repr(ep) + ep.model_dump_json() + str(ep.model_dump())
    assert "s3cret" not in shown and "X-Scope-OrgID" in shown


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Content-Type", "'Content-Type' is set by the sender or by HTTP itself"),
        ("content-encoding", "'content-encoding' is set by the sender"),
        ("X-Prometheus-Remote-Write-Version", "cannot be overridden"),
        ("AUTHORIZATION", "set by bearer_token or basic_auth"),
        ("Bad Header", "'Bad Header' is not an HTTP header name"),
    ],
)
def test_headers_that_would_override_the_protocol_are_refused(header: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        RemoteWriteEndpoint.model_validate({"url": "http://x/", "headers": {header: "s3cret"}})
    assert "s3cret" not in str(caught.value)


def test_a_refused_header_is_a_config_error_naming_file_line_and_key(tmp_path: Path) -> None:
    conf = tmp_path / "edgewatch.yaml"
    conf.write_text(
        "remote_write:\n"
        "  - url: http://mimir:8080/api/v1/push\n"
        "    headers:\n"
        "      X-Scope-OrgID: fleet\n"
        "      Content-Type: text/plain-s3cret\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(conf)
    message = str(caught.value)
    assert "edgewatch.yaml" in message and "remote_write[0].headers" in message
    assert "'Content-Type' is set by the sender or by HTTP itself" in message
    assert "s3cret" not in message
    two = "    headers: {X-Scope-OrgID: a, x-scope-orgid: b}\n"
    conf.write_text("remote_write:\n  - url: http://mimir:8080/api/v1/push\n" + two)
    with pytest.raises(ConfigError, match="given twice"):
        load_config(conf)
    conf.write_text(
        "remote_write:\n  - url: http://m/api/v1/push\n    headers: {X-Scope-OrgID: fleet}\n"
    )
    [ep] = load_config(conf).remote_write
    assert ep.headers["X-Scope-OrgID"].get_secret_value() == "fleet"


def test_service_reports_its_figures_through_the_sink(store: Store, fake: FakeTime) -> None:
    sunk: list[tuple[int, list[Sample]]] = []
    with WriteReceiver() as rx:
        service = RemoteWriteService(
            [endpoint(rx.url, name="vm")],
            store,
            db_path=store.path,
            sink=lambda ts, samples: sunk.append((ts, list(samples))),
            clock=fake.time,
        )
        service.senders[0].cursor = T0 - 1
        asyncio.run(drain(service.senders[0]))
        service.report()
    ((ts, samples),) = sunk
    assert ts == round(fake.now * 1000)
    figures = {(s.key.name, s.key.label("reason")): s.value for s in samples}
    assert {name for name, _ in figures} == {f.name for f in FAMILIES}
    assert all(s.key.label("endpoint") == "vm" for s in samples)
    assert figures[("edgewatch_remote_write_samples_sent_total", "")] == 3 * MINUTES * 6
    assert figures[("edgewatch_remote_write_lag_seconds", "")] == 30.0
    docs = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert all(f"| `{f.name}` | {f.type.value} |" in docs for f in FAMILIES)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "ftp://x/"}, "not an http\\(s\\) URL"),
        ({"url": "http://x/", "keep": "(unclosed"}, "bad regular expression"),
        ({"url": "http://x/", "extra_labels": {"bad-name": "v"}}, "not a label name"),
        (
            {
                "url": "http://x/",
                "bearer_token": "t",
                "basic_auth": {"username": "u", "password": "p"},
            },
            "not both",
        ),
    ],
)
def test_bad_endpoint_config_is_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RemoteWriteEndpoint.model_validate(entry)


def test_endpoint_names_must_be_unique() -> None:
    urls = [{"url": "http://vm:8428/api/v1/write"}, {"url": "http://vm:8428/other"}]
    with pytest.raises(ValidationError, match="vm:8428 used twice"):
        Config.model_validate({"remote_write": urls})
    named = [{**urls[0], "name": "a"}, {**urls[1], "name": "b"}]
    assert len(Config.model_validate({"remote_write": named}).remote_write) == 2


def test_a_clock_set_back_restarts_the_cursor_from_now(store: Store, fake: FakeTime) -> None:
    with WriteReceiver() as rx:
        s = sender(store, fake, endpoint(rx.url), start_ms=T0 + 10**9)  # far in the future
        asyncio.run(drain(s))
    assert s.cursor == round(fake.now * 1000) - 30_000


def test_checkpoints_are_read_and_written_off_the_event_loop(
    store: Store, fake: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []
    for name in ("load", "load_late", "save"):
        original = getattr(Checkpoints, name, None)
        if original is None:
            continue

        def recording(self: Checkpoints, *a: Any, _f: Any = original, _n: str = name) -> Any:
            calls.append((_n, threading.get_ident()))
            return _f(self, *a)

        monkeypatch.setattr(Checkpoints, name, recording)
    Checkpoints(store.path).save("vm", T0 - 1, T0)  # an existing checkpoint
    calls.clear()

    async def scenario() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        with WriteReceiver() as rx:
            service = RemoteWriteService(
                [endpoint(rx.url, name="vm")], store, db_path=store.path, sink=None,
                clock=fake.time,
            )  # fmt: skip
            assert calls == []  # building the service reads nothing
            service.start()
            for _ in range(200):  # bounded: the first window goes out at once
                if service.senders[0].samples_sent:
                    break
                await asyncio.sleep(0.02)
            await service.close()
            return loop_thread, service.senders[0].samples_sent

    loop_thread, sent = asyncio.run(scenario())
    assert sent > 0
    assert {name for name, _ in calls} >= {"load", "save"}
    assert all(thread != loop_thread for _, thread in calls)
