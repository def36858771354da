"""The real agent (a subprocess) forwards its samples and its remote_write figures."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest
from remote_write_receiver import WriteReceiver

from agent_process import FAST_CONFIG, AgentProcess, read_all, wait_for

pytestmark = pytest.mark.slow


def test_agent_sends_what_it_stores_and_saves_its_checkpoint_on_stop(tmp_path: Path) -> None:
    with WriteReceiver() as rx:
        config = FAST_CONFIG + (
            "remote_write:\n"
            f"  - url: {rx.url}\n"
            "    name: central\n"
            "    delay: 2s\n"
            "    interval: 200ms\n"
            "    extra_labels: {device: rvm-7}\n"
        )
        agent = AgentProcess(tmp_path, config)
        try:
            agent.start()
            agent.wait_log("remote_write central: sending to")

            def forwarded() -> bool | None:
                got = {
                    dict(labels)["__name__"]: samples for labels, samples in rx.accepted().items()
                }
                enough = len(got.get("node_load1", [])) >= 3
                return (enough and "edgewatch_remote_write_samples_sent_total" in got) or None

            wait_for(forwarded, timeout=30, what="node_load1 and the sender's own figures")
            agent.signal(signal.SIGTERM)
            assert agent.wait(timeout=15) == 0
        finally:
            agent.stop()
        got = rx.accepted()
    assert "Traceback" not in agent.log()
    with sqlite3.connect(agent.store_file) as conn:
        [(cursor,)] = conn.execute(
            "SELECT cursor_ms FROM remote_write_checkpoints WHERE endpoint = 'central'"
        ).fetchall()
    stored = read_all(agent.store_file)["node_load1"]
    sent = dict(got[(("__name__", "node_load1"), ("device", "rvm-7"))])
    # Everything stored up to the checkpoint was accepted, with the same values.
    assert {t: v for t, v in stored.items() if t <= cursor} == {
        t: v for t, v in sent.items() if t <= cursor
    }
    assert len(sent) >= 3
