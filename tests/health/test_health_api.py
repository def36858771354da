"""/api/health, /api/health/checks/{name} and the heartbeat pings, through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from health_api_helpers import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    app_for,
    bearer,
    client,
    config,
    rig,
)

from edgewatch.client import PushError, heartbeat
from edgewatch.health.model import Status
from served_app import serve

pytestmark = pytest.mark.anyio

BEAT = {"kind": "heartbeat", "name": "vision-loop", "component": "vision", "period": 60}
JOB = {
    "kind": "heartbeat",
    "name": "nightly",
    "component": "jobs",
    "period": 86400,
    "max_duration": 120,
}


def file_check(path: Path, **kw: object) -> dict[str, object]:
    return {"kind": "file", "name": "frame", "component": "camera", "path": str(path), **kw}


async def test_heartbeats_sent_then_stopped_turn_the_health_from_pass_to_fail(
    tmp_path: Path,
) -> None:
    frame = tmp_path / "frame.pgm"
    frame.write_bytes(b"P5 1 1 255 \x80")
    cfg = config(
        [BEAT, file_check(frame)],
        components={"vision": {"depends_on": ["camera"], "weight": 2}},
    )
    with rig(tmp_path, cfg) as r:
        async with client(app_for(r.ctx)) as c:
            for _ in range(3):
                r.clock.t += 30
                ping = await c.post("/api/heartbeat/vision-loop")
                assert (ping.status_code, ping.json()) == (200, {"ok": True})
                assert (await r.monitor.run_once("vision-loop")).status is Status.PASS
            await r.monitor.run_once("frame")
            healthy = await c.get("/api/health")
            r.clock.t += 61  # the loop stopped pinging
            assert (await r.monitor.run_once("vision-loop")).status is Status.FAIL
            sick = await c.get("/api/health")
    assert healthy.status_code == 200
    assert healthy.headers["content-type"] == "application/health+json"
    body = healthy.json()
    assert (body["status"], body["description"], body["score"]) == ("pass", "edgewatch", 100)
    assert set(body["checks"]) == {"vision:vision-loop", "camera:frame"}
    [entry] = body["checks"]["vision:vision-loop"]
    assert entry["componentId"] == "vision-loop"
    assert entry["componentType"] == "heartbeat"
    assert (entry["status"], entry["state"]) == ("pass", "pass")
    assert (entry["observedValue"], entry["observedUnit"]) == (0.0, "seconds")
    assert entry["output"] == "last ping 0s ago"
    assert entry["time"].endswith("Z") and body["time"].endswith("Z")
    assert body["components"]["vision"]["weight"] == 2
    assert body["explanation"] == []

    assert sick.status_code == 503
    assert sick.headers["content-type"] == "application/health+json"
    bad = sick.json()
    assert bad["status"] == "fail"
    assert bad["checks"]["vision:vision-loop"][0]["output"] == "no ping for 61s (period 60s)"
    assert bad["components"]["vision"]["status"] == "fail"
    # vision weighs 2 of 3: its only check failing costs two thirds of the score.
    assert bad["score"] == pytest.approx(33.3)
    assert bad["explanation"] == [
        {"check": "vision-loop", "component": "vision", "status": "fail", "points": 66.7}
    ]
    assert bad["output"] == "pulled down by: vision-loop"


async def test_a_failing_dependency_blocks_its_dependants(tmp_path: Path) -> None:
    cfg = config(
        [BEAT, file_check(tmp_path / "missing.pgm", critical=True)],
        components={"vision": {"depends_on": ["camera"]}},
    )
    with rig(tmp_path, cfg) as r:
        r.clock.t += 120  # no heartbeat either
        await r.monitor.run_once("vision-loop")
        await r.monitor.run_once("frame")
        async with client(app_for(r.ctx)) as c:
            response = await c.get("/api/health")
    body = response.json()
    assert response.status_code == 503
    assert body["components"]["vision"]["blocked_by"] == ["camera"]
    assert body["components"]["vision"]["score"] is None
    assert body["components"]["camera"]["score"] == 0
    assert body["capped_by"] == ["frame"]
    assert body["output"] == "critical check failing: frame"
    assert [x["check"] for x in body["explanation"]] == ["frame"]


async def test_start_and_fail_pings(tmp_path: Path) -> None:
    with rig(tmp_path, config([JOB])) as r:
        async with client(app_for(r.ctx)) as c:
            assert (await c.post("/api/heartbeat/nightly/start")).status_code == 200
            r.clock.t += 121
            stuck = await r.monitor.run_once("nightly")
            assert (await c.post("/api/heartbeat/nightly")).status_code == 200
            done = await r.monitor.run_once("nightly")
            assert (await c.post("/api/heartbeat/nightly/fail")).status_code == 200
            failed = await r.monitor.run_once("nightly")
    assert (stuck.status, stuck.message) == (
        Status.FAIL,
        "started 121s ago, not finished (max 120s)",
    )
    assert (done.status, done.message) == (Status.PASS, "last ping 0s ago, last run took 121.0s")
    assert (failed.status, failed.message) == (Status.FAIL, "fail ping 0s ago")


async def test_pings_only_for_configured_heartbeat_checks(tmp_path: Path) -> None:
    frame = tmp_path / "frame.pgm"
    with rig(tmp_path, config([BEAT, file_check(frame)])) as r:
        async with client(app_for(r.ctx)) as c:
            unknown = await c.post("/api/heartbeat/nope")
            not_beat = await c.post("/api/heartbeat/frame/start")
            wrong_method = await c.get("/api/heartbeat/vision-loop")
        assert r.beats is not None and r.beats.names() == []
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no heartbeat check named 'nope'", "detail": None}
    assert not_beat.status_code == 404
    assert wrong_method.status_code == 405


async def test_pings_need_an_admin_when_tokens_are_configured(tmp_path: Path) -> None:
    with rig(tmp_path, config([BEAT], tokens=True)) as r:
        async with client(app_for(r.ctx)) as c:
            anon = await c.post("/api/heartbeat/vision-loop")
            viewer = await c.post("/api/heartbeat/vision-loop", headers=bearer(VIEWER_TOKEN))
            viewer_read = await c.get("/api/health", headers=bearer(VIEWER_TOKEN))
            admin = await c.post("/api/heartbeat/vision-loop", headers=bearer(ADMIN_TOKEN))
        assert r.beats is not None
        state = r.beats.get("vision-loop")
    assert (anon.status_code, viewer.status_code, admin.status_code) == (401, 403, 200)
    assert viewer_read.status_code == 200
    assert state is not None and state.pings == 1


async def test_without_checks_or_monitor_the_health_is_pass_and_empty(tmp_path: Path) -> None:
    with rig(tmp_path, config([])) as r:
        async with client(app_for(r.ctx)) as c:
            with_monitor = await c.get("/api/health")
            r.ctx.health = None
            without = await c.get("/api/health")
            ping = await c.post("/api/heartbeat/vision-loop")
    for response in (with_monitor, without):
        body = response.json()
        assert response.status_code == 200
        assert (body["status"], body["checks"], body["score"]) == ("pass", {}, None)
    assert ping.status_code == 404


async def test_an_unknown_check_is_warn_in_health_json_and_pings_are_refused(
    tmp_path: Path,
) -> None:
    with rig(tmp_path, config([BEAT]), heartbeats=False) as r:
        await r.monitor.run_once("vision-loop")
        async with client(app_for(r.ctx)) as c:
            response = await c.get("/api/health")
            ping = await c.post("/api/heartbeat/vision-loop")
    body = response.json()
    [entry] = body["checks"]["vision:vision-loop"]
    assert (response.status_code, body["status"]) == (200, "warn")
    assert (entry["status"], entry["state"]) == ("warn", "unknown")
    assert (ping.status_code, ping.json()["error"]) == (503, "heartbeats are not received here")


async def test_check_detail_has_the_latest_result_and_history_from_the_store(
    tmp_path: Path,
) -> None:
    with rig(tmp_path, config([BEAT])) as r:
        assert r.beats is not None
        r.clock.t -= 3600  # an hour of history, a run a minute, up to now
        for minute in range(60):
            if minute < 30:
                r.beats.ping("vision-loop")
            r.clock.t += 60
            await r.monitor.run_once("vision-loop")
        assert r.store.commit()
        async with client(app_for(r.ctx)) as c:
            detail = await c.get("/api/health/checks/vision-loop")
            missing = await c.get("/api/health/checks/nope")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["name"], body["kind"], body["component"]) == ("vision-loop", "heartbeat", "vision")
    assert body["result"]["state"] == "fail"
    assert body["result"]["output"] == "no ping for 1860s (period 60s)"
    statuses = [p["status"] for p in body["history"]]
    # A ping a minute before each of the first 30 runs (60 s old: pass), then none.
    assert statuses == ["pass"] * 30 + ["fail"] * 30
    assert all(p["time"].endswith("Z") for p in body["history"])
    assert missing.status_code == 404
    assert missing.json() == {"error": "no check named 'nope'", "detail": None}


def test_the_python_client_pings_a_served_agent(tmp_path: Path) -> None:
    with rig(tmp_path, config([BEAT, JOB])) as r, serve(app_for(r.ctx)) as url:
        heartbeat("vision-loop", url=url)
        heartbeat("nightly", url=url, kind="start")
        with pytest.raises(PushError) as refused:
            heartbeat("nope", url=url)
        assert r.beats is not None
        beat, job = r.beats.get("vision-loop"), r.beats.get("nightly")
    assert beat is not None and beat.last_kind == "success"
    assert job is not None and job.started is not None
    assert refused.value.status == 404
    assert str(refused.value) == (
        "edgewatch refused the heartbeat (404): no heartbeat check named 'nope'"
    )
    with pytest.raises(ValueError, match="unknown heartbeat kind"):
        heartbeat("vision-loop", url="http://127.0.0.1:9", kind="finish")
