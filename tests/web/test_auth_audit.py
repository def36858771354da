"""The audit log stays bounded: no rows for 401s (logged, rate-limited per client),
and only the newest MAX_ROWS rows are kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from auth_helpers import bearer, build_app, client, config, open_ctx

from edgewatch.web.audit import MAX_ROWS, PRUNE_EVERY, AuditLog, AuditRow, RefusalLog, read_audit

pytestmark = pytest.mark.anyio


def _write(log: AuditLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.write(AuditRow(f"a{i}", "token", "admin", "POST", "/x", 200))


def test_retention_keeps_the_newest_rows_pruning_every_n_inserts(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        log = AuditLog(ctx.reader.path, max_rows=5, prune_every=3)
        _write(log, 20)
        rows = read_audit(ctx.reader.path, limit=100)
    # Pruned after inserts 1, 4, ..., 19: the 19th keeps ids 15..19, then the 20th came.
    assert [r.actor for r in rows] == [f"a{i}" for i in range(19, 13, -1)]
    assert (MAX_ROWS, PRUNE_EVERY) == (100_000, 1000)


def test_a_restarted_log_prunes_at_its_first_insert(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        _write(AuditLog(ctx.reader.path, max_rows=1000), 10)
        _write(AuditLog(ctx.reader.path, max_rows=3), 1, start=10)
        rows = read_audit(ctx.reader.path, limit=100)
    assert [r.actor for r in rows] == ["a10", "a9", "a8"]


def test_refusal_log_writes_one_line_per_client_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    logger = logging.getLogger("test.refusals")
    refusals = RefusalLog(logger, window_s=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.refusals"):
        for _ in range(50):
            refusals.refused("10.0.0.1", "GET", "/api/system", 401, "authentication required")
        refusals.refused("10.0.0.2", "GET", "/api/system", 401, "invalid token")
        now[0] += 10.0
        refusals.refused("10.0.0.1", "POST", "/api/push", 401, "invalid token")
        refusals.refused("10.0.0.1", "POST", "/api/push", 401, "invalid token")
    assert [r.getMessage() for r in caplog.records] == [
        "auth: GET /api/system from 10.0.0.1 refused (401): authentication required",
        "auth: GET /api/system from 10.0.0.2 refused (401): invalid token",
        "auth: POST /api/push from 10.0.0.1 refused (401): invalid token"
        " (49 more from this client not logged)",
    ]


def test_refusal_log_forgets_quiet_clients_when_full() -> None:
    now = [0.0]
    refusals = RefusalLog(logging.getLogger("test.refusals"), clock=lambda: now[0], max_clients=3)
    for i in range(3):
        refusals.refused(f"c{i}", "GET", "/", 401, "x")
    now[0] += 60.0
    refusals.refused("c9", "GET", "/", 401, "x")
    assert set(refusals._clients) == {"c9"}


async def test_a_401_flood_leaves_no_audit_row_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            with caplog.at_level(logging.INFO, logger="edgewatch.web.auth"):
                answers = [
                    (await c.post("/api/things", headers=bearer(f"guess-{i:020d}"))).status_code
                    for i in range(30)
                ]
                missing = await c.post("/api/things")
        rows = read_audit(ctx.reader.path)
    assert answers == [401] * 30
    assert missing.status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "edgewatch.web.auth"]
    assert lines == ["auth: POST /api/things from 127.0.0.1 refused (401): invalid token"]
    assert rows == []
    assert "guess-" not in caplog.text, "a presented token is never logged"
