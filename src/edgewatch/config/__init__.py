"""The edgewatch configuration: pydantic models of the YAML file, and how it is loaded.

edgewatch runs without a file (``Config()`` holds the built-in defaults). A file
is YAML; unknown keys are errors; values may reference the environment
(``${NAME}``, ``${NAME:-default}``, ``NAME_FILE``). Every error names the file,
line and key. See docs/config.md.
"""

from __future__ import annotations

from edgewatch.config.collectors import (
    Collectors,
    CpuCollector,
    DiskCollector,
    MemoryCollector,
    NetworkCollector,
    ProcessesCollector,
    ProcessGroup,
    SelfCollector,
    SensorsCollector,
    ServicesCollector,
    SystemCollector,
)
from edgewatch.config.errors import ConfigError, ConfigIssue
from edgewatch.config.fields import ListenAddress, LogLevel, Regex, parse_listen
from edgewatch.config.loader import load_config, load_yaml_model, parse_yaml_model
from edgewatch.config.model import AgentConfig, Config, Retention, StoreConfig
from edgewatch.config.paths import resolve_config_path, resolve_data_dir
from edgewatch.config.render import render_yaml
from edgewatch.config.secret import Secret
from edgewatch.config.section import Section
from edgewatch.config.units import (
    Duration,
    Size,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from edgewatch.config.web import ApiToken, AuthConfig, PushConfig, QueryConfig

__all__ = [
    "AgentConfig",
    "ApiToken",
    "AuthConfig",
    "Collectors",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "CpuCollector",
    "DiskCollector",
    "Duration",
    "ListenAddress",
    "LogLevel",
    "MemoryCollector",
    "NetworkCollector",
    "ProcessGroup",
    "ProcessesCollector",
    "PushConfig",
    "QueryConfig",
    "Regex",
    "Retention",
    "Secret",
    "Section",
    "SelfCollector",
    "SensorsCollector",
    "ServicesCollector",
    "Size",
    "StoreConfig",
    "SystemCollector",
    "format_duration",
    "format_size",
    "load_config",
    "load_yaml_model",
    "parse_duration",
    "parse_listen",
    "parse_size",
    "parse_yaml_model",
    "render_yaml",
    "resolve_config_path",
    "resolve_data_dir",
]
