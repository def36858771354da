"""/api/export: a range query's result as a CSV or JSON download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web_helpers import COUNTER, GAUGE, T0_S, running_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with running_app(tmp_path) as (client, _):
        yield client


PARAMS = {"query": GAUGE, "start": str(T0_S), "end": str(T0_S + 30), "step": "15s"}


def test_csv_has_one_row_per_point_with_rfc3339_times(client: httpx.Client) -> None:
    response = client.get("/api/export", params=PARAMS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition == (
        'attachment; filename="edgewatch-export-2023-11-14T221320Z_2023-11-14T221350Z.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["timestamp", "series", "value"],
        ["2023-11-14T22:13:20Z", 'test_temperature_celsius{room="hall"}', "20"],
        ["2023-11-14T22:13:35Z", 'test_temperature_celsius{room="hall"}', "21"],
        ["2023-11-14T22:13:50Z", 'test_temperature_celsius{room="hall"}', "22"],
        ["2023-11-14T22:13:20Z", 'test_temperature_celsius{room="kitchen"}', "20.5"],
        ["2023-11-14T22:13:35Z", 'test_temperature_celsius{room="kitchen"}', "21.5"],
        ["2023-11-14T22:13:50Z", 'test_temperature_celsius{room="kitchen"}', "22.5"],
    ]


def test_json_is_the_prometheus_matrix_of_the_same_query(client: httpx.Client) -> None:
    exported = client.get("/api/export", params={**PARAMS, "format": "json"})
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/json"
    assert exported.headers["content-disposition"].endswith('.json"')
    api = client.get("/api/v1/query_range", params=PARAMS)
    assert exported.json() == api.json()
    assert len(exported.json()["data"]["result"]) == 2


def test_an_empty_result_is_a_header_or_an_empty_matrix(client: httpx.Client) -> None:
    params = {**PARAMS, "query": "nothing_here"}
    assert client.get("/api/export", params=params).text == "timestamp,series,value\n"
    body = client.get("/api/export", params={**params, "format": "json"}).json()
    assert body == {"status": "success", "data": {"resultType": "matrix", "result": []}}


def test_expressions_without_a_name_keep_their_labels(client: httpx.Client) -> None:
    params = {**PARAMS, "query": f"sum by (code) (rate({COUNTER}[1m]))", "start": str(T0_S + 60)}
    params["end"] = str(T0_S + 60)
    rows = list(csv.reader(io.StringIO(client.get("/api/export", params=params).text)))
    assert rows[1:] == [
        ["2023-11-14T22:14:20Z", '{code="200"}', "1"],
        ["2023-11-14T22:14:20Z", '{code="500"}', "0.1"],
    ]


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"query": "sum("}, 400, "unclosed left parenthesis"),
        ({"step": "0"}, 400, "zero or negative query resolution step"),
        ({"start": "soon"}, 400, 'invalid parameter "start"'),
        ({"step": "0.001"}, 400, "exceeded maximum resolution"),
        ({"format": "xml"}, 422, 'invalid parameter "format"'),
    ],
)
def test_export_errors_are_json(
    client: httpx.Client, changes: dict[str, str], status: int, message: str
) -> None:
    response = client.get("/api/export", params={**PARAMS, **changes})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert message in body["error"]


OUT_OF_RANGE = [
    ({"start": "1e15", "end": "1e15", "step": "1"}, "start"),
    ({"start": "-1e15", "end": "1", "step": "1"}, "start"),
    ({"start": "-1"}, "start"),
    ({"end": "253402300800"}, "end"),  # 10000-01-01T00:00:00Z
]


@pytest.mark.parametrize(("changes", "name"), OUT_OF_RANGE)
def test_times_datetime_cannot_write_are_refused_not_500(
    client: httpx.Client, changes: dict[str, str], name: str
) -> None:
    params = {**PARAMS, "query": "vector(1)", **changes}
    for fmt in ("csv", "json"):
        response = client.get("/api/export", params={**params, "format": fmt})
        assert response.status_code == 400, response.text
        body = response.json()
        assert set(body) == {"error", "detail"}
        assert f'invalid parameter "{name}"' in body["error"]
        assert "outside the supported time range" in body["error"]
    api = client.get("/api/v1/query_range", params=params)
    assert api.status_code == 400, api.text
    assert api.json()["errorType"] == "bad_data"
    assert f'invalid parameter "{name}"' in api.json()["error"]


@pytest.mark.parametrize(
    "at", ["1e15", "-1e15", "-0.5", "10000-01-01T00:00:00Z", "-1.7976931348623157e+308"]
)
def test_instant_and_series_times_out_of_range_are_400(client: httpx.Client, at: str) -> None:
    query = client.get("/api/v1/query", params={"query": "vector(1)", "time": at})
    series = client.get("/api/v1/series", params={"match[]": "up", "start": at})
    for response in (query, series):
        assert response.status_code == 400, response.text
        assert response.json()["errorType"] == "bad_data"


def test_the_extreme_times_datetime_can_write_still_export(client: httpx.Client) -> None:
    params = {"query": "vector(1)", "start": "0", "end": "0", "step": "1"}
    epoch = client.get("/api/export", params=params)
    last = client.get(
        "/api/export", params={**params, "start": "253402300799.999", "end": "253402300799.999"}
    )
    assert epoch.status_code == 200, epoch.text
    assert epoch.text == "timestamp,series,value\n1970-01-01T00:00:00Z,{},1\n"
    assert last.status_code == 200, last.text
    assert "edgewatch-export-9999-12-31T235959" in last.headers["content-disposition"]
