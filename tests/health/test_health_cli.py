"""``edgewatch health``: the state from a store of edgewatch_check_* samples, and
``--check NAME`` running one check now."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edgewatch.commands.health import health_cmd
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store

STEP_S = 30
N = 60  # half an hour of results


def write_config(tmp_path: Path, frame: Path, *, with_checks: bool = True) -> Path:
    checks: list[dict[str, object]] = [
        {"kind": "heartbeat", "name": "vision-loop", "component": "vision", "period": 60},
        {"kind": "file", "name": "frame", "component": "camera", "path": str(frame)},
        {
            "kind": "file",
            "name": "stale-frame",
            "component": "camera",
            "path": str(frame),
            "max_age": 60,
        },
    ]
    path = tmp_path / "edgewatch.yaml"
    path.write_text(json.dumps({"health": {"checks": checks if with_checks else []}}))
    return path


def fill(data_dir: Path, statuses: dict[tuple[str, str, str], list[int]], end_s: float) -> None:
    """Samples of edgewatch_check_status (and the observed value: the index) ending at end_s."""
    store = Store.open(data_dir)
    try:
        for name_comp_kind, codes in statuses.items():
            name, component, kind = name_comp_kind
            labels = {"check": name, "component": component, "kind": kind}
            for i, code in enumerate(codes):
                ts = round((end_s - (len(codes) - 1 - i) * STEP_S) * 1000)
                store.append(
                    ts,
                    [
                        Sample(SeriesKey.of("edgewatch_check_status", labels), float(code)),
                        Sample(SeriesKey.of("edgewatch_check_observed_value", labels), float(i)),
                    ],
                )
        assert store.commit()
    finally:
        store.close()


def run(tmp_path: Path, *args: str, with_checks: bool = True) -> Result:
    runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": None})
    frame = tmp_path / "frame.pgm"
    cfg = write_config(tmp_path, frame, with_checks=with_checks)
    data = tmp_path / "data"
    return runner.invoke(health_cmd, [*args, "--config", str(cfg), "--data-dir", str(data)])


VISION = ("vision-loop", "vision", "heartbeat")
FRAME = ("frame", "camera", "file")
STALE = ("stale-frame", "camera", "file")


def lines_of(result: Result) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}


def test_state_table_shows_checks_score_and_components(tmp_path: Path) -> None:
    now = time.time()
    fill(tmp_path / "data", {VISION: [0] * 40 + [2] * 20, FRAME: [0] * N, STALE: [0] * N}, now)
    result = run(tmp_path)
    assert result.exit_code == 1, result.output  # a check fails
    rows = lines_of(result)
    assert rows["CHECK"] == ["CHECK", "COMPONENT", "STATUS", "VALUE", "SINCE", "MESSAGE"]
    # The fail began 19 steps before the last result; frame passed the whole window,
    # which began when the samples did.
    assert rows["vision-loop"][:5] == ["vision-loop", "vision", "fail", "59", "10m"]
    assert rows["frame"][:5] == ["frame", "camera", "pass", "59", "30m"]
    assert rows["stale-frame"][:3] == ["stale-frame", "camera", "pass"]
    assert "score 50 (fail)" in result.output
    assert rows["vision"][:4] == ["vision", "fail", "0", "1"]
    assert rows["camera"][:4] == ["camera", "pass", "100", "1"]
    assert "-50 points: vision-loop (fail)" in result.output


def test_state_exits_0_when_every_check_passes_or_warns_and_speaks_json(tmp_path: Path) -> None:
    now = time.time()
    fill(tmp_path / "data", {VISION: [2] * 10 + [1] * 10, FRAME: [0] * 20}, now)
    result = run(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["status"], body["score"]) == ("warn", 75.0)
    checks = {c["check"]: c for c in body["checks"]}
    assert (checks["vision-loop"]["status"], checks["vision-loop"]["value"]) == ("warn", 19.0)
    assert checks["vision-loop"]["since_exact"] is True
    assert checks["vision-loop"]["stale"] is False
    assert body["components"]["camera"]["checks"] == ["frame", "stale-frame"]
    # A configured check with nothing stored is unknown (and left out of the score).
    assert (checks["stale-frame"]["status"], checks["stale-frame"]["time"]) == ("unknown", None)
    assert checks["stale-frame"]["message"] == "no result stored in the last 7 days"
    assert body["explanation"] == [
        {"check": "vision-loop", "component": "vision", "status": "warn", "points": 25.0}
    ]


def test_results_of_a_stopped_agent_are_shown_as_stale(tmp_path: Path) -> None:
    fill(tmp_path / "data", {FRAME: [0] * 10}, time.time() - 7200)
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    assert "last result 2h ago: is the agent running?" in result.output


def test_an_empty_store_shows_the_configured_checks_as_unknown(tmp_path: Path) -> None:
    fill(tmp_path / "data", {}, time.time())
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    rows = lines_of(result)
    for name in ("vision-loop", "frame", "stale-frame"):
        assert rows[name][2:5] == ["unknown", "-", "-"]
    assert "score - (unknown)" in result.output


def test_without_checks_in_the_config_every_stored_check_is_shown(tmp_path: Path) -> None:
    fill(tmp_path / "data", {("gone", "system", "tcp"): [2] * 3}, time.time())
    result = run(tmp_path, with_checks=False)
    assert result.exit_code == 1, result.output
    assert lines_of(result)["gone"][:5] == ["gone", "system", "fail", "2", "60s"]
    fill(tmp_path / "empty", {}, time.time())
    runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": None})
    empty = runner.invoke(
        health_cmd,
        ["--config", str(tmp_path / "edgewatch.yaml"), "--data-dir", str(tmp_path / "empty")],
    )
    assert empty.exit_code == 0, empty.output
    assert "no health results in the store" in empty.output


def test_a_missing_store_is_a_one_line_error(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")


def test_check_runs_a_file_check_now(tmp_path: Path) -> None:
    frame = tmp_path / "frame.pgm"
    frame.write_bytes(b"P5 1 1 255 \x80")
    result = run(tmp_path, "--check", "frame")
    assert result.exit_code == 0, result.output
    rows = lines_of(result)
    assert rows["check"] == ["check", "frame", "(file,", "component", "camera)"]
    assert rows["status"] == ["status", "pass"]
    assert rows["value"][2] == "seconds"
    assert " 12 bytes" in result.output


def test_check_exits_1_on_a_failing_check_and_speaks_json(tmp_path: Path) -> None:
    frame = tmp_path / "frame.pgm"
    frame.write_bytes(b"x")
    old = time.time() - 600
    os.utime(frame, (old, old))
    result = run(tmp_path, "--check", "stale-frame", "--format", "json")
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert (body["check"], body["kind"], body["status"]) == ("stale-frame", "file", "fail")
    assert body["value"] == pytest.approx(600, abs=30)
    assert body["message"].startswith("not modified for ")
    frame.unlink()
    missing = run(tmp_path, "--check", "frame")
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_check_of_a_heartbeat_is_unknown_outside_the_agent(tmp_path: Path) -> None:
    result = run(tmp_path, "--check", "vision-loop")
    assert result.exit_code == 1
    assert "status   unknown" in result.output
    assert "received by the running agent" in result.output


def test_check_of_an_unknown_name_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, "--check", "nope")
    assert result.exit_code == 2
    assert "no check named 'nope' in the config (checks: vision-loop, frame, stale-frame)" in (
        result.output
    )
    assert "Traceback" not in result.output
