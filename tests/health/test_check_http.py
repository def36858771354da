"""The ``http`` check against a real HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from health_net_helpers import PASSWORD, USER, Served, http_server, run_check, self_signed
from health_net_helpers import server_context as tls_context

from edgewatch.health.kinds.http import cert_not_after, json_lookup, json_text, redact
from edgewatch.health.model import CheckEnv, Status


@pytest.fixture
def web() -> Iterator[Served]:
    with http_server() as served:
        yield served


def http(url: str, **settings: Any) -> dict[str, Any]:
    return {"name": "web", "kind": "http", "url": url, **settings}


def test_good_response_passes_with_latency_as_value(web: Served) -> None:
    result = run_check(http(f"{web.base}/ok", body_contains="nominal"))
    assert result.status is Status.PASS, result.message
    assert result.unit == "seconds"
    assert result.value is not None and 0 < result.value < 10
    assert result.message.startswith("status 200 in ")


def test_unexpected_status_fails_and_names_both(web: Served) -> None:
    result = run_check(http(f"{web.base}/status/503"))
    assert result.status is Status.FAIL
    assert result.message == f"GET {web.base}/status/503: " + result.message.split(": ", 1)[1]
    assert "status 503, expected 200" in result.message


def test_expected_statuses_can_include_errors(web: Served) -> None:
    result = run_check(http(f"{web.base}/status/404", expect_status=[404, 410]))
    assert result.status is Status.PASS, result.message


def test_missing_keyword_fails(web: Served) -> None:
    result = run_check(http(f"{web.base}/ok", body_contains="degraded"))
    assert result.status is Status.FAIL
    assert "body does not contain 'degraded'" in result.message


def test_json_path_equals_passes_and_differs_fails(web: Served) -> None:
    ok = run_check(http(f"{web.base}/json", json_path="status", json_equals="ok"))
    assert ok.status is Status.PASS, ok.message
    assert ok.unit == "seconds"
    bad = run_check(http(f"{web.base}/json", json_path="items.1.n", json_equals="3"))
    assert bad.status is Status.FAIL
    assert "items.1.n is 2.5, expected 3" in bad.message
    flag = run_check(http(f"{web.base}/json", json_path="ready", json_equals="true"))
    assert flag.status is Status.PASS, flag.message


def test_json_path_number_is_the_observed_value_for_thresholds(web: Served) -> None:
    result = run_check(http(f"{web.base}/json", json_path="queue", warn_above=5))
    assert result.value == 7
    assert result.status is Status.WARN
    assert result.message.startswith("7 is above 5")


def test_json_path_missing_or_body_not_json_fails(web: Served) -> None:
    missing = run_check(http(f"{web.base}/json", json_path="items.5.n"))
    assert missing.status is Status.FAIL
    assert "items.5 is not in the JSON body" in missing.message
    not_json = run_check(http(f"{web.base}/ok", json_path="status"))
    assert not_json.status is Status.FAIL
    assert "body is not JSON" in not_json.message


def test_json_lookup_and_text() -> None:
    doc = {"a": [{"b": None}, {"b": [1, 2]}], "s": "x"}
    assert json_lookup(doc, "a.1.b.-1") == 2
    assert json_text(json_lookup(doc, "a.0.b")) == "null"
    assert json_text(json_lookup(doc, "a.1")) == '{"b":[1,2]}'
    assert json_text("x") == "x"
    with pytest.raises(ValueError, match=r"^s\.t is not in the JSON body$"):
        json_lookup(doc, "s.t")


def test_redirects_followed_within_the_limit(web: Served) -> None:
    result = run_check(http(f"{web.base}/hop", body_contains="nominal"))
    assert result.status is Status.PASS, result.message


def test_redirect_loop_is_bounded(web: Served) -> None:
    result = run_check(http(f"{web.base}/loop", max_redirects=3))
    assert result.status is Status.FAIL
    assert result.message == f"GET {web.base}/loop: more than 3 redirects"


def test_zero_redirects_checks_the_redirect_itself(web: Served) -> None:
    result = run_check(http(f"{web.base}/hop", max_redirects=0, expect_status=[302]))
    assert result.status is Status.PASS, result.message


def test_latency_threshold_applies(web: Served) -> None:
    result = run_check(http(f"{web.base}/ok", warn_above=0.0))
    assert result.status is Status.WARN
    assert "seconds is above 0" in result.message


def test_slow_endpoint_is_unknown_at_the_timeout(web: Served) -> None:
    result = run_check(http(f"{web.base}/slow", timeout=0.3, interval=1))
    assert result.status is Status.UNKNOWN
    assert result.message == "timed out after 0.3s"


def test_closed_port_fails() -> None:
    with http_server() as served:
        url = f"{served.base}/ok"
    result = run_check(http(url))
    assert result.status is Status.FAIL
    assert result.message.startswith(f"GET {url}: ")


def test_credentials_are_sent_but_never_shown(web: Served) -> None:
    host = web.base.removeprefix("http://")
    good = run_check(http(f"http://{USER}:{PASSWORD}@{host}/auth", body_contains="welcome"))
    assert good.status is Status.PASS, good.message
    bad = run_check(http(f"http://{USER}:wrong-{PASSWORD}@{host}/auth"))
    assert bad.status is Status.FAIL
    assert bad.message.startswith(f"GET http://***@{host}/auth: status 401")
    assert PASSWORD not in bad.message and USER not in bad.message
    with http_server() as gone:
        dead = gone.base.removeprefix("http://")
    refused = run_check(http(f"http://{USER}:{PASSWORD}@{dead}/auth"))
    assert refused.status is Status.FAIL
    assert PASSWORD not in refused.message and USER not in refused.message
    assert "***@" in refused.message


def test_redact() -> None:
    assert redact("https://u:p@h.example:8443/x?y=1") == "https://***@h.example:8443/x?y=1"
    assert redact("http://token@h/") == "http://***@h/"
    assert redact("http://h/a@b") == "http://h/a@b"


# -- TLS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = self_signed(tmp_path_factory.mktemp("tls"), days=10)
    if made is None:
        pytest.skip("no openssl program to make a certificate")
    return made


@pytest.fixture
def tls_web(cert_files: tuple[Path, Path]) -> Iterator[Served]:
    with http_server(tls_context(*cert_files)) as served:
        yield served


def test_certificate_expiry_days_warn_and_fail(tls_web: Served) -> None:
    url = f"{tls_web.base}/ok"
    warn = run_check(http(url, verify_tls=False, cert_warn_days=30, cert_fail_days=3))
    assert warn.status is Status.WARN, warn.message
    assert warn.message.endswith("; certificate expires in 10.0 days")
    fail = run_check(http(url, verify_tls=False, cert_warn_days=30, cert_fail_days=15))
    assert fail.status is Status.FAIL
    ok = run_check(http(url, verify_tls=False, cert_warn_days=5))
    assert ok.status is Status.PASS, ok.message


def test_certificate_expiry_follows_the_injected_clock(tls_web: Served) -> None:
    later = CheckEnv(clock=lambda: time.time() + 9.5 * 86_400)
    result = run_check(http(f"{tls_web.base}/ok", verify_tls=False, cert_fail_days=1), later)
    assert result.status is Status.FAIL
    assert "certificate expires in 0.5 days" in result.message


def test_self_signed_certificate_fails_verification(tls_web: Served) -> None:
    result = run_check(http(f"{tls_web.base}/ok"))
    assert result.status is Status.FAIL
    assert "CERTIFICATE_VERIFY_FAILED" in result.message


def test_cert_not_after_matches_openssl(cert_files: tuple[Path, Path]) -> None:
    cert, _ = cert_files
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    shown = subprocess.run(
        ["openssl", "x509", "-enddate", "-noout", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    expected = ssl.cert_time_to_seconds(shown.strip().removeprefix("notAfter="))
    assert cert_not_after(der) == expected
    with pytest.raises(ValueError):
        cert_not_after(der[:40])


def test_bad_url_fails_with_a_message() -> None:
    result = run_check(http("http://u:hidden-pw@127.0.0.1:abc/x"))  # http, but no port
    assert result.status is Status.FAIL
    assert result.message.startswith("GET http://***@127.0.0.1:abc/x: ")
    assert "hidden-pw" not in result.message


SECRET_URL = "https://user:p%40ss@host/x?key=SECRET&page=2#frag"


def test_redact_hides_secret_query_values_and_the_fragment() -> None:
    assert redact(SECRET_URL) == "https://***@host/x?key=***&page=2"
    assert redact("http://h/?API_Key=a&x_signature=b&Session=c&q=d&token") == (
        "http://h/?API_Key=***&x_signature=***&Session=***&q=d&token=***"
    )
    assert redact("http://h/x?page=2") == "http://h/x?page=2"


def test_secrets_in_the_query_never_reach_a_message(web: Served) -> None:
    host = web.base.removeprefix("http://")
    query = "?key=SECRET&page=2#frag"
    failed = run_check(http(f"http://user:p%40ss@{host}/x{query}"))
    assert failed.message.startswith(f"GET http://***@{host}/x?key=***&page=2: status 404")
    with http_server() as gone:
        dead = gone.base.removeprefix("http://")
    refused = run_check(http(f"http://user:p%40ss@{dead}/x{query}"))
    bad = run_check(http(f"http://user:p%40ss@127.0.0.1:abc/x{query}"))
    for result in (failed, refused, bad):
        assert result.status is Status.FAIL
        for shown in ("SECRET", "p%40ss", "p@ss", "frag", "user"):
            assert shown not in result.message, result.message
