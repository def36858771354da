"""Placeholder: the lead is writing the evaluator."""

from __future__ import annotations

from edgewatch.config import QueryConfig
from edgewatch.query.result import QueryResult
from edgewatch.store.reader import Reader
from edgewatch.store.selector import Selector, parse_selector


class Engine:
    def __init__(self, reader: Reader, limits: QueryConfig | None = None) -> None:
        self.reader = reader
        self.limits = limits or QueryConfig()

    def instant(self, expr: str, time_ms: int) -> QueryResult:
        raise NotImplementedError

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise NotImplementedError


def parse_series_selector(text: str) -> Selector:
    return parse_selector(text)
