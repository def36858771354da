"""Query errors, each with the Prometheus API error type and HTTP status it maps to."""

from __future__ import annotations


class QueryError(Exception):
    """A query that cannot be answered; ``error_type`` and ``status`` follow Prometheus'
    HTTP API (``bad_data`` 400, ``execution`` 422, ``timeout`` 503)."""

    error_type = "bad_data"
    status = 400


class BadQuery(QueryError):
    """Malformed expression, unknown function, bad time, step or range."""


class QueryExecutionError(QueryError):
    """Well-formed, but cannot be evaluated (many-to-many matching, too many samples)."""

    error_type = "execution"
    status = 422


class QueryTimeout(QueryError):
    error_type = "timeout"
    status = 503
