"""/livez and /readyz."""

from __future__ import annotations

from pathlib import Path

from web_helpers import running_app


def test_livez_and_readyz_when_ready(tmp_path: Path) -> None:
    with running_app(tmp_path) as (client, _):
        assert client.get("/livez").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


def test_readyz_is_503_until_ready_while_livez_answers(tmp_path: Path) -> None:
    with running_app(tmp_path, ready=False) as (client, _):
        assert client.get("/livez").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "error": "not ready: the agent is starting or stopping",
            "detail": None,
        }
