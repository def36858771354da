"""The Prometheus-compatible API under uvicorn, over a real store of known samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import COUNTER, END_S, GAUGE, T0_S, running_app

from edgewatch.config import Config


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with running_app(tmp_path) as (client, _):
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "data"}
    assert body["status"] == "success"
    return body["data"]


def _error(response: httpx.Response, status: int = 400, error_type: str = "bad_data") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "errorType", "error"}
    assert body["status"] == "error"
    assert body["errorType"] == error_type
    message: str = body["error"]
    return message


# ------------------------------------------------------------------ queries


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_instant_query_returns_a_vector(client: httpx.Client, method: str) -> None:
    params = {"query": f'{COUNTER}{{code="200"}}', "time": str(END_S)}
    if method == "GET":
        response = client.get("/api/v1/query", params=params)
    else:
        response = client.post("/api/v1/query", data=params)
    data = _ok(response)
    assert data == {
        "resultType": "vector",
        "result": [{"metric": {"__name__": COUNTER, "code": "200"}, "value": [END_S, "3600"]}],
    }


def test_instant_query_takes_rfc3339_time_and_answers_scalars(client: httpx.Client) -> None:
    data = _ok(
        client.get("/api/v1/query", params={"query": "1 + 1", "time": "2023-11-14T22:13:20Z"})
    )
    assert data == {"resultType": "scalar", "result": [T0_S, "2"]}


def test_instant_query_defaults_time_to_now(client: httpx.Client) -> None:
    data = _ok(client.get("/api/v1/query", params={"query": "time()"}))
    assert data["resultType"] == "scalar"
    stamp, value = data["result"]
    assert stamp > END_S  # now, not the data's time
    assert float(value) == pytest.approx(stamp)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_range_query_returns_a_matrix(client: httpx.Client, method: str) -> None:
    params = {
        "query": f"rate({COUNTER}[1m])",
        "start": str(T0_S + 60),
        "end": str(T0_S + 180),
        "step": "1m",
    }
    if method == "GET":
        response = client.get("/api/v1/query_range", params=params)
    else:
        response = client.post("/api/v1/query_range", data=params)
    data = _ok(response)
    assert data["resultType"] == "matrix"
    by_code = {s["metric"]["code"]: s["values"] for s in data["result"]}
    assert by_code == {
        "200": [[T0_S + 60, "1"], [T0_S + 120, "1"], [T0_S + 180, "1"]],
        "500": [[T0_S + 60, "0.1"], [T0_S + 120, "0.1"], [T0_S + 180, "0.1"]],
    }
    assert all("__name__" not in s["metric"] for s in data["result"])


def test_post_reads_parameters_missing_from_the_body_in_the_query_string(
    client: httpx.Client,
) -> None:
    response = client.post(
        "/api/v1/query_range",
        params={"step": "15"},
        data={"query": f'{GAUGE}{{room="hall"}}', "start": str(T0_S), "end": str(T0_S + 30)},
    )
    (series,) = _ok(response)["result"]
    assert series["values"] == [[T0_S, "20"], [T0_S + 15, "21"], [T0_S + 30, "22"]]


# ------------------------------------------------------------ query errors


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": "sum(", "time": str(T0_S)}, "unclosed left parenthesis"),
        (
            {"query": "up", "time": "yesterday"},
            'invalid parameter "time": cannot parse "yesterday"',
        ),
        ({"query": "up", "time": "nan"}, 'invalid parameter "time"'),
        ({"query": "up", "timeout": "soon"}, 'invalid parameter "timeout"'),
        ({"time": str(T0_S)}, 'invalid parameter "query"'),
        ({"query": "  "}, 'invalid parameter "query"'),
    ],
)
def test_bad_instant_queries_are_400_bad_data(
    client: httpx.Client, params: dict[str, str], message: str
) -> None:
    assert message in _error(client.get("/api/v1/query", params=params))
    assert message in _error(client.post("/api/v1/query", data=params))


RANGE = {"query": GAUGE, "start": str(T0_S), "end": str(END_S), "step": "15"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": "2023-13-45T00:00:00Z"}, 'invalid parameter "start": cannot parse'),
        ({"end": "later"}, 'invalid parameter "end": cannot parse "later"'),
        ({"step": "fast"}, 'invalid parameter "step": cannot parse "fast" to a valid duration'),
        ({"step": "0"}, "zero or negative query resolution step widths are not accepted"),
        ({"step": "-15"}, "zero or negative query resolution step widths are not accepted"),
        ({"end": str(T0_S - 1)}, "end timestamp must not be before start time"),
        (
            {"step": "0.1"},
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
        ),
        ({"query": "rate(" + GAUGE + ")"}, "expected type matrix"),
        ({"query": "nosuchfunction(x)"}, "nosuchfunction"),
    ],
)
def test_bad_range_queries_are_400_bad_data(
    client: httpx.Client, changes: dict[str, str], message: str
) -> None:
    params = {**RANGE, **changes}
    assert message in _error(client.get("/api/v1/query_range", params=params))
    assert message in _error(client.post("/api/v1/query_range", data=params))


def test_missing_range_parameters_are_400_naming_the_parameter(client: httpx.Client) -> None:
    for missing in ("start", "end", "step"):
        params = {k: v for k, v in RANGE.items() if k != missing}
        message = _error(client.get("/api/v1/query_range", params=params))
        assert f'invalid parameter "{missing}"' in message
        message = _error(client.post("/api/v1/query_range", data=params))
        assert f'invalid parameter "{missing}"' in message


def test_max_points_follows_the_config(tmp_path: Path) -> None:
    config = Config.model_validate({"query": {"max_points": 100}})
    with running_app(tmp_path, config=config) as (client, _):
        ok = {**RANGE, "end": str(T0_S + 99 * 15)}  # 100 points
        assert len(_ok(client.get("/api/v1/query_range", params=ok))["result"][0]["values"]) == 100
        over = {**RANGE, "end": str(T0_S + 100 * 15)}
        message = _error(client.get("/api/v1/query_range", params=over))
        assert "exceeded maximum resolution of 100 points per timeseries" in message


# --------------------------------------------------------- series and labels


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_series_lists_the_matching_label_sets(client: httpx.Client, method: str) -> None:
    params = {"match[]": [f'{GAUGE}{{room="hall"}}', COUNTER], "start": str(T0_S)}
    if method == "GET":
        response = client.get("/api/v1/series", params=params)
    else:
        response = client.post("/api/v1/series", data=params)
    assert _ok(response) == [
        {"__name__": COUNTER, "code": "200"},
        {"__name__": COUNTER, "code": "500"},
        {"__name__": GAUGE, "room": "hall"},
    ]


def test_series_needs_a_valid_match(client: httpx.Client) -> None:
    assert _error(client.get("/api/v1/series")) == "no match[] parameter provided"
    message = _error(client.get("/api/v1/series", params={"match[]": "{room="}))
    assert message.startswith('invalid parameter "match[]"')
    message = _error(client.get("/api/v1/series", params={"match[]": GAUGE, "start": "x"}))
    assert message.startswith('invalid parameter "start"')
    message = _error(
        client.get("/api/v1/series", params={"match[]": GAUGE, "start": "10", "end": "5"})
    )
    assert "end timestamp must not be before start time" in message


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_labels_lists_label_names(client: httpx.Client, method: str) -> None:
    call = client.get if method == "GET" else client.post
    assert _ok(call("/api/v1/labels")) == ["__name__", "code", "room"]
    if method == "GET":
        filtered = client.get("/api/v1/labels", params={"match[]": GAUGE})
    else:
        filtered = client.post("/api/v1/labels", data={"match[]": GAUGE})
    assert _ok(filtered) == ["__name__", "room"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_label_values(client: httpx.Client, method: str) -> None:
    call = client.get if method == "GET" else client.post
    assert _ok(call("/api/v1/label/room/values")) == ["hall", "kitchen"]
    assert _ok(call("/api/v1/label/__name__/values")) == [COUNTER, GAUGE]
    assert _ok(call("/api/v1/label/nosuchlabel/values")) == []
    message = _error(call("/api/v1/label/1bad/values"))
    assert message == 'invalid label name: "1bad"'


def test_label_values_filtered_by_match(client: httpx.Client) -> None:
    response = client.get(
        "/api/v1/label/code/values", params={"match[]": f"{COUNTER}{{code=~'5.*'}}"}
    )
    assert _ok(response) == ["500"]


# ------------------------------------------------------ metadata, buildinfo


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_metadata_describes_the_families(client: httpx.Client, method: str) -> None:
    call = client.get if method == "GET" else client.post
    assert _ok(call("/api/v1/metadata")) == {
        COUNTER: [{"type": "counter", "help": "A test counter.", "unit": ""}],
        GAUGE: [{"type": "gauge", "help": "A test gauge.", "unit": ""}],
    }
    assert list(_ok(client.get("/api/v1/metadata", params={"metric": GAUGE}))) == [GAUGE]
    assert len(_ok(client.get("/api/v1/metadata", params={"limit": "1"}))) == 1
    assert _ok(client.get("/api/v1/metadata", params={"metric": "nope"})) == {}
    assert 'invalid parameter "limit"' in _error(
        client.get("/api/v1/metadata", params={"limit": "many"})
    )


def test_buildinfo(client: httpx.Client) -> None:
    data = _ok(client.get("/api/v1/status/buildinfo"))
    assert data["application"] == "edgewatch"
    major, minor, _ = data["version"].split(".")
    assert (int(major), int(minor)) >= (2, 24)  # Grafana turns on match[] for /labels


def test_unknown_api_v1_path_is_a_prometheus_404(client: httpx.Client) -> None:
    message = _error(client.get("/api/v1/nope"), status=404, error_type="not_found")
    assert message == "Not Found"


def test_a_query_that_cannot_be_executed_is_422_execution(client: httpx.Client) -> None:
    params = {"query": f"{GAUGE} + on() {COUNTER}", "time": str(END_S)}
    message = _error(client.get("/api/v1/query", params=params), 422, "execution")
    assert "many-to-many matching not allowed" in message


def test_a_query_past_its_time_budget_is_503_timeout(tmp_path: Path) -> None:
    config = Config.model_validate({"query": {"timeout": 1e-9}})
    with running_app(tmp_path, config=config) as (client, _):
        params = {**RANGE, "query": f"rate({COUNTER}[5m])"}
        message = _error(client.get("/api/v1/query_range", params=params), 503, "timeout")
        assert "timed out" in message
