"""SIGKILL the agent at random moments while it writes: the store stays sound and complete.

Each round starts the real agent on the same data dir (commit every second, 1 s
collectors), lets it run for a random while, reads everything a separate reader
sees committed, then kills it with SIGKILL. After each kill the SQLite file must
pass ``PRAGMA integrity_check`` and hold every sample that reader saw.
"""

from __future__ import annotations

import math
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from agent_process import AgentProcess, read_all, wait_for

ROUNDS = 8


def _integrity(path: Path) -> str:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def _missing(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> list[str]:
    problems = []
    for key, samples in before.items():
        now = after.get(key, {})
        for ts, value in samples.items():
            got = now.get(ts)
            same = got is not None and (got == value or (math.isnan(got) and math.isnan(value)))
            if not same:
                problems.append(f"{key} @ {ts}: had {value}, now {got}")
    return problems


@pytest.mark.slow
def test_sigkill_never_corrupts_the_store_nor_loses_committed_samples(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    agent = AgentProcess(tmp_path)
    seen: dict[str, dict[int, float]] = {}
    kills_with_new_data = 0
    try:
        for round_no in range(ROUNDS):
            agent.start()
            agent.wait_log("edgewatch running")
            # Run for a random while, so kills land at all points of the commit cycle.
            time.sleep(rng.uniform(1.2, 3.5))
            wait_for(agent.store_file.exists, what="the store file")
            committed = read_all(agent.store_file)
            time.sleep(rng.uniform(0.0, 0.4))
            agent.signal(signal.SIGKILL)
            assert agent.wait(timeout=10) == -signal.SIGKILL

            assert _integrity(agent.store_file) == "ok", f"round {round_no}"
            after = read_all(agent.store_file)
            assert _missing(committed, after) == [], f"round {round_no}"
            assert _missing(seen, after) == [], f"round {round_no}"
            for key, samples in seen.items():
                assert len(after.get(key, {})) >= len(samples), f"{key} shrank"
            if sum(map(len, after.values())) > sum(map(len, seen.values())):
                kills_with_new_data += 1
            seen = after
    finally:
        agent.stop()
    assert "Traceback" not in agent.log_path.read_text()
    # The rounds really wrote: almost every round added committed samples.
    assert kills_with_new_data >= ROUNDS - 1
    assert any(k.startswith("node_load1") for k in seen)
