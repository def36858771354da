"""Scrape local Prometheus endpoints (a vision app's ``/metrics``) into the store.

Each target is scraped on its own interval; the collector ticks on the
greatest common divisor of the intervals and scrapes, on each tick, the targets
that entered a new slot of their interval grid (several at once in threads, so
a slow one does not delay the others). Samples keep their exposed names
(``_total``, ``_bucket{le}``, ``_sum``, ``_count``), lose ``_created``
timestamps, and get ``job`` and ``instance`` labels; each scrape also reports
``up``, ``scrape_duration_seconds`` and the sample counts, as Prometheus does.

Guards: names of built-in edgewatch metrics are refused (the rule of
``POST /api/push``), and so are new series beyond ``max_series`` per target;
both are counted and logged once. An answer over ``body_size_limit`` bytes or
with more than ``sample_limit`` samples fails the scrape (up=0) as soon as the
limit is passed. A target that fails is logged when it goes
down and when it comes back, not on every interval.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from edgewatch.collect.base import COUNTER, GAUGE, OnceLogger, family
from edgewatch.collect.push import make_key
from edgewatch.collect.registry import BUILTIN_COLLECTORS, load_collector_class
from edgewatch.collect.scrape_fetch import (
    BODY_SIZE_LIMIT,
    SAMPLE_LIMIT,
    Scraped,
    ScrapeFailure,
    display_url,
    fetch,
    instance_of,
    no_proxy_opener,
    parse,
)
from edgewatch.model import MetricFamily, Sample, SeriesKey

if TYPE_CHECKING:
    from edgewatch.config.secret import Secret

log = logging.getLogger(__name__)

_T = ("job", "instance")
UP = family("up", GAUGE, "1 when the last scrape of the target succeeded, else 0.", *_T)
DURATION = family("scrape_duration_seconds", GAUGE, "Wall time of the last scrape.", *_T)
SCRAPED = family(
    "scrape_samples_scraped", GAUGE, "Samples the target exposed in the last scrape.", *_T
)
KEPT = family(
    "scrape_samples_post_metric_relabeling",
    GAUGE,
    "Samples left after the target's keep/drop filters.",
    *_T,
)
FAILURES = family(
    "edgewatch_scrape_failures_total",
    COUNTER,
    "Failed scrapes by reason: unreachable, timeout, http_status, too_large, sample_limit, "
    "malformed.",
    *_T,
    "reason",
)
REFUSED = family(
    "edgewatch_scrape_samples_refused_total",
    COUNTER,
    "Samples refused: series_limit (a new series beyond max_series), builtin_name "
    "(the name of a built-in edgewatch metric).",
    *_T,
    "reason",
)
FAMILIES = (UP, DURATION, SCRAPED, KEPT, FAILURES, REFUSED)
REFUSALS = ("series_limit", "builtin_name")


class BasicAuthSpec(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> Secret: ...


class TargetSpec(Protocol):
    """One target as the config gives it (``edgewatch.config.scrape.ScrapeTarget``)."""

    @property
    def job(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def interval(self) -> float | None: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def honor_labels(self) -> bool: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def keep(self) -> tuple[str, ...]: ...
    @property
    def drop(self) -> tuple[str, ...]: ...
    @property
    def max_series(self) -> int | None: ...
    @property
    def body_size_limit(self) -> int | None: ...
    @property
    def sample_limit(self) -> int | None: ...
    @property
    def basic_auth(self) -> BasicAuthSpec | None: ...
    @property
    def bearer_token(self) -> Secret | None: ...


def builtin_metric_names() -> frozenset[str]:
    """Names of every built-in metric: those of the other collectors, edgewatch's own, ours."""
    from edgewatch.selfmon import FAMILIES as SELF_FAMILIES

    names = {f.name for f in (*FAMILIES, *SELF_FAMILIES)}
    for kind in BUILTIN_COLLECTORS:
        if kind == ScrapeCollector.name:
            continue
        try:
            names.update(f.name for f in load_collector_class(kind)(interval=1.0).families())
        except Exception as exc:  # a collector that cannot say must not stop the scrapes
            log.warning("scrape: cannot list the metrics of collector %s: %s", kind, exc)
    return frozenset(names)


class Target:
    """One target's settings, resolved, and what the scrapes remember of it."""

    def __init__(
        self,
        spec: TargetSpec,
        *,
        interval: float,
        timeout: float,
        max_series: int,
        body_size_limit: int,
        sample_limit: int,
    ) -> None:
        self.job = spec.job
        self.url = spec.url
        self.shown = f"{spec.job} ({display_url(spec.url)})"
        self.interval_ms = max(1, round((spec.interval or interval) * 1000))
        self.timeout = min(spec.timeout or timeout, self.interval_ms / 1000)
        self.max_series = spec.max_series or max_series
        self.body_size_limit = spec.body_size_limit or body_size_limit
        self.sample_limit = spec.sample_limit or sample_limit
        self.authorization = authorization(spec)
        self.honor_labels = spec.honor_labels
        self.keep = [re.compile(p) for p in spec.keep]
        self.drop = [re.compile(p) for p in spec.drop]
        # Labels of every series: ours first, so that a static label cannot hide them.
        self.labels = {"job": spec.job, "instance": instance_of(spec.url), **spec.labels}
        self.last_slot: int | None = None
        self.up: bool | None = None
        self.admitted: set[SeriesKey] = set()
        self.keys: dict[tuple[str, tuple[tuple[str, str], ...]], SeriesKey] = {}
        self.failures: dict[str, int] = {}
        self.refused = dict.fromkeys(REFUSALS, 0)
        self.limit_logged = False
        self.once = OnceLogger(log)
        self.own = {
            f.name: SeriesKey.of(f.name, self.labels) for f in (UP, DURATION, SCRAPED, KEPT)
        }

    def __repr__(self) -> str:  # never the credentials
        return f"Target({self.shown})"

    def wanted(self, name: str) -> bool:
        if self.keep and not any(p.fullmatch(name) for p in self.keep):
            return False
        return not any(p.fullmatch(name) for p in self.drop)


class ScrapeCollector:
    name = "scrape"

    def __init__(
        self,
        *,
        interval: float = 15.0,
        timeout: float = 10.0,
        max_series: int = 2000,
        body_size_limit: int = BODY_SIZE_LIMIT,
        sample_limit: int = SAMPLE_LIMIT,
        targets: Sequence[TargetSpec] = (),
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        reserved: Collection[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        limits = {
            "max_series": max_series,
            "body_size_limit": body_size_limit,
            "sample_limit": sample_limit,
        }
        self._targets = [Target(t, interval=interval, timeout=timeout, **limits) for t in targets]
        self.interval = tick_seconds([t.interval_ms for t in self._targets]) or interval
        self._reserved = None if reserved is None else frozenset(reserved)
        self._clock = clock
        self._opener = no_proxy_opener()

    def available(self) -> str | None:
        if not self._targets:
            return "no scrape targets configured (collectors.scrape.targets)"
        try:
            from prometheus_client import parser  # noqa: F401 -- loaded here, off the loop
        except ImportError as exc:
            return f"prometheus-client is not installed: {exc}"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> list[Sample]:
        if self._reserved is None:
            self._reserved = builtin_metric_names()
        now_ms = math.floor(self._clock() * 1000)
        due = []
        for target in self._targets:
            slot = now_ms // target.interval_ms
            if slot != target.last_slot:
                target.last_slot = slot
                due.append(target)
        if len(due) <= 1:
            return [s for t in due for s in self._scrape(t)]
        results: list[list[Sample]] = [[] for _ in due]

        def run(i: int, target: Target) -> None:
            results[i] = self._scrape(target)

        threads = [
            threading.Thread(target=run, args=(i, t), name=f"scrape-{t.job}", daemon=True)
            for i, t in enumerate(due)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [s for r in results for s in r]

    def _scrape(self, target: Target) -> list[Sample]:
        """The samples of one scrape of ``target``, its up/duration/count series included."""
        start = time.monotonic()
        scraped: list[Scraped] = []
        kept: dict[SeriesKey, float] = {}
        wanted = 0
        try:
            body, content_type = fetch(
                target.url,
                timeout=target.timeout,
                max_body=target.body_size_limit,
                opener=self._opener,
                authorization=target.authorization,
            )
            scraped = parse(body, content_type, sample_limit=target.sample_limit)
            del body
            wanted, kept = self._accept(target, scraped)
        except ScrapeFailure as exc:
            self._failed(target, exc)
        else:
            if target.up is False:
                log.info("scrape %s is up again", target.shown)
            target.up = True
        duration = time.monotonic() - start
        own = target.own
        out = [Sample(k, v) for k, v in kept.items()]
        out.append(Sample(own[UP.name], 1.0 if target.up else 0.0))
        out.append(Sample(own[DURATION.name], round(duration, 6)))
        out.append(Sample(own[SCRAPED.name], float(len(scraped))))
        out.append(Sample(own[KEPT.name], float(wanted)))
        for reason, count in target.failures.items():
            key = SeriesKey.of(FAILURES.name, target.labels, reason=reason)
            out.append(Sample(key, float(count)))
        for reason, count in target.refused.items():
            out.append(
                Sample(SeriesKey.of(REFUSED.name, target.labels, reason=reason), float(count))
            )
        return out

    def _failed(self, target: Target, exc: ScrapeFailure) -> None:
        target.failures[exc.reason] = target.failures.get(exc.reason, 0) + 1
        if target.up is not False:
            log.warning(
                "scrape %s is down: %s (%s); up=0 until it answers again",
                target.shown,
                exc,
                exc.reason,
            )
        target.up = False

    def _accept(self, target: Target, scraped: list[Scraped]) -> tuple[int, dict[SeriesKey, float]]:
        """How many samples the filters keep, and those samples as series, labelled and
        checked against the guards. A bad name or label is a malformed exposition
        (ScrapeFailure)."""
        reserved = self._reserved or frozenset()
        out: dict[SeriesKey, float] = {}
        wanted = 0
        for s in scraped:
            if not target.wanted(s.name):
                continue
            wanted += 1
            if s.name in reserved:
                target.refused["builtin_name"] += 1
                target.once.warning(
                    f"scrape {target.shown}: {s.name!r} is a built-in edgewatch metric; "
                    "its samples are refused (rename it in the application)"
                )
                continue
            key = self._key(target, s)
            if key not in target.admitted:
                if len(target.admitted) >= target.max_series:
                    target.refused["series_limit"] += 1
                    if not target.limit_logged:
                        target.limit_logged = True
                        log.warning(
                            "scrape %s: more than %d series (max_series); new series are "
                            "refused from now on, the first was %s",
                            target.shown,
                            target.max_series,
                            key,
                        )
                    continue
                target.admitted.add(key)
            out[key] = s.value
        return wanted, out

    def _key(self, target: Target, s: Scraped) -> SeriesKey:
        cache_key = (s.name, tuple(s.labels.items()))
        key = target.keys.get(cache_key)
        if key is not None:
            return key
        labels = dict(s.labels)
        for name, value in target.labels.items():
            if name in labels:
                if target.honor_labels:
                    continue
                labels[f"exported_{name}"] = labels[name]
            labels[name] = value
        try:
            key = make_key(s.name, labels)
        except ValueError as exc:
            raise ScrapeFailure("malformed", str(exc)) from None
        if len(target.keys) >= 2 * target.max_series:
            target.keys.clear()
        target.keys[cache_key] = key
        return key


def authorization(spec: TargetSpec) -> str | None:
    """The Authorization header's value for a target's credentials; None without."""
    if spec.bearer_token is not None:
        return f"Bearer {spec.bearer_token.get_secret_value()}"
    if spec.basic_auth is not None:
        pair = f"{spec.basic_auth.username}:{spec.basic_auth.password.get_secret_value()}"
        return f"Basic {base64.b64encode(pair.encode()).decode('ascii')}"
    return None


def tick_seconds(intervals_ms: Sequence[int]) -> float | None:
    """The collector's interval: the intervals' greatest common divisor, at least 1 s
    (or the shortest interval, when shorter); None without intervals."""
    if not intervals_ms:
        return None
    gcd = math.gcd(*intervals_ms)
    return max(gcd, min(1000, *intervals_ms)) / 1000
