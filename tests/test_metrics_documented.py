"""Every metric a built-in collector emits, and every family it declares, is in docs/metrics.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.collect.registry import BUILTIN_COLLECTORS, DEFAULT_INTERVALS, load_collector_class
from edgewatch.model import Collector

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "metrics.md"
FIXTURES = ROOT / "tests" / "collect" / "fixtures"
ROW = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)\s*\|", re.MULTILINE)


def documented() -> dict[str, str]:
    """Metric name -> documented type, from the tables of docs/metrics.md."""
    return {name: kind for name, kind in ROW.findall(DOC.read_text(encoding="utf-8"))}


def collectors(tmp_path: Path) -> Iterator[tuple[str, Collector]]:
    """Every built-in kind on this machine, and again against the fake trees."""
    run_dir = tmp_path / "run-systemd-system"
    run_dir.mkdir()
    fake = {"proc_root": str(FIXTURES / "proc"), "sys_root": str(FIXTURES / "sys")}
    for kind in BUILTIN_COLLECTORS:
        cls = load_collector_class(kind)
        extra: dict[str, object] = {}
        if kind == "processes":
            extra = {"groups": {"vision": "python.*detect"}, "top_n": 5}
        if kind == "services":
            extra = {
                "units": ("vision.service", "camera.service"),
                "systemctl": str(FIXTURES / "systemctl"),
                "systemd_run_dir": str(run_dir),
            }
        yield f"{kind} (this machine)", cls(interval=DEFAULT_INTERVALS[kind], **extra)
        yield f"{kind} (fake trees)", cls(interval=DEFAULT_INTERVALS[kind], **fake, **extra)


def test_the_self_section_is_present() -> None:
    assert "## Self (edgewatch's own figures)" in DOC.read_text(encoding="utf-8")


def test_every_collected_metric_and_family_is_documented(tmp_path: Path) -> None:
    docs = documented()
    missing: set[str] = set()
    wrong_type: set[str] = set()
    emitted = 0
    for label, collector in collectors(tmp_path):
        for fam in collector.families():
            if fam.name not in docs:
                missing.add(f"{fam.name} (family of {label})")
            elif docs[fam.name] != fam.type.value:
                wrong_type.add(f"{fam.name}: {fam.type.value}, documented {docs[fam.name]}")
        if collector.available() is not None:
            continue
        declared = {fam.name for fam in collector.families()}
        for _ in range(2):  # the second collection adds the delta-based ratios
            for sample in collector.collect():
                emitted += 1
                if sample.key.name not in docs:
                    missing.add(f"{sample.key.name} (from {label})")
                if sample.key.name not in declared:
                    missing.add(f"{sample.key.name} (from {label}, not in its families())")
    assert emitted > 100
    assert not missing, "undocumented metrics:\n" + "\n".join(sorted(missing))
    assert not wrong_type, "documented with another type:\n" + "\n".join(sorted(wrong_type))


@pytest.mark.parametrize("kind", sorted(BUILTIN_COLLECTORS))
def test_documented_rows_name_their_collector(kind: str) -> None:
    cls = load_collector_class(kind)
    text = DOC.read_text(encoding="utf-8")
    for fam in cls(interval=1.0).families():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{fam.name}` |"))
        assert row.rstrip().endswith(f"| {kind} |"), row
