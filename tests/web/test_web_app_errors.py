"""One JSON error shape outside /api/v1, Prometheus' inside it; never an HTML page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from web_helpers import make_context, open_store, serve

from edgewatch.store import Store
from edgewatch.web.app import create_app


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path)
    yield store
    store.close()


@pytest.fixture
def app(store: Store, tmp_path: Path) -> FastAPI:
    app = create_app(make_context(store, tmp_path))

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail that must not leak")

    @app.get("/api/v1/test/boom")
    async def prom_boom() -> None:
        raise RuntimeError("secret detail that must not leak")

    @app.get("/test/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"X-Kind": "teapot"})

    @app.get("/test/structured")
    async def structured() -> None:
        raise HTTPException(409, {"conflict": "yes"})

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[httpx.Client]:
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _generic(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    assert set(body) == {"error", "detail"}
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_the_error_shape_outside_api_v1_is_error_and_detail(client: httpx.Client) -> None:
    assert _generic(client.get("/no/such/page"), 404) == {"error": "Not Found", "detail": None}
    assert _generic(client.post("/livez"), 405)["error"] == "Method Not Allowed"
    teapot = client.get("/test/teapot")
    assert _generic(teapot, 418) == {"error": "short and stout", "detail": None}
    assert teapot.headers["x-kind"] == "teapot"
    assert _generic(client.get("/test/structured"), 409) == {
        "error": "HTTP 409",
        "detail": {"conflict": "yes"},
    }


def test_validation_errors_outside_api_v1_are_422_listing_each_parameter(
    client: httpx.Client,
) -> None:
    body = _generic(client.get("/api/processes", params={"limit": "lots"}), 422)
    assert body["error"].startswith('invalid parameter "limit"')  # type: ignore[union-attr]
    assert body["detail"] == [
        {"loc": ["query", "limit"], "msg": "Input should be a valid integer, unable to parse "
         "string as an integer", "type": "int_parsing"}
    ]  # fmt: skip


def test_validation_errors_on_api_v1_are_400_bad_data(client: httpx.Client) -> None:
    response = client.get("/api/v1/query_range", params={"query": "up"})
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "errorType": "bad_data",
        "error": 'invalid parameter "start": Field required',
    }


def test_unexpected_errors_are_json_500_without_the_exception_text(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    body = _generic(client.get("/test/boom"), 500)
    assert body == {"error": "internal error: RuntimeError", "detail": None}
    response = client.get("/api/v1/test/boom")
    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "errorType": "internal",
        "error": "internal error: RuntimeError",
    }
    assert "secret detail" not in response.text
    # Logged once per failure, with the request it answered.
    logged = [r for r in caplog.records if "unexpected error answering" in r.getMessage()]
    assert [r.getMessage().split(":")[0] for r in logged] == [
        "unexpected error answering GET /test/boom",
        "unexpected error answering GET /api/v1/test/boom",
    ]


def test_query_errors_outside_api_v1_carry_the_error_type(client: httpx.Client) -> None:
    params = {"query": "sum(", "start": "0", "end": "60", "step": "15"}
    body = _generic(client.get("/api/export", params=params), 400)
    assert body["detail"] == {"errorType": "bad_data"}
    assert "unclosed left parenthesis" in str(body["error"])


def test_openapi_documents_the_error_shapes(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "edgewatch"
    query = spec["paths"]["/api/v1/query"]["get"]["responses"]
    assert query["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/PromErrorBody")
    system = spec["paths"]["/api/processes"]["get"]["responses"]
    assert system["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
