"""Dashboard users: the ``users`` table in the store's SQLite file and scrypt password hashes.

Passwords are stored as ``scrypt$n$r$p$salt_b64$hash_b64`` and checked in constant
time. Every call opens its own short-lived connection (``busy_timeout`` 5 s, short
transactions): the store's writer thread writes other tables of the same file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.config.web import Role

if TYPE_CHECKING:
    from edgewatch.config import Config

DB_NAME = "edgewatch.db"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
ROLES: tuple[Role, ...] = ("viewer", "admin")
# The name the audit log and /api/whoami give requests without credentials.
ANONYMOUS = "anonymous"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
_MAXMEM = 64 * 1024 * 1024

USERS_DDL = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
)
"""


class AccountError(ValueError):
    """A bad user name, role or password, or a user that exists (or does not)."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_ms: int
    updated_ms: int


# ------------------------------------------------------------------ database


def db_file(path: Path) -> Path:
    """The store's SQLite file for ``path``: a data directory or a ``.db`` file."""
    path = Path(path)
    return path if path.suffix == ".db" and not path.is_dir() else path / DB_NAME


@contextmanager
def open_db(path: Path, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    """A short-lived autocommit connection to the store file (which must exist)."""
    path = db_file(path)
    if readonly:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=5.0
        )
    else:
        if not path.exists():
            raise FileNotFoundError(f"no edgewatch store at {path}")
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    with closing(conn):
        conn.execute("PRAGMA busy_timeout = 5000")
        yield conn


def table_exists(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return row is not None


# ------------------------------------------------------------------ passwords


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt_b64$hash_b64`` for ``password`` (n=2**14, r=8, p=1)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=KEY_BYTES,
        maxmem=_MAXMEM,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; constant time in the comparison."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    # Bounds keep a crafted row from costing unbounded memory or time.
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    if not expected or len(expected) > 128:
        return False
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=_MAXMEM
    )
    return hmac.compare_digest(key, expected)


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise AccountError(
            f"bad user name {name[:64]!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    if name == ANONYMOUS:
        raise AccountError(f"{ANONYMOUS!r} is reserved for requests without credentials")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters")
    return password


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"bad role {role!r}: use viewer or admin")
    return role


# ------------------------------------------------------------------ accounts


class Accounts:
    """The users of one store file. Blocking (SQLite, scrypt): call off the event loop."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = db_file(path)
        self._clock = clock
        self._dummy_hash: str | None = None

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def add(self, name: str, password: str, role: str, *, update: bool = False) -> User:
        """Create the user, or with ``update`` replace its password and role.

        A changed user gets a new ``updated_ms``, which ends its existing sessions.
        """
        check_name(name)
        checked_role = check_role(role)
        encoded = hash_password(check_password(password))
        now = self._now_ms()
        with open_db(self.path) as conn:
            conn.execute(USERS_DDL)
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT created_ms, updated_ms FROM users WHERE name = ?", (name,)
                ).fetchone()
                if row is not None and not update:
                    raise AccountError(f"user {name!r} exists (use --update to change it)")
                created = now if row is None else int(row[0])
                updated = now if row is None else max(now, int(row[1]) + 1)
                conn.execute(
                    "INSERT OR REPLACE INTO users (name, role, password_hash, created_ms, "
                    "updated_ms) VALUES (?, ?, ?, ?, ?)",
                    (name, checked_role, encoded, created, updated),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return User(name, checked_role, created, updated)

    def remove(self, name: str) -> bool:
        """Delete the user; False when there was none."""
        with open_db(self.path) as conn:
            if not table_exists(conn, "users"):
                return False
            cur = conn.execute("DELETE FROM users WHERE name = ?", (name,))
            return cur.rowcount > 0

    def users(self) -> list[User]:
        return [user for user, _ in self._rows("ORDER BY name", ())]

    def get(self, name: str) -> User | None:
        rows = self._rows("WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def has_users(self) -> bool:
        return bool(self._rows("LIMIT 1", ()))

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is right; None otherwise.

        An unknown user costs one scrypt too, so the answer's timing does not tell
        which names exist.
        """
        rows = self._rows("WHERE name = ?", (name,))
        if not rows:
            if self._dummy_hash is None:
                self._dummy_hash = hash_password(secrets.token_urlsafe(16))
            verify_password(password, self._dummy_hash)
            return None
        user, encoded = rows[0]
        return user if verify_password(password, encoded) else None

    def _rows(self, where: str, args: tuple[object, ...]) -> list[tuple[User, str]]:
        """Users (and their hashes) selected by ``where``: a WHERE/ORDER/LIMIT clause."""
        if not self.path.exists():
            return []
        with open_db(self.path, readonly=True) as conn:
            if not table_exists(conn, "users"):
                return []
            cur = conn.execute(
                f"SELECT name, role, password_hash, created_ms, updated_ms FROM users {where}",
                args,
            )
            return [
                (User(name, check_role(role), int(created), int(updated)), encoded)
                for name, role, encoded, created, updated in cur.fetchall()
            ]


def auth_configured(config: Config, db_path: Path) -> bool:
    """True when at least one API token or one dashboard user exists.

    ``db_path`` is the store file or its data directory; a missing file has no users.
    Here, not in web/auth.py: the agent asks before it loads the web app (web/lazy.py).
    """
    return bool(config.auth.tokens) or Accounts(db_path).has_users()
