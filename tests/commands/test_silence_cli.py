"""``edgewatch silence add|list|expire``, ``mute`` and ``alerts ack`` on a real store file,
and an agent-side store noticing what the CLI wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from edgewatch.alerting.acks import AckStore
from edgewatch.alerting.silences import SilenceStore
from edgewatch.commands.silence import ack_cmd, mute_cmd, silence_group

FP = "0123456789abcdef"


def _run(tmp_path: Path, command: click.Command, *args: str) -> Result:
    return CliRunner().invoke(command, [*args, "--data-dir", str(tmp_path / "data")])


def test_add_list_expire_round_trip(tmp_path: Path) -> None:
    r = _run(
        tmp_path,
        silence_group,
        "add",
        "alertname=DiskFull",
        'device=~"sd.*"',
        "--duration",
        "2h",
        "--comment",
        "new disk on order",
        "--author",
        "alice",
    )
    assert r.exit_code == 0, r.output
    sid = r.stdout.strip()
    assert 'silenced {alertname="DiskFull", device=~"sd.*"}' in r.stderr
    store = SilenceStore(tmp_path / "data")
    silence = store.get(sid)
    assert silence is not None and silence.created_by == "alice"
    assert silence.ends_ms - silence.starts_ms == 2 * 3_600_000

    table = _run(tmp_path, silence_group, "list")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split()[:3] == ["ID", "STATE", "ENDS"]
    assert sid in table.stdout and "active" in table.stdout

    assert _run(tmp_path, silence_group, "expire", sid).exit_code == 0
    listed = json.loads(_run(tmp_path, silence_group, "list", "--format", "json").stdout)
    assert listed == []
    listed = json.loads(_run(tmp_path, silence_group, "list", "--all", "--format", "json").stdout)
    assert [(s["id"], s["status"]["state"]) for s in listed] == [(sid, "expired")]
    again = _run(tmp_path, silence_group, "expire", sid)
    assert again.exit_code == 2 and "already expired" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "job=~((", "--duration", "1h", "--comment", "x"), "regular expression"),
        (("add", 'foo=~".*"', "--duration", "1h", "--comment", "x"), "empty string"),
        (("add", "job=cam", "--duration", "soon", "--comment", "x"), "not a duration"),
        (("expire", "nope"), "no silence 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # A store exists, so the expire case is about the id.
    _run(tmp_path, mute_cmd, "1m", "--comment", "setup")
    r = _run(tmp_path, silence_group, *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_mute_silences_everything_and_a_running_agent_sees_it(tmp_path: Path) -> None:
    _run(tmp_path, mute_cmd, "1m", "--comment", "setup")  # creates the store
    now = [time.time()]
    agent = SilenceStore(tmp_path / "data", clock=lambda: now[0])
    assert agent.silenced_by({"alertname": "Any"}, round(now[0] * 1000))  # the setup mute
    r = _run(tmp_path, mute_cmd, "30m", "--comment", "emptying the bin", "--author", "bob")
    assert r.exit_code == 0, r.output
    sid = r.stdout.strip()
    now[0] += 1.0
    assert sid in agent.silenced_by({"alertname": "Any"}, round(now[0] * 1000))
    muted = agent.get(sid)
    assert muted is not None and muted.created_by == "bob"


def test_ack_and_undo(tmp_path: Path) -> None:
    r = _run(tmp_path, ack_cmd, FP, "--by", "carol", "--comment", "rebooting")
    assert r.exit_code == 0, r.output
    ack = AckStore(tmp_path / "data").get(FP)
    assert ack is not None and (ack.acked_by, ack.comment) == ("carol", "rebooting")
    assert _run(tmp_path, ack_cmd, FP, "--undo").exit_code == 0
    assert AckStore(tmp_path / "data").get(FP) is None
    r = _run(tmp_path, ack_cmd, FP, "--undo")
    assert r.exit_code == 2 and "not acknowledged" in r.output
    r = _run(tmp_path, ack_cmd, "not hex!", "--by", "x")
    assert r.exit_code == 2 and "bad alert fingerprint" in r.output
