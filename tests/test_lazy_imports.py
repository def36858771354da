"""What ``edgewatch run`` keeps out of memory until it is used (bench/agent_overhead.py
measures the RSS): the libraries of features a default agent does not run."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

from edgewatch.commands import fleet as fleet_cmd
from edgewatch.malloc import limit_arenas

# Imported by the feature that uses them, never by the agent's start-up.
NOT_AT_START = (
    "httpx",  # webhook/Alertmanager channels, the dead man's switch, the http check
    "jinja2",  # dashboard pages (first render), notification templates, fleet page
    "edgewatch.export.remote_write",  # only with remote_write endpoints (protobuf, cramjam)
    "edgewatch.fleet",  # the `edgewatch fleet` command
    "edgewatch.alerting.backtest",  # `edgewatch rules backtest`
    "edgewatch.alerting.unittest",  # `edgewatch rules test`
    "pynvml",  # the nvidia collector, where NVML is
)


def _loaded_after(code: str) -> dict[str, bool]:
    report = f"print(json.dumps({{m: m in sys.modules for m in {NOT_AT_START!r}}}))"
    script = f"{code}\nimport json, sys\n{report}"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: dict[str, bool] = json.loads(out.stdout.splitlines()[-1])
    return loaded


def test_the_cli_and_the_agent_import_none_of_the_on_demand_libraries() -> None:
    loaded = _loaded_after(
        "import edgewatch.cli, edgewatch.agent\n"
        "from edgewatch.agent import Agent\n"
        "from edgewatch.config import Config\n"
        "from edgewatch.web.app import create_app"
    )
    assert [name for name, is_loaded in loaded.items() if is_loaded] == []


def test_a_machine_without_nvml_does_not_import_pynvml() -> None:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        pass
    else:
        pytest.skip("this machine has NVML: the collector imports pynvml, rightly")
    loaded = _loaded_after(
        "from edgewatch.collect.nvidia import NvidiaCollector\n"
        "reason = NvidiaCollector().available()\n"
        "assert reason is not None, reason\n"
        "assert reason.startswith(('NVML cannot start', 'nvidia-ml-py')), reason"
    )
    assert loaded["pynvml"] is False


def test_fleet_option_defaults_are_the_fleet_packages_own() -> None:
    from edgewatch.fleet.app import DEFAULT_REFRESH_S
    from edgewatch.fleet.engine import DEFAULT_TIMEOUT_S

    assert fleet_cmd.DEFAULT_REFRESH_S == DEFAULT_REFRESH_S
    assert fleet_cmd.DEFAULT_TIMEOUT_S == DEFAULT_TIMEOUT_S


def test_malloc_arena_max_in_the_environment_wins() -> None:
    assert limit_arenas(environ={"MALLOC_ARENA_MAX": "4"}) is False


def test_arenas_are_capped_on_glibc() -> None:
    if not hasattr(ctypes.CDLL(None), "gnu_get_libc_version"):
        pytest.skip("not glibc: no arenas to cap")
    code = "from edgewatch.malloc import limit_arenas; print(limit_arenas(environ={}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "True"
