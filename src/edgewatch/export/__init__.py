"""Exporting data to the engines fleets already run: Prometheus exposition (``/metrics``)."""

from edgewatch.export.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    FamilyMeta,
    render,
    render_openmetrics,
    render_text,
    wants_openmetrics,
)

__all__ = [
    "OPENMETRICS_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "FamilyMeta",
    "render",
    "render_openmetrics",
    "render_text",
    "wants_openmetrics",
]
