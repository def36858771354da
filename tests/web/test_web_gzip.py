"""Large responses are gzip-compressed for clients that accept it; small ones and the
live stream are not."""

from __future__ import annotations

from pathlib import Path

from web_helpers import running_app


def test_large_responses_are_compressed_and_the_stream_is_not(tmp_path: Path) -> None:
    with running_app(tmp_path) as (client, _):
        big = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert big.status_code == 200
        assert big.headers["content-encoding"] == "gzip"
        assert int(big.headers["content-length"]) < len(big.content)  # decoded is larger
        assert big.json()["info"]["title"] == "edgewatch"

        plain = client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers

        small = client.get("/livez", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in small.headers

        headers = {"Accept-Encoding": "gzip", "Accept": "text/event-stream"}
        with client.stream("GET", "/api/stream", headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.headers
