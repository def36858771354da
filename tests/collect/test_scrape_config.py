"""The collectors.scrape section: what it accepts, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.agent import collector_kwargs
from edgewatch.collect.scrape import ScrapeCollector
from edgewatch.config import ConfigError, load_config

GOOD = """\
collectors:
  scrape:
    interval: 10s
    targets:
      - job: vision
        url: http://127.0.0.1:8000/metrics
        labels: {camera: front}
        keep: ['vision_.*']
      - job: camera
        url: http://127.0.0.1:9100/metrics
        interval: 30s
        timeout: 2s
        max_series: 50
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "edgewatch.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={})


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return [str(e) for e in info.value.errors]


def test_a_good_section_builds_the_collector_the_agent_would(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    section = config.collectors.scrape  # type: ignore[attr-defined]
    assert [t.job for t in section.targets] == ["vision", "camera"]
    collector = ScrapeCollector(**collector_kwargs(section))
    assert collector.interval == 10.0  # gcd of 10 s and 30 s
    assert collector.available() is None


def test_defaults_scrape_nothing(tmp_path: Path) -> None:
    section = load(tmp_path, "{}\n").collectors.scrape  # type: ignore[attr-defined]
    assert section.enabled and section.targets == ()
    assert ScrapeCollector(**collector_kwargs(section)).available() is not None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{job: v, url: 'ftp://x/metrics'}", "not an http(s) URL with a host"),
        ("{job: v, url: 'http://127.0.0.1:99999/metrics'}", "out of range"),
        ("{job: '', url: 'http://127.0.0.1/metrics'}", "a job name must be 1 to 128"),
        ("{job: v, url: 'http://h/m', interval: 5s, timeout: 6s}", "timeout (6s) is longer"),
        ("{job: v, url: 'http://h/m', labels: {job: x}}", "'job' is set by the scrape itself"),
        ("{job: v, url: 'http://h/m', labels: {__x: y}}", "'__x' is not a label name"),
        ("{job: v, url: 'http://h/m', keep: ['(']}", "is not a valid regular expression"),
        ("{job: v, url: 'http://h/m', max_series: 0}", "greater than or equal to 1"),
        ("{job: v, url: 'http://h/m', honour_labels: true}", "did you mean 'honor_labels'"),
        ("{job: v, url: 'http://h/m', sample_limit: 0}", "greater than or equal to 1"),
        ("{job: v, url: 'http://h/m', body_size_limit: 1 parsec}", "is not a size"),
        (
            "{job: v, url: 'http://h/m', bearer_token: t, basic_auth: {username: u, password: p}}",
            "set basic_auth or bearer_token, not both",
        ),
    ],
)
def test_bad_targets_are_named_with_file_and_line(
    tmp_path: Path, target: str, message: str
) -> None:
    found = errors(tmp_path, f"collectors:\n  scrape:\n    targets:\n      - {target}\n")
    assert len(found) == 1
    assert f"{tmp_path / 'edgewatch.yaml'}:4: collectors.scrape.targets[0]" in found[0]
    assert message in found[0]


def test_a_timeout_longer_than_the_default_interval_names_the_target(tmp_path: Path) -> None:
    target = "{job: v, url: 'http://h/m', timeout: 20s}"
    found = errors(tmp_path, f"collectors:\n  scrape:\n    targets:\n      - {target}\n")
    assert found == [
        f"{tmp_path / 'edgewatch.yaml'}:3: collectors.scrape: "
        "target 'v': timeout (20s) is longer than its interval (15s)"
    ]


def test_the_same_target_twice_is_an_error(tmp_path: Path) -> None:
    target = "{job: v, url: 'http://127.0.0.1:8000/metrics'}"
    found = errors(tmp_path, f"collectors:\n  scrape:\n    targets: [{target}, {target}]\n")
    assert "is listed twice" in found[0]


def test_limits_and_credentials_are_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "collectors:\n  scrape:\n    body_size_limit: 8MiB\n    sample_limit: 1000\n"
        "    targets:\n      - {job: a, url: 'http://h/m', bearer_token: t0ken}\n"
        "      - job: b\n        url: http://h/m\n        body_size_limit: 64KiB\n"
        "        sample_limit: 10\n        basic_auth: {username: u, password: p4ss}\n",
    )
    section = config.collectors.scrape  # type: ignore[attr-defined]
    assert (section.body_size_limit, section.sample_limit) == (8 * 1024 * 1024, 1000)
    a, b = section.targets
    assert a.bearer_token.get_secret_value() == "t0ken" and a.body_size_limit is None
    assert (b.body_size_limit, b.sample_limit, b.basic_auth.username) == (65536, 10, "u")
    shown = section.model_dump_json()
    assert "t0ken" not in shown and "p4ss" not in shown


def test_credentials_in_the_url_are_refused_and_not_repeated(tmp_path: Path) -> None:
    target = "{job: v, url: 'http://user:hunter2@127.0.0.1:8000/metrics'}"
    found = errors(tmp_path, f"collectors:\n  scrape:\n    targets:\n      - {target}\n")
    assert len(found) == 1
    assert (
        "collectors.scrape.targets[0].url: credentials in the URL (user:password@) are " in found[0]
    )
    assert "give them as basic_auth: {username, password} or bearer_token" in found[0]
    assert "hunter2" not in found[0]
