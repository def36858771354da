"""The silences, mute and acknowledgement routes, in-process over a real store file,
with the real auth layer (API tokens) in front."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from auth_helpers import ADMIN_TOKEN, VIEWER_TOKEN, bearer, client, config, open_ctx
from fastapi import FastAPI

from edgewatch.alerting.ack_link import AckLinks
from edgewatch.alerting.acks import AckStore
from edgewatch.alerting.silences import SilenceStore
from edgewatch.web import api_silences
from edgewatch.web.audit import read_audit
from edgewatch.web.auth import install_auth, is_open
from edgewatch.web.context import AppContext
from edgewatch.web.errors import install_error_handlers

pytestmark = pytest.mark.anyio
FP = "0123456789abcdef"
ADMIN = bearer(ADMIN_TOKEN)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        yield ctx


def _app(ctx: AppContext, *, running: bool = True) -> FastAPI:
    if running:
        ctx.silences = SilenceStore(ctx.reader.path)
        ctx.acks = AckStore(ctx.reader.path)
        ctx.ack_links = AckLinks(b"k" * 32, "http://dev.example:8700")
    app = FastAPI()
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(api_silences.router)
    install_auth(app, ctx, loopback=False)
    return app


async def test_every_route_answers_503_while_alerting_is_not_running(ctx: AppContext) -> None:
    async with client(_app(ctx, running=False), headers=ADMIN) as c:
        for method, path in [
            ("GET", "/api/silences"),
            ("GET", "/api/silences/x"),
            ("DELETE", "/api/silences/x"),
            ("POST", f"/api/alerts/{FP}/ack"),
        ]:
            r = await c.request(method, path)
            assert (r.status_code, r.json()) == (
                503,
                {"error": "alerting is not running", "detail": None},
            ), path


async def test_admin_creates_lists_and_expires_a_silence(ctx: AppContext) -> None:
    app = _app(ctx)
    async with client(app, headers=ADMIN) as c:
        r = await c.post(
            "/api/silences",
            json={
                "matchers": ['alertname="DiskFull"', 'device=~"sd.*"'],
                "duration": "2h",
                "comment": "new disk on order",
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == {"state": "active"}
        assert body["createdBy"] == "ci"  # the token's name, not anything in the body
        assert body["matchers"][1] == {
            "name": "device",
            "value": "sd.*",
            "isRegex": True,
            "isEqual": True,
        }
        sid = body["id"]
        assert ctx.silences.silenced_by(
            {"alertname": "DiskFull", "device": "sda"}, ctx.silences.now_ms()
        ) == [sid]
        listed = (await c.get("/api/silences", params={"state": "active"})).json()
        assert [s["id"] for s in listed] == [sid]
        assert (await c.get(f"/api/silences/{sid}")).json()["comment"] == "new disk on order"
        r = await c.delete(f"/api/silences/{sid}")
        assert r.status_code == 200 and r.json()["status"]["state"] == "expired"
        r = await c.delete(f"/api/silences/{sid}")
        assert r.status_code == 409 and "already expired" in r.json()["error"]
        assert (await c.delete("/api/silences/nope")).status_code == 404
        assert (await c.get("/api/silences/nope")).status_code == 404
    actions = [(a.actor, a.method, a.path, a.status) for a in read_audit(ctx.reader.path)]
    assert ("ci", "POST", "/api/silences", 200) in actions
    assert ("ci", "DELETE", f"/api/silences/{sid}", 200) in actions


async def test_alertmanager_matchers_and_times_make_a_pending_silence(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post(
            "/api/silences",
            json={
                "matchers": [
                    {"name": "job", "value": "cam.*", "isRegex": True, "isEqual": True},
                    {"name": "severity", "value": "info", "isRegex": False, "isEqual": False},
                ],
                "startsAt": "2099-01-01T00:00:00Z",
                "endsAt": "2099-01-01T02:00:00Z",
                "comment": "planned",
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"]["state"] == "pending"
        assert r.json()["startsAt"] == "2099-01-01T00:00:00Z"
        pending = (await c.get("/api/silences", params={"state": "pending"})).json()
        assert len(pending) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"matchers": ['foo=~".*"'], "duration": "1h", "comment": "x"}, "empty string"),
        ({"matchers": ["job=cam"], "duration": "1h", "comment": ""}, "comment"),
        ({"matchers": ["job=cam"], "comment": "x"}, "endsAt or duration"),
        ({"matchers": ["job=~(("], "duration": "1h", "comment": "x"}, "regular expression"),
        ({"matchers": ["job=cam"], "duration": "soon", "comment": "x"}, "not a duration"),
    ],
)
async def test_invalid_silences_answer_400_with_the_reason(
    ctx: AppContext, body: dict[str, object], message: str
) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post("/api/silences", json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    assert set(r.json()) == {"error", "detail"}


async def test_a_viewer_reads_but_cannot_silence_or_ack(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=bearer(VIEWER_TOKEN)) as c:
        assert (await c.get("/api/silences")).status_code == 200
        r = await c.post("/api/mute", json={"duration": "30m", "comment": "x"})
        assert r.status_code == 403
        assert (await c.post(f"/api/alerts/{FP}/ack", json={})).status_code == 403
    assert ctx.silences.list() == []


async def test_mute_silences_every_alert(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post("/api/mute", json={"duration": "30m", "comment": "emptying the bin"})
    assert r.status_code == 200, r.text
    assert r.json()["matchers"] == [
        {"name": "alertname", "value": ".+", "isRegex": True, "isEqual": True}
    ]
    now = ctx.silences.now_ms()
    assert ctx.silences.silenced_by({"alertname": "Whatever"}, now) == [r.json()["id"]]


async def test_ack_and_unack_an_alert(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post(f"/api/alerts/{FP}/ack", json={"comment": "on my way"})
        assert r.status_code == 200, r.text
        assert (r.json()["ackedBy"], r.json()["comment"]) == ("ci", "on my way")
        assert ctx.acks.acked_by(FP) == "ci"
        assert (await c.delete(f"/api/alerts/{FP}/ack")).status_code == 200
        assert ctx.acks.acked_by(FP) is None
        assert (await c.delete(f"/api/alerts/{FP}/ack")).status_code == 404
        assert (await c.post("/api/alerts/not-hex!/ack")).status_code == 400


def _token(ctx: AppContext) -> str:
    url = ctx.ack_links.url("group", [FP, "fedcba9876543210"])
    return str(parse_qs(urlsplit(url).query)["t"][0])


async def test_the_link_page_changes_nothing_and_its_form_acks(ctx: AppContext) -> None:
    if not is_open("POST", "/api/alerts/ack") or not is_open("GET", "/api/alerts/ack"):
        pytest.skip("web/auth.py does not yet let /api/alerts/ack through (is_open)")
    app = _app(ctx)
    token = _token(ctx)
    async with client(app, headers={"Accept": "text/html"}) as c:  # no credentials
        page = await c.get("/api/alerts/ack", params={"t": token})
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert 'action="ack"' in page.text and FP in page.text
        assert ctx.acks.list() == []  # a GET (a mail scanner) acks nothing
        hidden = re.search(r'name="t" value="([^"]+)"', page.text)
        assert hidden is not None and hidden.group(1) == token
        r = await c.post(
            "/api/alerts/ack", data={"t": token, "name": "alice", "comment": "looking"}
        )
        assert r.status_code == 200, r.text
        assert "2 alerts acknowledged" in r.text
    assert ctx.acks.acked_by(FP) == "link:alice"
    ack = ctx.acks.get(FP)
    assert ack is not None and ack.comment == "looking"
    rows = [(a.actor, a.via, a.path, a.status) for a in read_audit(ctx.reader.path)]
    assert ("link:alice", "link", "/api/alerts/ack", 200) in rows


async def test_a_forged_or_missing_link_token_is_refused(ctx: AppContext) -> None:
    if not is_open("POST", "/api/alerts/ack"):
        pytest.skip("web/auth.py does not yet let /api/alerts/ack through (is_open)")
    app = _app(ctx)
    token = _token(ctx)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with client(app) as c:
        r = await c.post("/api/alerts/ack", data={"t": forged})
        assert r.status_code == 403 and "signature" in r.json()["error"]
        r = await c.get("/api/alerts/ack", params={"t": "junk"})
        assert r.status_code == 403 and "malformed" in r.json()["error"]
        r = await c.post("/api/alerts/ack", json={"t": token})
        assert r.status_code == 400
    assert ctx.acks.list() == []


async def test_the_link_form_acks_anonymously_when_no_name_is_given(ctx: AppContext) -> None:
    if not is_open("POST", "/api/alerts/ack"):
        pytest.skip("web/auth.py does not yet let /api/alerts/ack through (is_open)")
    app = _app(ctx)
    async with client(app) as c:
        r = await c.post("/api/alerts/ack", data={"t": _token(ctx)})
    assert r.status_code == 200, r.text
    assert {a["ackedBy"] for a in r.json()["acked"]} == {"link:anonymous"}
