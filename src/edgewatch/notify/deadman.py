"""The outward dead man's switch: ping a URL while edgewatch runs.

A service such as healthchecks.io expects a ping every interval and alerts
someone when pings stop: the one failure a device cannot report itself (power
cut, network gone, edgewatch dead). A failed ping is logged once per outage,
not every interval, and counted; the recovery is logged with the outage's
length. The URL is a secret (whoever has it can ping) and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from edgewatch import __version__
from edgewatch.config.notify import DeadmanSettings
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.webhook import check_response, redact_url, transport_error

log = logging.getLogger(__name__)


def _host_only(url: str) -> str:
    """``scheme://host[:port]``: a ping URL's path is its secret (``/<uuid>``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{redact_url(url).split('/', 3)[2]}" if parts.scheme else "?"


class DeadMansSwitch:
    """Pings ``config.url`` every ``config.interval`` seconds."""

    def __init__(self, config: DeadmanSettings, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.pings_ok = 0
        self.pings_failed = 0
        self.last_ok: float | None = None
        self.down_since: float | None = None
        """When the current outage began (None: the last ping went through)."""

    @property
    def enabled(self) -> bool:
        return self.config.url is not None

    async def ping(self) -> bool:
        """One ping; True when the URL answered 2xx."""
        if self.config.url is None:
            return False
        import httpx  # here, not at import: only an agent with a ping URL needs it

        url = self.config.url.get_secret_value()
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout) as client:
                response = await client.request(
                    self.config.method, url, headers={"User-Agent": f"edgewatch/{__version__}"}
                )
            check_response(response, url)
        except httpx.HTTPError as exc:
            self._failed(transport_error(exc, url), url)
            return False
        except DeliveryError as exc:
            self._failed(exc, url)
            return False
        now = self._clock()
        self.pings_ok += 1
        self.last_ok = now
        if self.down_since is not None:
            log.info(
                "dead man's switch: %s reachable again after %.0f s",
                _host_only(url),
                now - self.down_since,
            )
            self.down_since = None
        return True

    def _failed(self, error: DeliveryError, url: str) -> None:
        self.pings_failed += 1
        if self.down_since is None:
            self.down_since = self._clock()
            message = str(error).replace(redact_url(url), _host_only(url))
            log.warning("dead man's switch: ping failed (logged once until it works): %s", message)

    async def run(self, stop: asyncio.Event) -> None:
        """Ping every interval until ``stop`` is set (returns at once when off)."""
        if not self.enabled:
            return
        while not stop.is_set():
            await self.ping()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.interval)
