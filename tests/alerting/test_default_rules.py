"""The default rule pack: it loads, reads only metrics that exist, and each rule fires on
data that means trouble and stays quiet on healthy data (evaluated by the real engine
over a real store)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import promql_parser as pp
import pytest

from edgewatch.alerting.rules import Rule, RuleFile, load_rule_file
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.query.parse import parse
from edgewatch.store import Store, StoreOptions

DOCS = Path(__file__).resolve().parents[2] / "docs"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 30_000
N = 7 * 120  # seven hours at 30 s
END_MS = T0 + (N - 1) * STEP_MS
STEPS = np.arange(N, dtype=np.float64)
LAST_10M = STEPS >= N - 20

# Metrics that edgewatch's alerting and notification code emits (documented with them).
OWN_ALERTING_METRICS = {
    "edgewatch_notify_failed_total",
    "edgewatch_notify_retried_total",
    "edgewatch_notify_given_up_total",
    "edgewatch_rule_evaluation_failures_total",
}

FS = {"device": "/dev/mmcblk0p2", "fstype": "ext4", "mountpoint": "/"}
RO_FS = {"device": "/dev/loop0", "fstype": "ext4", "mountpoint": "/ro"}
VISION = {"name": "vision.service"}
CHECK = {"check": "vision-loop", "component": "vision", "kind": "metric"}

Data = dict[tuple[str, tuple[tuple[str, str], ...]], np.ndarray]


def _put(data: Data, metric: str, values: np.ndarray | float, /, **labels: str) -> None:
    series = np.broadcast_to(np.asarray(values, dtype=np.float64), (N,)).copy()
    data[(metric, tuple(sorted(labels.items())))] = series


def _counter(per_step: float | np.ndarray) -> np.ndarray:
    return np.cumsum(np.broadcast_to(np.asarray(per_step, dtype=np.float64), (N,)))


def _trouble() -> Data:
    d: Data = {}
    _put(d, "system_cpu_usage_ratio", 0.95, cpu="total")
    _put(d, "system_memory_usage_ratio", 0.98)
    _put(d, "node_vmstat_pswpin", _counter(300 * 30))
    _put(d, "node_vmstat_pswpout", _counter(300 * 30))
    _put(d, "system_filesystem_usage_ratio", 0.96, **FS)
    _put(d, "node_filesystem_readonly", 0, **FS)
    _put(d, "node_filesystem_avail_bytes", 10e9 - STEPS * 1e9 / 120, **FS)  # -1 GB/h
    _put(d, "node_filesystem_files", 1e6, **FS)
    _put(d, "node_filesystem_files_free", 2e4, **FS)
    _put(d, "node_thermal_zone_temp", 92.0, type="cpu-thermal", zone="0")
    _put(d, "node_network_up", np.where(LAST_10M, 0.0, 1.0), device="eth0")
    _put(d, "node_network_receive_errs_total", _counter(5), device="eth0")
    _put(d, "node_network_transmit_errs_total", _counter(0), device="eth0")
    _put(d, "node_network_receive_packets_total", _counter(100), device="eth0")
    _put(d, "node_network_transmit_packets_total", _counter(50), device="eth0")
    _put(d, "node_systemd_unit_state", 1, state="failed", type="simple", **VISION)
    _put(d, "node_systemd_unit_state", 0, state="active", type="simple", **VISION)
    _put(d, "node_systemd_service_restart_total", np.floor(STEPS / 2), **VISION)
    _put(d, "edgewatch_check_status", 2, **CHECK)
    _put(d, "edgewatch_collector_errors_total", _counter(1), collector="sensors")
    _put(d, "edgewatch_samples_ingested_total", np.where(LAST_10M, np.nan, _counter(500)))
    _put(d, "edgewatch_store_write_errors_total", _counter(1))
    _put(d, "edgewatch_store_dropped_samples_total", 0)
    _put(d, "edgewatch_notify_failed_total", 0, receiver="email")
    _put(d, "edgewatch_notify_retried_total", _counter(1), receiver="email")
    _put(d, "edgewatch_notify_given_up_total", np.where(LAST_10M, 1.0, 0.0), receiver="email")
    _put(d, "edgewatch_rule_evaluation_failures_total", _counter(1), rule_group="g", rule="r")
    _put(d, "node_timex_sync_status", 0)
    return d


def _healthy() -> Data:
    d: Data = {}
    _put(d, "system_cpu_usage_ratio", 0.3, cpu="total")
    _put(d, "system_memory_usage_ratio", 0.5)
    _put(d, "node_vmstat_pswpin", _counter(10))
    _put(d, "node_vmstat_pswpout", _counter(10))
    _put(d, "system_filesystem_usage_ratio", 0.4, **FS)
    _put(d, "node_filesystem_readonly", 0, **FS)
    _put(d, "system_filesystem_usage_ratio", 1.0, **RO_FS)  # full, but read-only
    _put(d, "node_filesystem_readonly", 1, **RO_FS)
    _put(d, "node_filesystem_avail_bytes", 10e9 + np.sin(STEPS) * 1e6, **FS)
    _put(d, "node_filesystem_files", 1e6, **FS)
    _put(d, "node_filesystem_files_free", 5e5, **FS)
    _put(d, "node_filesystem_files", 0, **RO_FS)  # a filesystem without inodes (vfat)
    _put(d, "node_filesystem_files_free", 0, **RO_FS)
    _put(d, "node_thermal_zone_temp", 50.0, type="cpu-thermal", zone="0")
    _put(d, "node_thermal_zone_temp", 100.0, type="PMIC-Die", zone="1")  # Jetson: fixed 100
    _put(d, "node_network_up", 1, device="eth0")
    _put(d, "node_network_up", 0, device="wlan0")  # never up: not in use
    _put(d, "node_network_receive_errs_total", 3, device="eth0")
    _put(d, "node_network_transmit_errs_total", 0, device="eth0")
    _put(d, "node_network_receive_packets_total", _counter(100), device="eth0")
    _put(d, "node_network_transmit_packets_total", _counter(50), device="eth0")
    _put(d, "node_systemd_unit_state", 0, state="failed", type="simple", **VISION)
    _put(d, "node_systemd_unit_state", 1, state="active", type="simple", **VISION)
    _put(d, "node_systemd_service_restart_total", 2, **VISION)
    _put(d, "edgewatch_check_status", 0, **CHECK)
    _put(d, "edgewatch_collector_errors_total", 4, collector="sensors")
    _put(d, "edgewatch_samples_ingested_total", _counter(500))
    _put(d, "edgewatch_store_write_errors_total", 1)
    _put(d, "edgewatch_store_dropped_samples_total", 0)
    _put(d, "edgewatch_notify_failed_total", 3, receiver="email")
    _put(d, "edgewatch_notify_retried_total", 7, receiver="email")
    _put(d, "edgewatch_notify_given_up_total", 0, receiver="email")
    _put(d, "edgewatch_rule_evaluation_failures_total", 0, rule_group="g", rule="r")
    _put(d, "node_timex_sync_status", 1)
    return d


def _store_with(path: Path, data: Data) -> Store:
    store = Store.open(path, StoreOptions(timestamp_tolerance=0.0))
    keys = {k: SeriesKey.of(k[0], dict(k[1])) for k in data}
    for j in range(N):
        store.append(
            T0 + j * STEP_MS,
            [Sample(keys[k], float(v[j])) for k, v in data.items() if not np.isnan(v[j])],
        )
    store.commit()
    return store


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    trouble = _store_with(tmp_path_factory.mktemp("trouble"), _trouble())
    healthy = _store_with(tmp_path_factory.mktemp("healthy"), _healthy())
    yield {"trouble": Engine(trouble), "healthy": Engine(healthy)}
    trouble.close()
    healthy.close()


def _pack() -> RuleFile:
    path = Path(str(resources.files("edgewatch.alerting") / "default_rules.yaml"))
    return load_rule_file(path)


RULES = [rule for group in _pack().groups for rule in group.rules]
EXPECTED_ALERTS = {
    "CpuSaturated", "MemoryPressure", "SwapThrashing", "DiskAlmostFull", "DiskFillingUp",
    "InodesAlmostExhausted", "HighTemperature", "NetworkInterfaceDown", "NetworkErrors",
    "SystemdUnitFailed", "SystemdUnitRestartLooping", "HealthCheckFailing",
    "EdgewatchCollectorErrors", "EdgewatchCollectorStalled", "EdgewatchStoreFailing",
    "EdgewatchNotifierFailing", "EdgewatchNotificationsGivenUp",
    "EdgewatchRuleEvaluationFailing", "ClockNotSynchronised",
}  # fmt: skip


def _rule_id(rule: Rule) -> str:
    return rule.name


def test_the_pack_loads_with_every_expected_rule() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_ALERTS
    assert all(rule.is_alerting for rule in RULES)


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
def test_each_rule_has_a_severity_and_its_texts(rule: Rule) -> None:
    assert "severity" in rule.labels or rule.severities
    assert {"summary", "description"} <= set(rule.annotations)


def _metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, pp.VectorSelector) and node.name:
            names.add(node.name)
        return True

    pp.walk(parse(expr), visit, None)
    return names


def _documented_metrics() -> set[str]:
    text = (DOCS / "metrics.md").read_text() + (DOCS / "health.md").read_text()
    return set(re.findall(r"^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \|", text, re.MULTILINE))


def _expressions(rule: Rule) -> list[str]:
    exprs = [rule.expr] + [level.expr for level in rule.severities or ()]
    return exprs + ([rule.clear] if rule.clear else [])


def test_every_metric_read_exists() -> None:
    known = _documented_metrics() | OWN_ALERTING_METRICS
    assert "node_cpu_seconds_total" in known and "edgewatch_check_status" in known
    used = {name for rule in RULES for expr in _expressions(rule) for name in _metric_names(expr)}
    assert used - known == set()
    assert used >= OWN_ALERTING_METRICS


def test_the_docs_describe_every_rule_and_the_own_metrics() -> None:
    text = (DOCS / "default-rules.md").read_text()
    for rule in RULES:
        assert f"`{rule.name}`" in text, rule.name
    for name in OWN_ALERTING_METRICS:
        assert f"`{name}`" in text, name


def _labels(engine: Engine, expr: str) -> list[dict[str, str]]:
    """The instant result's label sets at the end of the data, as alerts get them."""
    series = engine.instant(expr, END_MS).series
    return [{k: v for k, v in s.labels.items() if k != "__name__"} for s in series]


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
def test_each_rule_fires_on_trouble(engines: dict[str, Engine], rule: Rule) -> None:
    assert _labels(engines["trouble"], rule.expr) != []


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
def test_each_rule_is_quiet_when_healthy(engines: dict[str, Engine], rule: Rule) -> None:
    assert _labels(engines["healthy"], rule.expr) == []


SEVERITY_RULES = [rule for rule in RULES if rule.severities]
CLEAR_RULES = [rule for rule in RULES if rule.clear]


@pytest.mark.parametrize("rule", SEVERITY_RULES, ids=_rule_id)
def test_every_level_holds_on_trouble_and_none_when_healthy(
    engines: dict[str, Engine], rule: Rule
) -> None:
    for level in rule.severities or ():
        assert _labels(engines["trouble"], level.expr) != [], level.severity
        assert _labels(engines["healthy"], level.expr) == [], level.severity


@pytest.mark.parametrize("rule", CLEAR_RULES, ids=_rule_id)
def test_clear_holds_when_healthy_only(engines: dict[str, Engine], rule: Rule) -> None:
    assert rule.clear is not None
    assert _labels(engines["healthy"], rule.clear) != []
    assert _labels(engines["trouble"], rule.clear) == []


def test_disk_rules_carry_the_filesystem_labels(engines: dict[str, Engine]) -> None:
    by_name = {rule.name: rule for rule in RULES}
    for name in ("DiskAlmostFull", "DiskFillingUp", "InodesAlmostExhausted"):
        assert _labels(engines["trouble"], by_name[name].expr) == [FS]


def test_a_stalled_collector_is_named(engines: dict[str, Engine]) -> None:
    rule = next(rule for rule in RULES if rule.name == "EdgewatchCollectorStalled")
    assert _labels(engines["trouble"], rule.expr) == [{"collector": "self"}]
