"""What the web app needs from the agent, built by the composition root and passed down.

The agent builds this before the web app is loaded (web/lazy.py), so this module
imports no fastapi; ``get_context``, the routers' dependency, lives in
web/dependencies.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.config import Config
from edgewatch.live import LiveHub
from edgewatch.model import MetricFamily
from edgewatch.query import Engine
from edgewatch.store import Store
from edgewatch.store.reader import Reader


@dataclass
class AppContext:
    config: Config
    reader: Reader  # the agent's Store, or a read-only one
    engine: Engine
    hub: LiveHub
    data_dir: Path
    # The writable store (push ingest); None when the app serves a read-only store.
    store: Store | None = None
    # Metric families by name, for HELP/TYPE in /metrics and /api/v1/metadata.
    families: Callable[[], dict[str, MetricFamily]] = dict
    # True once the agent's store is open and its collectors run (/readyz).
    ready: Callable[[], bool] = field(default=lambda: True)
    # The health monitor (edgewatch.health.runner.HealthMonitor); None: no checks run here.
    health: Any = None
    # The alerting engine (edgewatch.alerting.service.AlertingService); None: not running.
    alerting: Any = None
    # Its stores, for the silence and acknowledgement routes (None: alerting not running).
    silences: Any = None  # edgewatch.alerting.silences.SilenceStore
    acks: Any = None  # edgewatch.alerting.acks.AckStore
    ack_links: Any = None  # edgewatch.alerting.ack_link.AckLinks
