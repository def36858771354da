"""The health scores become series each time a check reports: the overall score and
one per component, as ``summary()`` computes them; documented."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgewatch.config.health import HealthConfig
from edgewatch.health.model import CheckEnv
from edgewatch.health.runner import HealthMonitor
from edgewatch.health.score import FAMILIES
from edgewatch.model import Sample

ROOT = Path(__file__).resolve().parents[2]


def _scores(samples: Sequence[Sample]) -> dict[str, float]:
    """``overall`` and each component's score, from one batch of samples."""
    out = {}
    for s in samples:
        if s.key.name == "edgewatch_health_score":
            assert s.key.labels == ()
            out["overall"] = s.value
        elif s.key.name == "edgewatch_component_health_score":
            out[s.key.label("component")] = s.value
    return out


def test_each_run_stores_the_scores_as_they_stand_after_it(tmp_path: Path) -> None:
    present, missing = tmp_path / "present", tmp_path / "missing"
    present.write_text("x")
    checks: list[dict[str, Any]] = [
        {"kind": "file", "name": "cam", "component": "camera", "path": str(present)},
        {"kind": "file", "name": "model", "component": "vision", "path": str(missing)},
        {"kind": "file", "name": "disk", "component": "storage", "path": str(present)},
        {"kind": "file", "name": "cfg", "component": "storage", "path": str(missing)},
    ]
    config = HealthConfig.model_validate(
        {
            "checks": checks,
            "components": {"vision": {"depends_on": ["camera"], "weight": 2}},
        }
    )
    batches: list[tuple[int, Sequence[Sample]]] = []
    monitor = HealthMonitor(config, CheckEnv(), sink=lambda ts, s: batches.append((ts, s)))

    async def run_all() -> None:
        for name in ("cam", "model", "disk", "cfg"):
            await monitor.run_once(name)

    asyncio.run(run_all())
    got = [_scores(samples) for _, samples in batches]
    assert got == [
        {"overall": 100.0, "camera": 100.0},  # only cam known so far
        # vision (weight 2) fails: (1 x 100 + 2 x 0) / 3
        {"overall": 33.3, "camera": 100.0, "vision": 0.0},
        {"overall": 50.0, "camera": 100.0, "vision": 0.0, "storage": 100.0},
        {"overall": 37.5, "camera": 100.0, "vision": 0.0, "storage": 50.0},
    ]
    summary = monitor.summary()
    assert got[-1]["overall"] == summary.score
    assert got[-1] == {"overall": summary.score} | {
        n: c.score for n, c in summary.components.items() if c.score is not None
    }
    # stamped with the result that changed them, in the check's own batch
    assert batches[-1][0] == monitor.results()["cfg"].time_ms
    assert batches[-1][1][0].key.label("check") == "cfg"


def test_a_blocked_component_and_an_unknown_score_give_no_sample(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    config = HealthConfig.model_validate(
        {
            "checks": [
                {"kind": "file", "name": "cam", "component": "camera", "path": missing},
                {"kind": "file", "name": "model", "component": "vision", "path": missing},
            ],
            "components": {"vision": {"depends_on": ["camera"]}},
        }
    )
    batches: list[Sequence[Sample]] = []
    monitor = HealthMonitor(config, CheckEnv(), sink=lambda ts, s: batches.append(s))
    asyncio.run(monitor.run_once("model"))
    asyncio.run(monitor.run_once("cam"))
    # vision alone fails: scored 0; once camera fails, vision is blocked (no score)
    assert _scores(batches[0]) == {"overall": 0.0, "vision": 0.0}
    assert _scores(batches[1]) == {"overall": 0.0, "camera": 0.0}


def test_the_score_series_are_documented() -> None:
    metrics = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    health = (ROOT / "docs" / "health.md").read_text(encoding="utf-8")
    for family in FAMILIES:
        assert f"| `{family.name}` | {family.type.value} |" in metrics
        assert f"| `{family.name}` |" in health
