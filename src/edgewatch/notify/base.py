"""The one seam every channel implements: ``send(notification) -> None``.

A channel raises ``DeliveryError`` when the receiver did not take the message;
``permanent=True`` (a 4xx, bad credentials, a refused address) stops retries,
anything else is retried by the outbox with backoff.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from edgewatch.alerting.notice import Notification


class DeliveryError(Exception):
    """The receiver did not take the notification. ``str(err)`` is recorded; it
    must never contain a secret (password, token, URL credentials)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class Channel(Protocol):
    """One integration of one receiver (an email address list, a webhook URL, ...).

    ``send`` is a coroutine run on the agent's event loop: blocking work
    (smtplib, a subprocess wait) goes to a thread. It returns when the peer took
    the message and raises ``DeliveryError`` otherwise; it must respect its own
    timeout. ``describe()`` is a one-line, secret-free description for logs.
    """

    async def send(self, notification: Notification) -> None: ...

    def describe(self) -> str: ...
