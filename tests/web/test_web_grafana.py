"""The requests Grafana's Prometheus data source sends (Grafana 10/11, the backend
client: form-encoded POSTs, unix-second times with fractions, step in seconds), and
the response shapes it parses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import COUNTER, END_S, GAUGE, T0_S, running_app

GRAFANA_HEADERS = {
    "User-Agent": "Grafana/11.1.0",
    "Accept": "application/json, text/plain, */*",
    "X-Grafana-Org-Id": "1",
    "X-Dashboard-Uid": "edge",
    "X-Panel-Id": "2",
}


@pytest.fixture
def grafana(tmp_path: Path) -> Iterator[httpx.Client]:
    with running_app(tmp_path) as (client, _):
        client.headers.update(GRAFANA_HEADERS)
        yield client


def _data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "success"
    return body["data"]


def test_health_check_and_buildinfo(grafana: httpx.Client) -> None:
    # "Save & test": an instant query of 1+1, then buildinfo for the version.
    data = _data(grafana.post("/api/v1/query", data={"query": "1+1", "time": f"{END_S}.123"}))
    assert data == {"resultType": "scalar", "result": [END_S + 0.123, "2"]}
    info = _data(grafana.get("/api/v1/status/buildinfo"))
    assert isinstance(info["version"], str) and info["version"].count(".") == 2


def test_time_series_panel_range_query(grafana: httpx.Client) -> None:
    response = grafana.post(
        "/api/v1/query_range",
        data={
            "query": f"sum by (code) (rate({COUNTER}[$__rate_interval]))".replace(
                "$__rate_interval", "1m"
            ),
            "start": f"{T0_S + 60}",
            "end": f"{T0_S + 600}",
            "step": "60",
        },
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    data = _data(response)
    assert data["resultType"] == "matrix"
    assert [s["metric"] for s in data["result"]] == [{"code": "200"}, {"code": "500"}]
    for series in data["result"]:
        assert set(series) == {"metric", "values"}
        stamps = [t for t, _ in series["values"]]
        assert stamps == list(range(T0_S + 60, T0_S + 601, 60))
        for stamp, value in series["values"]:
            assert isinstance(stamp, int | float)
            assert isinstance(value, str)
            float(value)


def test_range_query_with_fractional_times_and_step(grafana: httpx.Client) -> None:
    data = _data(
        grafana.post(
            "/api/v1/query_range",
            data={
                "query": f'{GAUGE}{{room="hall"}}',
                "start": f"{T0_S}.5",
                "end": f"{T0_S + 30}.5",
                "step": "7.5",
            },
        )
    )
    (series,) = data["result"]
    assert [t for t, _ in series["values"]] == [T0_S + 0.5 + 7.5 * i for i in range(5)]


def test_query_builder_metadata_requests(grafana: httpx.Client) -> None:
    window = {"start": str(T0_S), "end": str(END_S)}
    labels = _data(grafana.get("/api/v1/labels", params=window))
    assert labels == ["__name__", "code", "room"]
    names = _data(grafana.get("/api/v1/label/__name__/values", params=window))
    assert names == [COUNTER, GAUGE]
    series = _data(grafana.get("/api/v1/series", params={"match[]": GAUGE, **window}))
    assert series == [
        {"__name__": GAUGE, "room": "hall"},
        {"__name__": GAUGE, "room": "kitchen"},
    ]
    values = _data(grafana.get("/api/v1/label/room/values", params={"match[]": GAUGE, **window}))
    assert values == ["hall", "kitchen"]
    metadata = _data(grafana.get("/api/v1/metadata"))
    assert metadata[GAUGE] == [{"type": "gauge", "help": "A test gauge.", "unit": ""}]


def test_table_panel_instant_query(grafana: httpx.Client) -> None:
    data = _data(grafana.post("/api/v1/query", data={"query": f"max({GAUGE})", "time": str(END_S)}))
    assert data["resultType"] == "vector"
    (sample,) = data["result"]
    assert sample == {"metric": {}, "value": [END_S, "20.5"]}


def test_a_bad_query_gives_grafana_the_prometheus_error(grafana: httpx.Client) -> None:
    response = grafana.post(
        "/api/v1/query_range",
        data={"query": f"rate({GAUGE}", "start": str(T0_S), "end": str(END_S), "step": "15"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["errorType"] == "bad_data"
    assert body["error"]
