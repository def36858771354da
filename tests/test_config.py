"""The config: defaults, loading YAML, errors with file and line, environment, units."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from edgewatch.config import (
    Config,
    ConfigError,
    ConfigIssue,
    Secret,
    format_duration,
    format_size,
    load_config,
    parse_duration,
    parse_listen,
    parse_size,
    parse_yaml_model,
    render_yaml,
    resolve_config_path,
    resolve_data_dir,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "edgewatch.yaml"


def write(tmp_path: Path, text: str, name: str = "edgewatch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path, environ: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ or {})
    return info.value.errors


# --- defaults and the example --------------------------------------------------


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.listen == "127.0.0.1:8700"
    assert config.listen_address() == ("127.0.0.1", 8700)
    assert config.log_level == "info"
    assert config.data_dir is None
    assert config.store.commit_interval == 10.0
    assert config.store.retention.raw == 14 * 86400
    assert config.store.retention.max_size == 2 * 1024**3
    assert config.agent.cpu_budget == 0.01
    assert config.collectors.cpu.interval == 1.0
    assert config.collectors.sensors.interval == 5.0
    assert config.collectors.processes.interval == 15.0
    assert config.collectors.self.enabled is True
    assert "tmpfs" in config.collectors.disk.exclude_fstypes
    assert config.collectors.processes.groups == {}


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing here\n"), environ={}) == Config()


def test_rendered_defaults_read_back_equal(tmp_path: Path) -> None:
    text = render_yaml(Config())
    assert "commit_interval: 10s" in text
    assert "raw: 14d" in text
    assert "max_size: 2GiB" in text
    assert load_config(write(tmp_path, text), environ={}) == Config()


def test_example_file_validates_and_sets_groups() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.collectors.processes.groups["vision"].match == "python.*detect"
    assert config.collectors.services.units == ("vision.service", "rvm-camera.service")
    assert config.listen == "127.0.0.1:8700"


def test_example_environment_reference_is_live() -> None:
    config = load_config(EXAMPLE, environ={"EDGEWATCH_LISTEN": "0.0.0.0:9000"})
    assert config.listen == "0.0.0.0:9000"


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(ValidationError):
        config.listen = "0.0.0.0:1"


def test_store_section_maps_to_store_options(tmp_path: Path) -> None:
    text = """\
store:
  commit_interval: 30s
  retention: {raw: 7d, rollup_1m: 30d, rollup_1h: 1w, max_size: 512MiB}
  timestamp_tolerance: 0.1
  max_pending_samples: 20000
"""
    options = load_config(write(tmp_path, text), environ={}).store.to_options()
    assert options.commit_interval_s == 30.0
    assert options.raw_retention_s == 7 * 86400
    assert options.rollup_1m_retention_s == 30 * 86400
    assert options.rollup_1h_retention_s == 7 * 86400
    assert options.max_bytes == 512 * 1024**2
    assert options.timestamp_tolerance == 0.1
    assert options.max_pending_samples == 20000


def test_every_schema_property_has_a_description() -> None:
    schema = Config.model_json_schema()
    models = [schema, *schema["$defs"].values()]
    missing = [
        f"{model['title']}.{name}"
        for model in models
        for name, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # serialisable


# --- errors with file, line and key -----------------------------------------------


def test_wrong_value_names_file_line_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level: info\ncollectors:\n  cpu:\n    interval: -1\n")
    issues = errors_of(path)
    assert [str(i) for i in issues] == [
        f"{path}:4: collectors.cpu.interval: Input should be greater than 0 (got -1)"
    ]
    assert issues[0] == ConfigIssue(
        str(path), 4, "collectors.cpu.interval", "Input should be greater than 0 (got -1)"
    )


def test_unknown_key_reports_its_line_and_suggests(tmp_path: Path) -> None:
    text = "store:\n  commit_interval: 5s\n\ncollectors:\n  cpu:\n    intervall: 3s\n"
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 6
    assert issue.field_path == "collectors.cpu.intervall"
    assert issue.message == "unknown key 'intervall'; did you mean 'interval'?"


def test_unknown_top_level_key_lists_valid_keys(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, "listen: 127.0.0.1:1\nwebz: {}\n"))
    assert issue.line == 2
    assert issue.field_path == "webz"
    assert "unknown key 'webz'" in issue.message
    assert "listen" in issue.message


def test_wrong_type_reports_line_and_path(tmp_path: Path) -> None:
    text = "collectors:\n  processes:\n    top_n: many\n"
    (issue,) = errors_of(write(tmp_path, text))
    assert (issue.line, issue.field_path) == (3, "collectors.processes.top_n")
    assert "valid integer" in issue.message
    assert issue.message.endswith("(got 'many')")


def test_invalid_regex_in_nested_group_reports_line(tmp_path: Path) -> None:
    text = """\
collectors:
  processes:
    groups:
      camera:
        match: "^camera"
      vision:
        match: "python(detect"
"""
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 7
    assert issue.field_path == "collectors.processes.groups.vision.match"
    assert "'python(detect' is not a valid regular expression" in issue.message


def test_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    text = "collectors:\n  processes:\n    groups:\n      vision: {}\n"
    (issue,) = errors_of(write(tmp_path, text))
    assert (issue.line, issue.field_path) == (4, "collectors.processes.groups.vision.match")
    assert issue.message == "required key is missing"


def test_list_item_error_has_index(tmp_path: Path) -> None:
    text = "collectors:\n  network:\n    exclude_devices:\n      - ^lo$\n      - '[bad'\n"
    (issue,) = errors_of(write(tmp_path, text))
    assert (issue.line, issue.field_path) == (5, "collectors.network.exclude_devices[1]")


def test_every_error_is_reported_in_line_order(tmp_path: Path) -> None:
    text = """\
log_level: verbose
listen: 127.0.0.1:99999
store:
  retention:
    raw: 10x
    max_size: 3 furlongs
  timestamp_tolerance: 0.9
"""
    issues = errors_of(write(tmp_path, text))
    assert [(i.line, i.field_path) for i in issues] == [
        (1, "log_level"),
        (2, "listen"),
        (5, "store.retention.raw"),
        (6, "store.retention.max_size"),
        (7, "store.timestamp_tolerance"),
    ]
    assert issues[0].message.endswith("(got 'verbose')")
    assert "10s, 5m, 2h, 14d" in issues[2].message
    assert "512MiB" in issues[3].message


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  commit_interval: 5s\n bad: [unclosed\n")
    (issue,) = errors_of(path)
    assert issue.file == str(path)
    assert issue.line == 3
    assert issue.message.startswith("invalid YAML: ")
    assert str(issue).startswith(f"{path}:3: invalid YAML: ")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, "log_level: info\nlisten: a:1\nlog_level: debug\n"))
    assert (issue.line, issue.field_path) == (3, "log_level")
    assert issue.message == "duplicate key 'log_level' (first given at line 1)"


def test_top_level_list_is_an_error(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, "- a\n- b\n"))
    assert issue.line == 1
    assert "must be a mapping" in issue.message


def test_python_tags_are_refused(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, "listen: !!python/object/apply:os.getcwd []\n"))
    assert issue.line == 1
    assert "invalid YAML" in issue.message


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}: cannot read config file: No such file or directory"
    assert info.value.exit_code == 2


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert str(info.value) == f"{tmp_path}: cannot read config file: Is a directory"


# --- environment variables and secrets ------------------------------------------


def test_environment_references_are_substituted(tmp_path: Path) -> None:
    text = """\
data_dir: ${BASE}/data
listen: ${HOST:-127.0.0.1}:${PORT}
collectors:
  cpu:
    interval: ${CPU_INTERVAL}
    enabled: ${CPU_ON:-true}
  processes:
    top_n: ${TOP:-7}
    groups:
      literal: {match: "$${NOT_A_VAR}"}
"""
    environ = {"BASE": "/srv/ew", "PORT": "9100", "CPU_INTERVAL": "2s", "CPU_ON": "false"}
    config = load_config(write(tmp_path, text), environ=environ)
    assert config.data_dir == Path("/srv/ew/data")
    assert config.listen == "127.0.0.1:9100"
    assert config.collectors.cpu.interval == 2.0
    assert config.collectors.cpu.enabled is False
    assert config.collectors.processes.top_n == 7
    assert config.collectors.processes.groups["literal"].match == "${NOT_A_VAR}"


def test_missing_variable_names_field_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level: info\nlisten: 127.0.0.1:${EW_TEST_PORT}\n")
    (issue,) = errors_of(path)
    assert (issue.line, issue.field_path) == (2, "listen")
    assert "EW_TEST_PORT is not set" in issue.message
    assert "EW_TEST_PORT_FILE" in issue.message


def test_name_file_supplies_a_missing_variable(tmp_path: Path) -> None:
    secret_file = write(tmp_path, "9200\n", name="port.txt")
    path = write(tmp_path, "listen: 127.0.0.1:${EW_PORT}\n")
    config = load_config(path, environ={"EW_PORT_FILE": str(secret_file)})
    assert config.listen == "127.0.0.1:9200"


def test_variable_wins_over_its_file(tmp_path: Path) -> None:
    secret_file = write(tmp_path, "9200\n", name="port.txt")
    path = write(tmp_path, "listen: 127.0.0.1:${EW_PORT}\n")
    environ = {"EW_PORT": "9300", "EW_PORT_FILE": str(secret_file)}
    assert load_config(path, environ=environ).listen == "127.0.0.1:9300"


def test_unreadable_name_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "listen: 127.0.0.1:${EW_PORT}\n")
    missing = tmp_path / "absent"
    (issue,) = errors_of(path, environ={"EW_PORT_FILE": str(missing)})
    assert (issue.line, issue.field_path) == (1, "listen")
    assert issue.message == f"cannot read EW_PORT_FILE={missing}: No such file or directory"


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    (issue,) = errors_of(write(tmp_path, "listen: ${1BAD}\n"))
    assert "is not a valid reference" in issue.message


class _Mail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    user: str = "edge"
    password: Secret | None = None


def test_secret_is_masked_everywhere_but_its_getter(tmp_path: Path) -> None:
    secret_file = write(tmp_path, "hunter2\n", name="pw")
    model = parse_yaml_model(
        "password: ${SMTP_PASSWORD}\n",
        _Mail,
        file="mail.yaml",
        environ={"SMTP_PASSWORD_FILE": str(secret_file)},
    )
    assert model.password is not None
    assert model.password.get_secret_value() == "hunter2"
    assert str(model.password) == "**********"
    assert "hunter2" not in repr(model)
    assert "hunter2" not in str(model)
    shown = render_yaml(model)
    assert "hunter2" not in shown
    assert "password: '**********'" in shown
    assert model.password == Secret("hunter2")
    assert model.password != Secret("other")


def test_secret_json_schema_is_a_write_only_string() -> None:
    prop = _Mail.model_json_schema()["properties"]["password"]
    assert {"type": "string", "writeOnly": True}.items() <= prop["anyOf"][0].items()


# --- units -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (10, 10.0),
        (0.5, 0.5),
        ("10", 10.0),
        ("500ms", 0.5),
        ("10s", 10.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("14d", 1_209_600.0),
        ("1w", 604_800.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        (" 0.1h ", 360.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10x", "", "s", "-5s", "1 h", True, float("nan"), None, [1]])
def test_bad_duration_says_what_would_be_valid(bad: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration; use e\.g\. 10s, 5m, 2h, 14d"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10.0, "10s"), (0.5, "500ms"), (1_209_600, "14d"), (5400, "90m"), (7200, "2h"), (0, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**13))
def test_duration_round_trips_through_its_text(ms: int) -> None:
    seconds = ms / 1000
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_any_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("512MiB", 512 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("1GB", 10**9),
        ("1gb", 10**9),
        ("1.5KiB", 1536),
        ("10 MB", 10**7),
        ("7B", 7),
    ],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["2 furlongs", "GiB", "", "-1GiB", False])
def test_bad_size_says_what_would_be_valid(bad: object) -> None:
    with pytest.raises(ValueError, match=r"is not a size; use e\.g\. 512MiB, 2GiB, 1GB"):
        parse_size(bad)


@given(st.integers(min_value=0, max_value=2**62))
def test_size_round_trips_through_its_text(size: int) -> None:
    assert parse_size(format_size(size)) == size


def test_format_size_prefers_binary_units() -> None:
    assert format_size(2 * 1024**3) == "2GiB"
    assert format_size(10**9) == "1GB"
    assert format_size(1000 * 1024) == "1000KiB"
    assert format_size(1234567) == 1234567
    assert format_size(0) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8700", ("127.0.0.1", 8700)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:8700", ("::1", 8700)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("bad", ["8700", "127.0.0.1", "host:port", "::1:80", "[nope]:80", ":80"])
def test_bad_listen_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(bad)


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "log_level: DEBUG\n"), environ={}).log_level == "debug"


def test_yaml_numbers_and_strings_both_work_for_units(tmp_path: Path) -> None:
    text = "store:\n  commit_interval: 2.5\n  retention:\n    max_size: 0\n"
    config = load_config(write(tmp_path, text), environ={})
    assert config.store.commit_interval == 2.5
    assert config.store.retention.max_size == 0
    assert yaml.safe_load(render_yaml(config))["store"]["commit_interval"] == "2500ms"


# --- where the config and the data are -----------------------------------------------


def test_config_path_flag_then_environment_then_none() -> None:
    env = {"EDGEWATCH_CONFIG": "/etc/edgewatch/e.yaml"}
    assert resolve_config_path("x.yaml", environ=env) == Path("x.yaml")
    assert resolve_config_path(None, environ=env) == Path("/etc/edgewatch/e.yaml")
    assert resolve_config_path(None, environ={}) is None


def test_data_dir_precedence(tmp_path: Path) -> None:
    configured = Config(data_dir=tmp_path / "from-config")
    env = {"EDGEWATCH_DATA_DIR": "/from/env", "HOME": "/home/u"}
    assert resolve_data_dir("/from/flag", configured, environ=env) == Path("/from/flag")
    assert resolve_data_dir(None, configured, environ=env) == Path("/from/env")
    assert resolve_data_dir(None, configured, environ={}) == tmp_path / "from-config"


def test_data_dir_defaults_for_root_and_users() -> None:
    config = Config()
    assert resolve_data_dir(None, config, environ={}, is_root=True) == Path("/var/lib/edgewatch")
    home = {"HOME": "/home/u"}
    assert resolve_data_dir(None, config, environ=home, is_root=False) == Path(
        "/home/u/.local/share/edgewatch"
    )
    xdg = {"HOME": "/home/u", "XDG_DATA_HOME": "/data/xdg"}
    assert resolve_data_dir(None, config, environ=xdg, is_root=False) == Path("/data/xdg/edgewatch")
    relative_xdg = {"HOME": "/home/u", "XDG_DATA_HOME": "rel"}
    assert resolve_data_dir(None, config, environ=relative_xdg, is_root=False) == Path(
        "/home/u/.local/share/edgewatch"
    )


def test_data_dir_default_follows_the_real_user() -> None:
    expected_root = os.geteuid() == 0
    path = resolve_data_dir(None, Config(), environ={"HOME": "/home/u"})
    assert (path == Path("/var/lib/edgewatch")) is expected_root


@pytest.mark.parametrize("unit", ["vision*", "cam?ra.service", "[ab].service"])
def test_glob_in_service_units_is_refused(tmp_path: Path, unit: str) -> None:
    text = f'collectors:\n  services:\n    units:\n      - vision.service\n      - "{unit}"\n'
    (issue,) = errors_of(write(tmp_path, text))
    assert issue.line == 5
    assert issue.field_path == "collectors.services.units[1]"
    assert f"{unit!r} is a glob" in issue.message
    assert "name each unit exactly" in issue.message


def test_plain_service_units_are_accepted(tmp_path: Path) -> None:
    text = "collectors:\n  services:\n    units: [vision, camera.service, dev-sda.device]\n"
    config = load_config(write(tmp_path, text))
    assert config.collectors.services.units == ("vision", "camera.service", "dev-sda.device")
