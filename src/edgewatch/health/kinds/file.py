"""``file``: a file exists, was modified recently (the camera's last frame), size bounds."""

from __future__ import annotations

import os

from edgewatch.config.health import FileCheck
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status


class FileKind:
    def __init__(self, settings: FileCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env

    async def observe(self) -> Observation:
        return await run_blocking(self._observe)

    def _observe(self) -> Observation:
        s = self.settings
        try:
            st = os.stat(s.path)
        except FileNotFoundError:
            return Observation(Status.FAIL, message=f"{s.path} does not exist")
        except OSError as exc:
            return Observation(Status.FAIL, message=f"{s.path}: {exc.strerror}")
        age = max(0.0, self.env.clock() - st.st_mtime)
        if s.max_age is not None and age > s.max_age:
            return Observation(
                Status.FAIL, age, f"not modified for {age:.0f}s (max {s.max_age:g}s)", "seconds"
            )
        if s.min_size is not None and st.st_size < s.min_size:
            return Observation(
                Status.FAIL, age, f"{st.st_size} bytes, fewer than {s.min_size}", "seconds"
            )
        if s.max_size is not None and st.st_size > s.max_size:
            return Observation(
                Status.FAIL, age, f"{st.st_size} bytes, more than {s.max_size}", "seconds"
            )
        return Observation(
            Status.PASS, age, f"modified {age:.0f}s ago, {st.st_size} bytes", "seconds"
        )
