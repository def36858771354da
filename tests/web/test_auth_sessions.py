"""Dashboard logins: a user added with the CLI logs in, gets signed cookies, and must
send the CSRF header to change anything; expired, tampered and stale cookies fail."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from auth_helpers import (
    ADMIN_TOKEN,
    PASSWORD,
    add_user,
    bearer,
    build_app,
    client,
    config,
    open_ctx,
)

from edgewatch.web.accounts import Accounts
from edgewatch.web.audit import read_audit
from edgewatch.web.auth import AuthService
from edgewatch.web.context import AppContext
from edgewatch.web.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SessionKeyError,
    load_or_create_key,
)

pytestmark = pytest.mark.anyio


def session_header(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


async def login(c: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    return await c.post("/api/login", json={"username": user, "password": password})


async def test_cli_user_logs_in_reads_and_mutates_only_with_the_csrf_header(
    tmp_path: Path,
) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True)) as c:
            before = await c.get("/api/system")
            r = await login(c, "alice")
            read = await c.get("/api/system")
            who = await c.get("/api/whoami")
            no_csrf = await c.post("/api/things")
            wrong_csrf = await c.post("/api/things", headers={"X-CSRF-Token": "forged"})
            csrf = c.cookies[CSRF_COOKIE]
            ok = await c.post("/api/things", headers={"X-CSRF-Token": csrf})
        rows = read_audit(ctx.reader.path)
    assert before.status_code == 401, "a user exists: loopback needs a login now"
    assert r.status_code == 200
    assert r.json()["user"] == "alice" and r.json()["role"] == "admin"
    cookies = r.headers.get_list("set-cookie")
    session_cookie = next(h for h in cookies if h.startswith(f"{SESSION_COOKIE}="))
    csrf_cookie = next(h for h in cookies if h.startswith(f"{CSRF_COOKIE}="))
    assert "httponly" in session_cookie.lower()
    assert "samesite=strict" in session_cookie.lower()
    assert "path=/" in session_cookie.lower()
    assert "secure" not in session_cookie.lower()
    assert "httponly" not in csrf_cookie.lower(), "the page's script reads the CSRF cookie"
    assert read.status_code == 200
    assert who.json() == {"user": "alice", "role": "admin", "via": "session"}
    assert no_csrf.status_code == 403
    assert no_csrf.json() == {"error": "missing or wrong X-CSRF-Token header"}
    assert wrong_csrf.status_code == 403
    assert ok.status_code == 200
    assert [(e.path, e.status, e.actor, e.via) for e in rows] == [
        ("/api/things", 200, "alice", "session"),
        ("/api/things", 403, "alice", "session"),
        ("/api/things", 403, "alice", "session"),
        ("/api/login", 200, "alice", "session"),
    ]


async def test_secure_cookies_flag_marks_both_cookies_secure(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(secure_cookies=True)) as ctx:
        add_user(tmp_path, "alice", "viewer")
        async with client(build_app(ctx, loopback=True)) as c:
            r = await login(c, "alice")
    assert r.status_code == 200
    assert all("secure" in h.lower() for h in r.headers.get_list("set-cookie"))


async def test_form_login_redirects_to_a_local_next_only(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "alice", "viewer")
        async with client(build_app(ctx, loopback=True)) as c:
            form = {"username": "alice", "password": PASSWORD, "next": "/dashboard"}
            local = await c.post("/api/login", data=form)
            evil = await c.post("/api/login", data={**form, "next": "//evil.example/"})
            failed = await c.post("/api/login", data={**form, "password": "wrong password!"})
            bad = await c.post(
                "/api/login", content=b"{not json", headers={"content-type": "application/json"}
            )
            other = await c.post("/api/login", content=b"x", headers={"content-type": "text/plain"})
    assert local.status_code == 303 and local.headers["location"] == "/dashboard"
    assert SESSION_COOKIE in local.cookies
    assert evil.status_code == 200 and evil.json()["user"] == "alice"
    assert failed.status_code == 303 and failed.headers["location"] == "/login?failed=1"
    assert bad.status_code == 400
    assert other.status_code == 415


async def test_viewer_session_cannot_mutate_even_with_csrf(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "victor", "viewer")
        async with client(build_app(ctx, loopback=True)) as c:
            await login(c, "victor")
            r = await c.post("/api/things", headers={"X-CSRF-Token": c.cookies[CSRF_COOKIE]})
    assert r.status_code == 403 and r.json() == {"error": "this needs the admin role"}


async def test_wrong_password_is_401_logged_by_name_and_nothing_secret_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True)) as c:
            wrong = await login(c, "alice", "not the password at all")
            nobody = await login(c, "mallory", "not the password either")
            ok = await login(c, "alice")
            session = c.cookies[SESSION_COOKIE]
            csrf = c.cookies[CSRF_COOKIE]
            await c.post("/api/things", headers={"X-CSRF-Token": csrf})
            await c.post("/api/things", headers=bearer(ADMIN_TOKEN))
            await c.get("/api/system", headers=bearer(ADMIN_TOKEN + "typo"))
            await c.post("/api/logout")
        with closing(sqlite3.connect(ctx.reader.path)) as conn:
            hashes = [row[0] for row in conn.execute("SELECT password_hash FROM users")]
    assert len(hashes) == 1
    assert wrong.status_code == 401 and nobody.status_code == 401
    assert wrong.json() == nobody.json() == {"error": "wrong user name or password"}
    assert ok.status_code == 200
    text = caplog.text
    assert "failed login for user 'alice'" in text
    assert "failed login for user 'mallory'" in text
    for secret in (
        PASSWORD,
        "not the password at all",
        "not the password either",
        ADMIN_TOKEN,
        session,
        session.split(".")[1],
        csrf,
        *hashes,
    ):
        assert secret not in text


async def test_failed_logins_are_rate_limited_per_client(tmp_path: Path) -> None:
    def fast(ctx: AppContext) -> AuthService:
        return AuthService(ctx, loopback=True, fail_delay_s=0.0)

    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True, service=fast)) as c:
            failures = [
                (await login(c, "alice", f"guess number {i}")).status_code for i in range(10)
            ]
            limited = await login(c, "alice")
        rows = read_audit(ctx.reader.path, limit=1)
    assert failures == [401] * 10
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert SESSION_COOKIE not in limited.cookies, "even the right password waits"
    assert rows[0].status == 429


async def test_session_expires(tmp_path: Path) -> None:
    now = [1_800_000_000.0]

    def clocked(ctx: AppContext) -> AuthService:
        return AuthService(ctx, loopback=True, clock=lambda: now[0])

    with open_ctx(tmp_path, config(session_lifetime="1h")) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True, service=clocked)) as c:
            await login(c, "alice")
            now[0] += 3599
            fresh = await c.get("/api/system")
            now[0] += 2
            stale = await c.get("/api/system")
    assert fresh.status_code == 200
    assert stale.status_code == 401


async def test_tiny_session_lifetime_expires_at_once(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(session_lifetime=0.001)) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True)) as c:
            r = await login(c, "alice")
            assert r.status_code == 200
            cookie = c.cookies[SESSION_COOKIE]
            c.cookies.clear()
            later = await c.get("/api/system", headers=session_header(cookie))
    assert later.status_code == 401


async def test_tampered_cookie_is_refused(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "victor", "viewer")
        async with client(build_app(ctx, loopback=True)) as c:
            await login(c, "victor")
            cookie = c.cookies[SESSION_COOKIE]
            c.cookies.clear()
            body, sig = cookie.split(".")
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            payload["r"] = "admin"
            forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
            # One character in the middle of the signature changed (the last ones may
            # carry only padding bits, or already be the replacement: a flaky forgery).
            flipped = sig[:5] + ("B" if sig[5] != "B" else "C") + sig[6:]
            attempts = [
                f"{forged}.{sig}",
                f"{body}.{flipped}",
                f"{body}x.{sig}",
                body,
                "",
                "a.b.c",
            ]
            results = [
                (await c.get("/api/system", headers=session_header(a))).status_code
                for a in attempts
            ]
            genuine = await c.get("/api/system", headers=session_header(cookie))
    assert results == [401] * len(attempts)
    assert genuine.status_code == 200


async def test_removed_or_changed_user_loses_its_session(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "alice", "admin")
        add_user(tmp_path, "bob", "admin")
        accounts = Accounts(tmp_path)
        async with client(build_app(ctx, loopback=True)) as c:
            await login(c, "alice")
            alice = c.cookies[SESSION_COOKIE]
            await login(c, "bob")
            bob = c.cookies[SESSION_COOKIE]
            c.cookies.clear()
            accounts.remove("alice")
            accounts.add("bob", "a new password here", "admin", update=True)
            gone = await c.get("/api/system", headers=session_header(alice))
            changed = await c.get("/api/system", headers=session_header(bob))
            relogin = await login(c, "bob", "a new password here")
    assert gone.status_code == 401
    assert changed.status_code == 401
    assert relogin.status_code == 200


async def test_logout_clears_cookies_and_is_audited(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True)) as c:
            await login(c, "alice")
            out = await c.post("/api/logout")
            after = await c.get("/api/system")
        rows = read_audit(ctx.reader.path, limit=1)
    assert out.status_code == 200
    cleared = out.headers.get_list("set-cookie")
    assert any(h.startswith(f'{SESSION_COOKIE}=""') or "max-age=0" in h.lower() for h in cleared)
    assert len(cleared) == 2
    assert after.status_code == 401
    assert (rows[0].path, rows[0].actor, rows[0].via) == ("/api/logout", "alice", "session")


async def test_session_key_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        add_user(tmp_path, "alice", "admin")
        async with client(build_app(ctx, loopback=True)) as c:
            await login(c, "alice")
            cookie = c.cookies[SESSION_COOKIE]
    key_file = tmp_path / "session.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    assert len(key) == 32
    with open_ctx(tmp_path, config()) as ctx:  # the agent restarted
        async with client(build_app(ctx, loopback=True)) as c:
            r = await c.get("/api/whoami", headers=session_header(cookie))
    assert r.json() == {"user": "alice", "role": "admin", "via": "session"}
    assert key_file.read_bytes() == key


def test_session_key_file_with_loose_mode_is_tightened_and_a_short_one_refused(
    tmp_path: Path,
) -> None:
    key = load_or_create_key(tmp_path)
    path = tmp_path / "session.key"
    path.chmod(0o644)
    assert load_or_create_key(tmp_path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(b"short")
    with pytest.raises(SessionKeyError, match="not a session key") as info:
        load_or_create_key(tmp_path)
    assert "short" not in str(info.value)
