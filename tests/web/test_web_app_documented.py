"""Every endpoint of the read API is documented in docs/api.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from edgewatch.web import api_checks, api_export, api_health, api_prom, api_system

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _routes() -> list[tuple[str, str]]:
    out = []
    for module in (api_health, api_checks, api_prom, api_system, api_export):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods):
                out.append((method, route.path))
    return out


@pytest.mark.parametrize(("method", "path"), _routes())
def test_endpoint_is_in_docs_api_md(method: str, path: str) -> None:
    headings = [line for line in DOC.read_text().splitlines() if line.startswith("### ")]
    documented = [h for h in headings if f" {path}" in h]
    assert documented, f"{path} has no section in docs/api.md"
    assert any(method in h for h in documented), f"{method} {path} not in {documented}"


def test_the_sections_of_other_parts_point_to_their_docs() -> None:
    text = DOC.read_text()
    for line in ("`GET /api/stream`", "`GET /metrics`", "`POST /api/push`", "Authentication"):
        assert line in text
