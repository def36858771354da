"""Inhibition: firing alerts that mute others.

Two sources of inhibition:

- Alertmanager's rules: a firing alert matching ``source_matchers`` mutes the
  alerts matching ``target_matchers`` whose ``equal`` labels have the same
  values (a label missing on both sides counts as equal); an alert never
  inhibits itself.
- Component dependencies (``health.components.X.depends_on``): a firing alert
  with the label ``component="uplink"`` mutes every alert whose ``component``
  is a component that depends on ``uplink``, directly or through others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edgewatch.alerting.matchers import Matcher, matches_all
from edgewatch.alerting.notice import Notice, NoticeStatus, fingerprint
from edgewatch.config.routing import InhibitRule, parsed

COMPONENT_LABEL = "component"


@dataclass(frozen=True)
class _Rule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


class Inhibitor:
    def __init__(
        self,
        rules: Sequence[InhibitRule],
        component_deps: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._rules = [
            _Rule(
                tuple(parsed(r.source_matchers)), tuple(parsed(r.target_matchers)), tuple(r.equal)
            )
            for r in rules
        ]
        self._dependents = _dependents(component_deps or {})

    def dependents(self, component: str) -> frozenset[str]:
        """The components that depend on ``component``, directly or transitively."""
        return self._dependents.get(component, frozenset())

    def inhibited_by(self, labels: Mapping[str, str], firing: Iterable[Notice]) -> list[str]:
        """Fingerprints of the firing alerts that mute an alert with ``labels`` (sorted)."""
        own = _fingerprint(labels)
        target_rules = [r for r in self._rules if matches_all(r.target, labels)]
        component = labels.get(COMPONENT_LABEL)
        found: set[str] = set()
        for source in firing:
            if source.status is not NoticeStatus.FIRING:
                continue
            fp = source.fingerprint
            if fp == own or fp in found:
                continue
            if self._inhibits(source.labels, labels, target_rules, component):
                found.add(fp)
        return sorted(found)

    def _inhibits(
        self,
        source: Mapping[str, str],
        target: Mapping[str, str],
        rules: list[_Rule],
        component: str | None,
    ) -> bool:
        src_component = source.get(COMPONENT_LABEL)
        if component and src_component and component in self.dependents(src_component):
            return True
        return any(
            matches_all(r.source, source)
            and all(source.get(n, "") == target.get(n, "") for n in r.equal)
            for r in rules
        )


def _fingerprint(labels: Mapping[str, str]) -> str:
    return fingerprint({k: v for k, v in labels.items() if k != "severity"})


def _dependents(deps: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """component -> every component that depends on it (cycles are tolerated)."""
    direct: dict[str, set[str]] = {}
    for comp, needs in deps.items():
        for need in needs:
            direct.setdefault(need, set()).add(comp)
    out: dict[str, frozenset[str]] = {}
    for start in direct:
        seen: set[str] = set()
        todo = list(direct[start])
        while todo:
            comp = todo.pop()
            if comp in seen:
                continue
            seen.add(comp)
            todo.extend(direct.get(comp, ()))
        seen.discard(start)
        out[start] = frozenset(seen)
    return out
