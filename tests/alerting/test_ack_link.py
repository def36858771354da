"""Signed ack links: round trip, forgery, expiry, malformed input."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgewatch.alerting.ack_link import AckLinks, BadAckLink

SECRET = b"s" * 32
T0 = 1_800_000_000.0
FPS = ["0123456789abcdef", "fedcba9876543210"]


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def test_url_points_at_the_ack_page_and_verifies_to_its_alerts() -> None:
    links = AckLinks(SECRET, "https://dev.example/", clock=FakeClock())
    url = links.url('{}:{alertname="X"}', FPS)
    assert url.startswith("https://dev.example/api/alerts/ack?t=")
    assert sorted(links.verify(_token(url))) == FPS


def test_a_changed_payload_or_another_secret_is_refused() -> None:
    clock = FakeClock()
    links = AckLinks(SECRET, "http://x", clock=clock)
    token = links.token("g", FPS[:1])
    body, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["f"] = FPS
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(BadAckLink, match="signature"):
        links.verify(f"{forged}.{sig}")
    with pytest.raises(BadAckLink, match="signature"):
        AckLinks(b"t" * 32, "http://x", clock=clock).verify(token)


def test_a_link_expires_after_its_ttl() -> None:
    clock = FakeClock()
    links = AckLinks(SECRET, "http://x", clock=clock, ttl_s=3600)
    token = links.token("g", FPS)
    clock.now += 3599
    assert links.verify(token)
    clock.now += 1
    with pytest.raises(BadAckLink, match="expired"):
        links.verify(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "ä.b", "!!!.???", "x" * 9000])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(BadAckLink):
        AckLinks(SECRET, "http://x").verify(token)


@given(st.text(max_size=200))
def test_any_text_is_refused_with_bad_ack_link_only(text: str) -> None:
    with pytest.raises(BadAckLink):
        AckLinks(SECRET, "http://x").verify(text)
