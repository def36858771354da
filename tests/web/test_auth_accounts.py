"""Users and their scrypt hashes in the store file; the audit log reader."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from auth_helpers import config, open_ctx

from edgewatch.web.accounts import (
    AccountError,
    Accounts,
    check_name,
    check_password,
    hash_password,
    verify_password,
)
from edgewatch.web.audit import AuditLog, AuditRow, read_audit


def test_scrypt_hash_format_round_trips_and_a_wrong_password_fails() -> None:
    encoded = hash_password("correct horse battery")
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(key)) == 32
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert not verify_password("", encoded)
    assert hash_password("same password here") != hash_password("same password here"), "salted"
    salt_bytes = b"0123456789abcdef"
    fixed = hash_password("same password here", salt=salt_bytes)
    assert fixed == hash_password("same password here", salt=salt_bytes)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain",
        "bcrypt$1$2$3$4$5",
        "scrypt$16384$8$1$!!!$AAAA",
        "scrypt$16385$8$1$AAAA$AAAA",  # n not a power of two
        "scrypt$1073741824$8$1$AAAA$AAAA",  # n far too large
        "scrypt$16384$8$1$AAAA$",
    ],
)
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything at all", encoded)


def test_names_and_passwords_are_checked() -> None:
    assert check_name("alice.smith@example-1") == "alice.smith@example-1"
    for bad in ("", "-alice", "a b", "x" * 65, "anonymous", "al/ice"):
        with pytest.raises(AccountError):
            check_name(bad)
    with pytest.raises(AccountError, match="at least 10 characters"):
        check_password("123456789")
    assert check_password("1234567890") == "1234567890"


def test_accounts_add_update_remove_and_authenticate(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    with open_ctx(tmp_path, config()):
        accounts = Accounts(tmp_path, clock=lambda: now[0])
        assert accounts.users() == [] and not accounts.has_users()
        alice = accounts.add("alice", "first password", "viewer")
        ms = 1_700_000_000_000
        assert (alice.role, alice.created_ms, alice.updated_ms) == ("viewer", ms, ms)
        with pytest.raises(AccountError, match="exists"):
            accounts.add("alice", "other password", "admin")
        with pytest.raises(AccountError, match="bad role"):
            accounts.add("bob", "first password", "root")
        assert accounts.authenticate("alice", "first password") == alice
        assert accounts.authenticate("alice", "wrong password") is None
        assert accounts.authenticate("nobody", "first password") is None
        now[0] += 10
        changed = accounts.add("alice", "second password", "admin", update=True)
        assert changed.created_ms == alice.created_ms
        assert changed.updated_ms == alice.updated_ms + 10_000
        assert accounts.authenticate("alice", "first password") is None
        assert accounts.authenticate("alice", "second password") == changed
        assert [u.name for u in accounts.users()] == ["alice"]
        assert accounts.remove("alice")
        assert not accounts.remove("alice")
        assert not accounts.has_users()


def test_users_of_a_missing_store_are_none_and_nothing_is_created(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "nowhere")
    assert accounts.users() == []
    assert accounts.get("alice") is None
    assert not accounts.has_users()
    assert not (tmp_path / "nowhere").exists()


def test_read_audit_is_newest_first_and_limited(tmp_path: Path) -> None:
    assert read_audit(tmp_path) == []
    with open_ctx(tmp_path, config()):
        assert read_audit(tmp_path) == [], "no table yet"
        log = AuditLog(tmp_path, clock=lambda: 1_700_000_000.5)
        for i in range(5):
            log.write(AuditRow(f"a{i}", "token", "admin", "POST", f"/api/x/{i}", 200, "127.0.0.1"))
        rows = read_audit(tmp_path / "edgewatch.db", limit=3)
    assert [r.actor for r in rows] == ["a4", "a3", "a2"]
    assert rows[0].ts_ms == 1_700_000_000_500
    assert rows[0].client == "127.0.0.1"
