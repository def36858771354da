"""Dashboard sessions in signed cookies, and their CSRF tokens (double submit).

The session cookie is ``base64url(payload) "." base64url(hmac_sha256(key, payload))``;
the payload holds the user, role, expiry, a random session id, the CSRF token and the
user's ``updated_ms`` (a changed or removed user ends its sessions). The key is 32
random bytes in ``data_dir/session.key`` (mode 0600), kept across restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgewatch.config.web import Role

log = logging.getLogger(__name__)

SESSION_COOKIE = "edgewatch_session"
CSRF_COOKIE = "edgewatch_csrf"
CSRF_HEADER = "x-csrf-token"
KEY_FILE = "session.key"
KEY_BYTES = 32
MAX_COOKIE = 4096
_DOMAIN = b"edgewatch-session-v1."


class SessionKeyError(Exception):
    """The session key file cannot be read or created."""


def load_or_create_key(data_dir: Path) -> bytes:
    """The signing key in ``data_dir/session.key``, created (0600) on first use."""
    path = Path(data_dir) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as exc:
        raise SessionKeyError(f"cannot create {path}: {exc.strerror}") from exc
    key = secrets.token_bytes(KEY_BYTES)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise SessionKeyError(f"cannot write {path}: {exc.strerror}") from exc
    log.info("auth: created session key %s", path)
    return key


def _read_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            log.warning("auth: %s was readable by others; setting its mode to 0600", path)
            path.chmod(0o600)
        key = path.read_bytes()
    except OSError as exc:
        raise SessionKeyError(f"cannot read {path}: {exc.strerror}") from exc
    if len(key) < KEY_BYTES:
        raise SessionKeyError(
            f"{path} holds {len(key)} bytes, not a session key of {KEY_BYTES}; "
            "remove it and a new one is made (existing logins end)"
        )
    return key


@dataclass(frozen=True)
class Session:
    user: str
    role: Role
    expires_ms: int
    sid: str
    csrf: str
    # The user's updated_ms when the session began: a changed user ends it.
    version: int


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session cookies with one key."""

    def __init__(
        self, key: bytes, *, lifetime_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self.lifetime_s = lifetime_s
        self._clock = clock

    def _sign(self, payload_b64: str) -> bytes:
        return hmac.new(self._key, _DOMAIN + payload_b64.encode("ascii"), hashlib.sha256).digest()

    def issue(self, user: str, role: Role, version: int) -> tuple[str, Session]:
        """A new session for ``user``: the cookie value and what it holds."""
        session = Session(
            user=user,
            role=role,
            expires_ms=int((self._clock() + self.lifetime_s) * 1000),
            sid=secrets.token_urlsafe(16),
            csrf=secrets.token_urlsafe(24),
            version=version,
        )
        payload = {
            "u": session.user,
            "r": session.role,
            "e": session.expires_ms,
            "s": session.sid,
            "c": session.csrf,
            "v": session.version,
        }
        body = _b64e(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{_b64e(self._sign(body))}", session

    def verify(self, cookie: str) -> Session | None:
        """The session in ``cookie`` when its signature is good and it has not expired."""
        if len(cookie) > MAX_COOKIE or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        try:
            given = _b64d(signature)
            if not hmac.compare_digest(given, self._sign(body)):
                return None
            data = json.loads(_b64d(body))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return None
        try:
            session = Session(
                user=str(data["u"]),
                role="admin" if data["r"] == "admin" else "viewer",
                expires_ms=int(data["e"]),
                sid=str(data["s"]),
                csrf=str(data["c"]),
                version=int(data["v"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if session.expires_ms <= int(self._clock() * 1000):
            return None
        return session


def csrf_ok(expected: str, header: str | None) -> bool:
    """Double submit: the ``X-CSRF-Token`` header equals the session's CSRF token
    (which is also the ``edgewatch_csrf`` cookie); constant time."""
    if not header or not expected:
        return False
    return hmac.compare_digest(header.encode("utf-8"), expected.encode("utf-8"))
