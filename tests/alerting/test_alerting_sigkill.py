"""SIGKILL the agent mid-incident and restart it: nothing is sent twice, nothing forgotten.

Before the kill: BinFull{bin="a"} (F) fires and is notified once and acknowledged;
BinFull{bin="s"} (S) fires under a silence; BinLidOpen{bin="a"} (I, a warning)
fires inhibited by F (critical, same bin); BinJammed{bin="p"} (P) is pending
(``for: 20s``). The route escalates un-acknowledged groups after 8 s. After the
kill and a restart on the same data dir, what the webhook receivers get and what
the store recorded must show that F is not notified again nor escalated (the ack
holds), S and I are never sent, the silence is still active, and P fires 20 s
after its original pending start, not 20 s after the restart.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from agent_alerting_helpers import (
    AlertingAgent,
    Pusher,
    agent_config,
    notified_alerts,
    webhook_receiver,
)

from agent_process import wait_for
from edgewatch.alerting.acks import AckStore

RULES = """\
groups:
  - name: shop
    interval: 1s
    rules:
      - alert: BinFull
        expr: shop_bin_fill_ratio > 0.9
        labels: {severity: critical}
        annotations: {summary: "bin {{ $labels.bin }} is full"}
      - alert: BinLidOpen
        expr: shop_bin_lid_open > 0
        labels: {severity: warning}
      - alert: BinJammed
        expr: shop_bin_jammed > 0
        for: 20s
        labels: {severity: critical}
"""

ROUTING = """\
receivers:
  - name: hook
    webhook: [{{url: "{hook}"}}]
  - name: escalate
    webhook: [{{url: "{escalate}"}}]
route:
  receiver: hook
  group_by: [alertname, bin]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  escalation:
    steps: [{{after: 8s, receiver: escalate}}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [bin]
"""

FOR_S = 20.0
GROUP_INTERVAL_S = 2.0


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _firing(requests: list[Any], alertname: str, bin_: str, kind: str = "notify") -> list[str]:
    """Fingerprints of each firing mention of the alert in ``kind`` messages."""
    return [
        alert["fingerprint"]
        for k, _status, alert in notified_alerts(requests)
        if k == kind
        and alert["status"] == "firing"
        and alert["labels"].get("alertname") == alertname
        and alert["labels"].get("bin") == bin_
    ]


def _mentions(requests: list[Any], alertname: str, bin_: str) -> list[dict[str, Any]]:
    return [
        alert
        for _k, _s, alert in notified_alerts(requests)
        if alert["labels"].get("alertname") == alertname and alert["labels"].get("bin") == bin_
    ]


def _alert(alerts: list[dict[str, Any]], rule: str, bin_: str) -> dict[str, Any] | None:
    for a in alerts:
        if a["rule"] == rule and a["labels"].get("bin") == bin_:
            return a
    return None


@pytest.mark.slow
def test_sigkill_mid_incident_sends_nothing_twice_and_forgets_nothing(tmp_path: Path) -> None:
    wr = webhook_receiver()
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    with wr.Receiver() as hook, wr.Receiver() as escalate:
        routing = ROUTING.format(hook=hook.url, escalate=escalate.url)
        agent = AlertingAgent(tmp_path, agent_config(rules, routing))
        try:
            agent.start()
            silence = agent.post(
                "/api/silences",
                {
                    "matchers": ['alertname="BinFull"', 'bin="s"'],
                    "duration": "1h",
                    "comment": "bin s is being replaced",
                    "createdBy": "tester",
                },
            )
            with Pusher(agent) as pusher:
                pusher.set('shop_bin_fill_ratio{bin="a"}', 0.95)
                pusher.set('shop_bin_fill_ratio{bin="s"}', 0.97)
                pusher.set('shop_bin_lid_open{bin="a"}', 1)
                pusher.push_now()

                # F fires and is notified; its fingerprint comes from the message.
                f_fp = wait_for(
                    lambda: next(iter(_firing(hook.requests, "BinFull", "a")), None),
                    30,
                    "BinFull{bin=a} at the webhook",
                )
                acked = agent.post(f"/api/alerts/{f_fp}/ack", {"comment": "emptying it"})
                assert acked["fingerprint"] == f_fp

                # P goes pending; its pending start is in the store before the kill.
                pusher.set('shop_bin_jammed{bin="p"}', 1)
                pusher.push_now()

                def pending() -> dict[str, Any] | None:
                    p = _alert(agent.alerts(), "BinJammed", "p")
                    return p if p is not None and p["state"] == "pending" else None

                p_before = wait_for(pending, 30, "BinJammed pending")
                # S and I fire too (muted), and a couple of group intervals pass.
                before = {a["rule"] + a["labels"]["bin"]: a for a in agent.alerts()}
                assert before["BinFulls"]["state"] == "firing"
                assert before["BinLidOpena"]["state"] == "firing"
                time.sleep(2 * GROUP_INTERVAL_S)
                assert _firing(hook.requests, "BinFull", "a") == [f_fp]
                assert _mentions(hook.requests, "BinFull", "s") == []
                assert _mentions(hook.requests, "BinLidOpen", "a") == []

                agent.process.signal(signal.SIGKILL)
                assert agent.process.wait(timeout=10) == -signal.SIGKILL
                restarted_at = time.time()
                agent.start()

                # P fires after the restart; its escalation 8 s later shows that
                # escalation runs again, by which time F's (due 8 s after it
                # fired) would long have been sent had the ack been lost.
                wait_for(
                    lambda: _firing(hook.requests, "BinJammed", "p"),
                    FOR_S + 40,
                    "BinJammed{bin=p} at the webhook",
                )
                wait_for(
                    lambda: _firing(escalate.requests, "BinJammed", "p", kind="escalation"),
                    30,
                    "the escalation of BinJammed",
                )
                time.sleep(2 * GROUP_INTERVAL_S)
                pusher.check()
                assert pusher.pushed > 0

            # No duplicate: F was notified once, across the kill.
            assert _firing(hook.requests, "BinFull", "a") == [f_fp]
            assert len(_firing(hook.requests, "BinJammed", "p")) == 1
            # The ack held: F never escalated (P, not acked, did).
            assert _mentions(escalate.requests, "BinFull", "a") == []
            # The silenced and the inhibited alert were never sent, before or after.
            for name, bin_ in (("BinFull", "s"), ("BinLidOpen", "a")):
                assert _mentions(hook.requests, name, bin_) == []
                assert _mentions(escalate.requests, name, bin_) == []
            after = {a["rule"] + a["labels"]["bin"]: a for a in agent.alerts()}
            assert after["BinFulls"]["state"] == "firing"
            assert after["BinLidOpena"]["state"] == "firing"
            assert after["BinFulla"]["fired_at"] == before["BinFulla"]["fired_at"]

            # The silence is still there and active; the ack too.
            silences = {s["id"]: s for s in agent.get("/api/silences")}
            assert silences[silence["id"]]["status"]["state"] == "active"
            acks = AckStore(agent.data_dir)
            try:
                ack = acks.get(f_fp)
            finally:
                acks.close()
            assert ack is not None and ack.comment == "emptying it"

            # The pending timer continued: P kept its pending start, and fired
            # `for` after it, sooner than a timer restarted by the restart could.
            p_after = after["BinJammedp"]
            assert p_after["state"] == "firing"
            assert p_after["active_since"] == p_before["active_since"]
            history = agent.history("BinJammed")
            changes = [(e["from"], e["to"]) for e in reversed(history) if e["kind"] == "state"]
            assert changes == [("inactive", "pending"), ("pending", "firing")]
            pending_at = _seconds(history[-1]["time"])
            fired_at = _seconds(history[0]["time"])
            assert pending_at == pytest.approx(_seconds(p_before["active_since"]), abs=0.01)
            assert FOR_S <= fired_at - pending_at <= FOR_S + 4
            assert fired_at < restarted_at + FOR_S
        finally:
            agent.stop()
    assert "Traceback" not in agent.process.log_path.read_text()
