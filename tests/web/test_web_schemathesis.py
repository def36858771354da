"""A bounded schemathesis run over /openapi.json on loopback: no 500, and every
response matches the schema (status code, content type, body, headers).

Left out: GET /api/stream (an endless Server-Sent Events stream; a generated
request would never finish) and POST /api/push (it writes generated series into
the store; its own tests cover its limits and errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
import schemathesis
from alerts_helpers import evaluate, put_temps, start_alerting
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_helpers import running_app

from edgewatch.alerting.ack_link import AckLinks
from edgewatch.store import Store

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXCLUDED = {("GET", "/api/stream"), ("POST", "/api/push")}


def test_no_server_error_and_no_response_outside_the_schema(tmp_path: Path) -> None:
    failures: list[str] = []
    tested: list[str] = []
    with running_app(tmp_path) as (client, ctx), contextlib.ExitStack() as stack:
        # A real alerting engine with alerts, its stores and the ack links, as the agent
        # sets them (the app reads them per request).
        assert isinstance(ctx.store, Store)
        put_temps(ctx.store, round(time.time() * 1000), {"cpu": 60, "gpu": 45})
        service = start_alerting(ctx, ctx.store, clock=time.time)
        stack.callback(service.close)
        asyncio.run(evaluate(service))
        ctx.ack_links = AckLinks(b"k" * 32, "http://127.0.0.1:8700")
        base = str(client.base_url)
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            label = (operation.method.upper(), operation.path)
            if label in EXCLUDED:
                continue
            tested.append(" ".join(label))
            strategy = st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )

            @settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,  # no timed assertion; every request has a 30 s timeout
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=base, timeout=30)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Exception as exc:  # collect every operation's failure, then report
                failures.append(f"{' '.join(label)}: {exc}")
    assert "GET /api/v1/query_range" in tested
    assert "POST /api/v1/query_range" in tested
    assert "GET /api/system" in tested
    assert "GET /api/alerts" in tested and "GET /api/notifications" in tested
    assert not failures, "\n\n".join(failures)
