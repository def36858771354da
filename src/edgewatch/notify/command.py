"""The command channel: run a local program per notification.

The program runs without a shell, in its own process group, with the
webhook JSON on stdin and ``EW_*`` environment variables. Exit 0 means
delivered; another exit code is retried, except 126 and 127 (the program
cannot be executed) which, like a missing program, are permanent. Past its
timeout the program and its children are killed and the attempt is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from edgewatch.alerting.notice import Notification
from edgewatch.config.notify import CommandConfig
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.payload import encode, webhook_payload

# Variables passed on from edgewatch's own environment; the rest (which may
# hold secrets given as ${NAME}) stays out of the program's.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")
CANNOT_EXECUTE = (126, 127)
_STDERR_TAIL = 200


def notification_env(n: Notification) -> dict[str, str]:
    """The ``EW_*`` variables describing ``n``."""
    common = n.common_labels()
    annotations = n.common_annotations()
    return {
        "EW_RECEIVER": n.receiver,
        "EW_STATUS": n.status.value,
        "EW_KIND": n.kind.value,
        "EW_GROUP_KEY": n.group_key,
        "EW_ALERT_COUNT": str(len(n.alerts)),
        "EW_FIRING_COUNT": str(sum(1 for a in n.alerts if a.status.value == "firing")),
        "EW_ALERTNAME": common.get("alertname", ""),
        "EW_SEVERITY": common.get("severity", ""),
        "EW_SUMMARY": annotations.get("summary", ""),
        "EW_ACK_URL": n.ack_url,
    }


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return " ".join(text[-_STDERR_TAIL:].split())


class CommandChannel:
    """Runs ``config.argv`` with the notification on stdin."""

    def __init__(self, config: CommandConfig) -> None:
        self.config = config

    def describe(self) -> str:
        return f"command {self.config.argv[0]}"

    def environment(self, n: Notification) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update(self.config.env)
        env.update(notification_env(n))
        return env

    async def send(self, notification: Notification) -> None:
        body = encode(webhook_payload(notification))
        program = self.config.argv[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.config.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=self.environment(notification),
                start_new_session=True,
            )
        except OSError as exc:  # missing, not executable, ...
            raise DeliveryError(
                f"cannot run {program}: {exc.strerror or exc}", permanent=True
            ) from None
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(body), self.config.timeout)
        except TimeoutError:
            self._kill(proc)
            await proc.wait()
            raise DeliveryError(
                f"{program} did not finish within {self.config.timeout:g}s; killed"
            ) from None
        except BaseException:  # cancelled: do not leave the program behind
            self._kill(proc)
            raise
        code = proc.returncode
        if code == 0:
            return
        message = f"{program} exited with {code}"
        if code is not None and code < 0:
            message = f"{program} was killed by signal {-code}"
        tail = _tail(stderr)
        if tail:
            message = f"{message}: {tail}"
        raise DeliveryError(message, permanent=code in CANNOT_EXECUTE)

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
