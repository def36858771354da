"""Network reachability: ``tcp`` connect (``dns`` and ``ping`` below)."""

from __future__ import annotations

import asyncio
import time

from edgewatch.config.health import TcpCheck
from edgewatch.health.model import CheckEnv, Observation, Status


class TcpKind:
    def __init__(self, settings: TcpCheck, env: CheckEnv) -> None:
        self.settings = settings

    async def observe(self) -> Observation:
        s = self.settings
        started = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(s.host, s.port)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Observation(Status.FAIL, message=f"{s.host}:{s.port}: {reason}")
        latency = time.perf_counter() - started
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass  # the connection was made: that is what the check asks
        return Observation(Status.PASS, latency, f"connected in {latency * 1000:.1f} ms", "seconds")
