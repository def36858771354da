"""``load_rule_groups``: rule files by path and glob, the built-in pack, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.alerting.loading import BUILTIN, load_rule_groups
from edgewatch.config.alerting import AlertingConfig
from edgewatch.config.errors import ConfigError

GROUP = "groups:\n  - name: {name}\n    rules:\n      - alert: A\n        expr: up == 0\n"


def test_paths_and_globs_load_in_order(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    for name in ("b", "a"):
        (tmp_path / "rules" / f"{name}.yml").write_text(GROUP.format(name=name))
    (tmp_path / "one.yml").write_text(GROUP.format(name="one"))
    config = AlertingConfig(
        rule_files=[tmp_path / "one.yml", tmp_path / "rules" / "*.yml", tmp_path / "no" / "*.yml"],
        default_rules=False,
    )
    keys = [g.key for g in load_rule_groups(config)]
    assert keys == [f"{tmp_path}/one.yml:one", f"{tmp_path}/rules/a.yml:a",
                    f"{tmp_path}/rules/b.yml:b"]  # fmt: skip


def test_bad_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n")
    config = AlertingConfig(
        rule_files=[tmp_path / "bad.yml", tmp_path / "missing.yml"], default_rules=False
    )
    with pytest.raises(ConfigError) as err:
        load_rule_groups(config)
    text = str(err.value)
    assert f"{tmp_path}/bad.yml:4" in text and "expr" in text
    assert f"{tmp_path}/missing.yml: cannot read rule file" in text


def test_the_builtin_pack_loads_when_shipped() -> None:
    groups = load_rule_groups(AlertingConfig())
    assert all(g.source == BUILTIN for g in groups)
    assert load_rule_groups(AlertingConfig(default_rules=False)) == []


def test_external_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="not a valid label name"):
        AlertingConfig(external_labels={"9x": "y"})
    with pytest.raises(ValueError, match="not an http"):
        AlertingConfig(external_url="shop-12")
    assert AlertingConfig(external_url="http://d:9100/").external_url == "http://d:9100"


def test_a_user_rule_replaces_the_builtin_rule_of_the_same_alert_name(tmp_path: Path) -> None:
    builtin = load_rule_groups(AlertingConfig())
    names = [r.alert for g in builtin for r in g.group.rules]
    assert "DiskAlmostFull" in names
    file = tmp_path / "mine.yml"
    file.write_text(
        "groups:\n  - name: mine\n    rules:\n"
        "      - alert: DiskAlmostFull\n        expr: vector(1) > 0.5\n"
    )
    groups = load_rule_groups(AlertingConfig(rule_files=[file]))
    found = [
        (g.source, r.expr) for g in groups for r in g.group.rules if r.alert == "DiskAlmostFull"
    ]
    assert found == [(str(file), "vector(1) > 0.5")]
    others = [r.alert for g in groups if g.source == BUILTIN for r in g.group.rules]
    assert sorted(others) == sorted(n for n in names if n != "DiskAlmostFull")
