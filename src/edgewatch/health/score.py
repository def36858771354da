"""Components, dependencies and the health score, with an explanation.

Per check: pass 100, warn 50, fail 0; unknown is left out. A component scores
the mean of its checks, and is *blocked* (left out of the overall score, its
own failures not counted against it) while a component it depends on fails.
The overall score is the weighted mean of the components' scores, capped at
25 while a ``critical`` check fails. The explanation lists, per check, the
points of the overall score it costs.

The health monitor stores the scores as series each time a check reports
(``summary_samples``): ``edgewatch_health_score`` and
``edgewatch_component_health_score{component}``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from edgewatch.config.health import HealthConfig
from edgewatch.health.model import CheckResult, Status, worst
from edgewatch.model import MetricFamily, MetricType, Sample, SeriesKey

POINTS = {Status.PASS: 100.0, Status.WARN: 50.0, Status.FAIL: 0.0}
CRITICAL_CAP = 25.0
SCORE_METRIC = "edgewatch_health_score"
COMPONENT_SCORE_METRIC = "edgewatch_component_health_score"

FAMILIES: tuple[MetricFamily, ...] = (
    MetricFamily(
        SCORE_METRIC,
        MetricType.GAUGE,
        "The overall health score, 0 to 100: the components' weighted mean, capped at 25 "
        "while a critical check fails.",
    ),
    MetricFamily(
        COMPONENT_SCORE_METRIC,
        MetricType.GAUGE,
        "A component's health score, 0 to 100: the mean of its checks.",
        ("component",),
    ),
)


@dataclass(frozen=True)
class Loss:
    check: str
    component: str
    status: Status
    points: float  # of the overall score


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    status: Status
    score: float | None  # None: nothing known, or blocked
    weight: float
    checks: tuple[str, ...]
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthSummary:
    status: Status
    score: float | None
    components: dict[str, ComponentHealth]
    losses: list[Loss] = field(default_factory=list)
    capped_by: tuple[str, ...] = ()  # critical checks failing


def summarise(config: HealthConfig, results: dict[str, CheckResult]) -> HealthSummary:
    by_component: dict[str, list[CheckResult]] = defaultdict(list)
    for result in results.values():
        by_component[result.component].append(result)
    for name in config.components:
        by_component.setdefault(name, [])
    own_status = {
        name: worst([r.status for r in members]) for name, members in by_component.items()
    }
    components: dict[str, ComponentHealth] = {}
    for name, members in sorted(by_component.items()):
        settings = config.components.get(name)
        weight = settings.weight if settings else 1.0
        deps = settings.depends_on if settings else ()
        blocked_by = tuple(d for d in deps if _fails(d, own_status, config))
        known = [POINTS[r.status] for r in members if r.status in POINTS]
        score = None if blocked_by or not known else sum(known) / len(known)
        components[name] = ComponentHealth(
            name=name,
            status=own_status[name],
            score=score,
            weight=weight,
            checks=tuple(sorted(r.name for r in members)),
            blocked_by=blocked_by,
        )
    scored = [c for c in components.values() if c.score is not None]
    total_weight = sum(c.weight for c in scored)
    overall = (
        sum(c.weight * (c.score or 0.0) for c in scored) / total_weight if total_weight else None
    )
    losses = _losses(components, by_component, total_weight)
    capped_by = tuple(
        sorted(r.name for r in results.values() if r.critical and r.status is Status.FAIL)
    )
    if capped_by and overall is not None:
        overall = min(overall, CRITICAL_CAP)
    unblocked = [c.status for c in components.values() if not c.blocked_by]
    return HealthSummary(
        status=worst(unblocked),
        score=None if overall is None else round(overall, 1),
        components=components,
        losses=losses,
        capped_by=capped_by,
    )


def _fails(component: str, own: dict[str, Status], config: HealthConfig) -> bool:
    """A dependency fails when it fails itself or is blocked by one that does."""
    if own.get(component) is Status.FAIL:
        return True
    settings = config.components.get(component)
    return settings is not None and any(_fails(d, own, config) for d in settings.depends_on)


def _losses(
    components: dict[str, ComponentHealth],
    members: dict[str, list[CheckResult]],
    total_weight: float,
) -> list[Loss]:
    out: list[Loss] = []
    for comp in components.values():
        if comp.score is None or not total_weight:
            continue
        known = [r for r in members[comp.name] if r.status in POINTS]
        share = comp.weight / total_weight / len(known)
        for r in known:
            lost = (100.0 - POINTS[r.status]) * share
            if lost > 0:
                out.append(Loss(r.name, comp.name, r.status, round(lost, 1)))
    return sorted(out, key=lambda loss: -loss.points)


def summary_samples(summary: HealthSummary) -> list[Sample]:
    """The scores as samples; a score that is None (nothing known, or a component
    blocked by one it depends on) gives no sample."""
    out = []
    if summary.score is not None:
        out.append(Sample(SeriesKey(SCORE_METRIC), summary.score))
    for name, comp in summary.components.items():
        if comp.score is not None:
            key = SeriesKey.of(COMPONENT_SCORE_METRIC, component=name)
            out.append(Sample(key, round(comp.score, 1)))
    return out
