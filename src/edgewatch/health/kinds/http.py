"""``http``: a URL answers with an expected status, body text or JSON value, in time,
over a certificate that is not about to expire.

The observed value is the request's latency in seconds, so ``warn_above`` and
``fail_above`` are latency thresholds; with ``json_path`` and no ``json_equals``
the number found at the path is observed instead. Credentials in the URL are sent
(as basic auth) but never shown: every message carries the URL as ``***@host``, with
the values of secret-looking query keys (``token``, ``key``, ``sig``...) as ``***``
and without its fragment.
"""

from __future__ import annotations

import json
import ssl
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

import httpx

from edgewatch.config.health import HttpCheck
from edgewatch.health.model import CheckEnv, Observation, Status, worst

MAX_BODY = 1 << 20  # bytes of the body kept for body_contains and json_path
_DAY_S = 86_400.0


# Query keys whose values are secrets: any key containing one of these (case-insensitive).
SECRET_KEYS = (
    "token", "key", "secret", "password", "passwd", "pass", "sig", "signature", "auth",
    "apikey", "api_key", "access_token", "session",
)  # fmt: skip


def _secret_key(raw_key: str) -> bool:
    key = unquote_plus(raw_key).lower()
    return any(word in key for word in SECRET_KEYS)


def redact(url: str) -> str:
    """``url`` fit to show: ``user:password@`` becomes ``***@``, the value of every query
    key that looks secret (``token``, ``key``, ``sig``...) ``***``; no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"***@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{pair.partition('=')[0]}=***" if _secret_key(pair.partition("=")[0]) else pair
        for pair in parts.query.split("&")
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


def url_secrets(url: str) -> list[str]:
    """The strings of ``url`` that must never be shown, raw and percent-decoded, longest
    first: its userinfo and parts, and the values of its secret-looking query keys."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    found = [userinfo, *userinfo.split(":")]
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if _secret_key(key):
            found.append(value)
    decoded = [unquote(p) for p in found] + [unquote_plus(p) for p in found]
    return sorted({p for p in (*found, *decoded) if p}, key=len, reverse=True)


class HttpKind:
    def __init__(self, settings: HttpCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env
        self._shown = redact(settings.url)
        # Strings that must never reach a message: the user:password pair and its parts,
        # secret query values; raw and percent-decoded.
        self._secrets = url_secrets(settings.url)
        # Built once: loading the CA bundle costs ~15 ms of CPU, too much for every run.
        self._tls = httpx.create_ssl_context(verify=settings.verify_tls)

    async def observe(self) -> Observation:
        s = self.settings
        follow = s.max_redirects > 0
        started = time.perf_counter()
        try:
            async with (
                httpx.AsyncClient(
                    verify=self._tls,
                    follow_redirects=follow,
                    max_redirects=s.max_redirects,
                    timeout=s.timeout,
                    trust_env=False,
                ) as client,
                client.stream(s.method, s.url) as response,
            ):
                cert = self._cert_days(response) if self._wants_cert() else None
                body = await _read_capped(response, MAX_BODY)
                latency = time.perf_counter() - started
        except httpx.TooManyRedirects:
            return self._fail(f"more than {s.max_redirects} redirects")
        except httpx.TimeoutException as exc:
            return self._fail(f"timed out ({type(exc).__name__})")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._fail(self._scrub(str(exc)) or type(exc).__name__)
        obs = self._judge(response.status_code, body, latency)
        return obs if cert is None else self._with_cert(obs, cert)

    # -- verdicts ----------------------------------------------------------------

    def _judge(self, status: int, body: bytes, latency: float) -> Observation:
        s = self.settings
        ms = f"{latency * 1000:.1f} ms"
        if status not in s.expect_status:
            expected = ", ".join(str(c) for c in s.expect_status)
            return self._fail(f"status {status}, expected {expected} ({ms})", latency)
        if s.body_contains is not None:
            text = body.decode("utf-8", errors="replace")
            if s.body_contains not in text:
                return self._fail(f"body does not contain {s.body_contains!r} ({ms})", latency)
        if s.json_path is None:
            return Observation(Status.PASS, latency, f"status {status} in {ms}", "seconds")
        try:
            document = json.loads(body)
        except ValueError:
            return self._fail(f"body is not JSON ({ms})", latency)
        try:
            found = json_lookup(document, s.json_path)
        except ValueError as exc:
            return self._fail(f"{exc} ({ms})", latency)
        text = json_text(found)
        if s.json_equals is not None:
            if text != s.json_equals:
                return self._fail(
                    f"{s.json_path} is {_short(text)}, expected {_short(s.json_equals)} ({ms})",
                    latency,
                )
            return Observation(
                Status.PASS, latency, f"{s.json_path} is {_short(text)} in {ms}", "seconds"
            )
        if isinstance(found, int | float) and not isinstance(found, bool):
            return Observation(Status.PASS, float(found), f"{s.json_path} is {text} ({ms})")
        return Observation(
            Status.PASS, latency, f"{s.json_path} is {_short(text)} in {ms}", "seconds"
        )

    def _with_cert(self, obs: Observation, days: float | str) -> Observation:
        s = self.settings
        if isinstance(days, str):  # the certificate could not be read
            status = worst([obs.status, Status.UNKNOWN])
            return Observation(status, obs.value, f"{obs.message}; {days}", obs.unit)
        status = Status.PASS
        if s.cert_fail_days is not None and days < s.cert_fail_days:
            status = Status.FAIL
        elif s.cert_warn_days is not None and days < s.cert_warn_days:
            status = Status.WARN
        note = f"certificate expires in {days:.1f} days"
        return Observation(
            worst([obs.status, status]), obs.value, f"{obs.message}; {note}", obs.unit
        )

    def _fail(self, reason: str, latency: float | None = None) -> Observation:
        unit = "seconds" if latency is not None else ""
        return Observation(
            Status.FAIL, latency, f"{self.settings.method} {self._shown}: {reason}", unit
        )

    def _scrub(self, text: str) -> str:
        text = text.replace(self.settings.url, self._shown)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- certificate -------------------------------------------------------------

    def _wants_cert(self) -> bool:
        s = self.settings
        wanted = s.cert_warn_days is not None or s.cert_fail_days is not None
        return wanted and s.url.lower().startswith("https:")

    def _cert_days(self, response: httpx.Response) -> float | str:
        """Days until the final connection's peer certificate expires, or why unknown."""
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return "no TLS certificate seen (redirected to plain http?)"
        der = ssl_object.getpeercert(binary_form=True)
        if not der:
            return "the server sent no certificate"
        try:
            return (cert_not_after(der) - self.env.clock()) / _DAY_S
        except ValueError as exc:
            return f"certificate unreadable: {exc}"


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """The body's first ``cap`` bytes; the rest is not read (the connection is closed)."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk[: cap - len(kept)]
        if len(kept) >= cap:
            break
    return bytes(kept)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_lookup(document: Any, path: str) -> Any:
    """The value at dotted ``path`` (``a.b.0.c``; integers index lists); ValueError if absent."""
    node = document
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _is_index(part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise ValueError(f"{'.'.join(walked)} is not in the JSON body")
    return node


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def json_text(value: Any) -> str:
    """A JSON value as the text ``json_equals`` is compared with: strings bare, others JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


# -- a minimal DER reader: enough of X.509 to find notAfter, without new dependencies --


def _der_item(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER item at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated certificate")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad length in certificate")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated certificate")
    return tag, pos, pos + length


def cert_not_after(der: bytes) -> float:
    """The notAfter time (Unix seconds) of a DER-encoded X.509 certificate."""
    _, cert, _ = _der_item(der, 0)  # Certificate ::= SEQUENCE
    _, tbs, tbs_end = _der_item(der, cert)  # tbsCertificate ::= SEQUENCE
    pos = tbs
    tag, _, end = _der_item(der, pos)
    if tag == 0xA0:  # [0] version, optional
        pos = end
    for _ in range(3):  # serialNumber, signature, issuer
        pos = _der_item(der, pos)[2]
    tag, validity, _ = _der_item(der, pos)
    if tag != 0x30 or pos >= tbs_end:
        raise ValueError("no validity in certificate")
    after = _der_item(der, _der_item(der, validity)[2])  # skip notBefore
    return _der_time(after[0], der[after[1] : after[2]].decode("ascii"))


def _der_time(tag: int, text: str) -> float:
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise ValueError("bad time in certificate")
    moment = datetime.strptime(text.rstrip("Z"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return moment.timestamp()
