"""The PromQL-subset query engine shared by the API, the dashboard, rules and the CLI.

    engine = Engine(reader, config.query)
    engine.instant('sum by (mode) (rate(node_cpu_seconds_total[5m]))', time_ms)
    engine.range('avg_over_time(system_load1[10m])', start_ms, end_ms, step_ms)

Both return a ``QueryResult``; ``to_prometheus()`` gives the ``data`` member of
Prometheus' HTTP API response. Errors are ``QueryError`` subclasses carrying
the API's error type and HTTP status. See docs/query.md.
"""

from edgewatch.query.engine import Engine
from edgewatch.query.errors import BadQuery, QueryError, QueryExecutionError, QueryTimeout
from edgewatch.query.parse import parse_series_selector
from edgewatch.query.result import QueryResult, ResultSeries, format_value

__all__ = [
    "BadQuery",
    "Engine",
    "QueryError",
    "QueryExecutionError",
    "QueryResult",
    "QueryTimeout",
    "ResultSeries",
    "format_value",
    "parse_series_selector",
]
