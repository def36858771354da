"""``edgewatch config validate|schema|show``: output, exit codes, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgewatch.commands.config import config_group
from edgewatch.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "examples" / "edgewatch.yaml"
BAD = """\
log_level: info
collectors:
  cpu:
    interval: -1
  procesess: {}
"""


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_LISTEN": None})


def test_validate_ok_prints_file_ok(runner: CliRunner) -> None:
    result = runner.invoke(config_group, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{EXAMPLE}: ok\n"
    assert result.stderr == ""


def test_validate_bad_prints_each_error_and_exits_2(runner: CliRunner, bad_file: Path) -> None:
    result = runner.invoke(config_group, ["validate", str(bad_file)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{bad_file}:4: collectors.cpu.interval: Input should be greater than 0 (got -1)",
        f"{bad_file}:5: collectors.procesess: unknown key 'procesess'; did you mean 'processes'?",
    ]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_several_files_reports_each(
    runner: CliRunner, bad_file: Path, tmp_path: Path
) -> None:
    result = runner.invoke(config_group, ["validate", str(EXAMPLE), str(bad_file)])
    assert result.exit_code == 2
    assert result.stdout == f"{EXAMPLE}: ok\n"
    assert len(result.stderr.splitlines()) == 2


def test_validate_missing_file_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = runner.invoke(config_group, ["validate", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == f"{missing}: cannot read config file: No such file or directory\n"


def test_schema_is_the_models_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(config_group, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Config.model_fields)
    assert result.stdout.startswith('{\n  "')  # indent 2


def test_show_without_a_file_prints_the_defaults(runner: CliRunner) -> None:
    result = runner.invoke(config_group, ["show"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# edgewatch effective config: built-in defaults")
    shown = yaml.safe_load(result.stdout)
    assert shown["store"]["retention"]["raw"] == "14d"
    assert shown["store"]["retention"]["max_size"] == "2GiB"
    assert shown["collectors"]["cpu"]["interval"] == "1s"


def test_show_reads_the_config_option_and_round_trips(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("collectors:\n  cpu:\n    interval: 1500ms\n", encoding="utf-8")
    result = runner.invoke(config_group, ["show", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"from {path}" in result.stdout.splitlines()[0]
    assert "interval: 1500ms" in result.stdout
    again = tmp_path / "again.yaml"
    again.write_text(result.stdout, encoding="utf-8")
    assert load_config(again, environ={}) == load_config(path, environ={})


def test_show_follows_edgewatch_config(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("log_level: debug\n", encoding="utf-8")
    result = CliRunner(env={"EDGEWATCH_CONFIG": str(path)}).invoke(config_group, ["show"])
    assert result.exit_code == 0, result.output
    assert "log_level: debug" in result.stdout


def test_show_with_a_bad_config_exits_2(runner: CliRunner, bad_file: Path) -> None:
    result = runner.invoke(config_group, ["show", "--config", str(bad_file)])
    assert result.exit_code == 2
    assert f"{bad_file}:4: collectors.cpu.interval" in result.stderr
    assert "Traceback" not in result.output


def test_validate_through_the_edgewatch_command(runner: CliRunner, bad_file: Path) -> None:
    from edgewatch.cli import cli

    result = runner.invoke(cli, ["config", "validate", str(bad_file)])
    assert result.exit_code == 2
    assert f"{bad_file}:4: collectors.cpu.interval" in result.stderr


def test_real_process_exits_2_with_line_and_no_traceback(bad_file: Path) -> None:
    edgewatch = Path(sys.executable).parent / "edgewatch"
    proc = subprocess.run(
        [str(edgewatch), "config", "validate", str(bad_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{bad_file}:4: collectors.cpu.interval" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
