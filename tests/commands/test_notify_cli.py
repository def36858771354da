"""``edgewatch notify test RECEIVER`` against real loopback webhook receivers."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from edgewatch.commands.notify import notify_group
from notify.webhook_receiver import Receiver, free_port


def _config(tmp_path: Path, urls: list[str]) -> Path:
    hooks = "".join(f"      - url: {url}\n" for url in urls)
    path = tmp_path / "edgewatch.yaml"
    path.write_text(
        "receivers:\n"
        "  - name: ops\n"
        "    webhook:\n" + hooks + "  - name: empty\n"
        "route:\n"
        "  receiver: ops\n"
    )
    return path


def test_sends_a_test_message_to_every_channel(tmp_path: Path) -> None:
    with Receiver() as hook:
        config = _config(tmp_path, [f"{hook.url}/a", f"{hook.url}/b"])
        result = CliRunner().invoke(notify_group, ["test", "ops", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert sorted(hook.paths()) == ["/a", "/b"]
        body = hook.requests[0].json()
    assert body["kind"] == "test"
    assert body["receiver"] == "ops"
    assert body["alerts"][0]["labels"]["alertname"] == "EdgewatchTest"
    assert [line.split()[0] for line in result.output.splitlines()] == ["ok", "ok"]


def test_a_failing_channel_exits_1_and_says_why(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    with Receiver(statuses=[(400, "bad payload")]) as hook:
        config = _config(tmp_path, [f"http://127.0.0.1:{closed}/down", f"{hook.url}/refuses"])
        result = CliRunner().invoke(notify_group, ["test", "ops", "--config", str(config)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("failed")]
    assert len(lines) == 2
    assert "(retryable)" in lines[0]
    assert "400" in lines[1] and "(permanent)" in lines[1]


def test_unknown_or_empty_receiver_is_a_usage_error(tmp_path: Path) -> None:
    config = _config(tmp_path, ["http://127.0.0.1:9/x"])
    unknown = CliRunner().invoke(notify_group, ["test", "nobody", "--config", str(config)])
    assert unknown.exit_code == 2
    assert "no receiver named 'nobody' (receivers: empty, ops)" in unknown.output
    empty = CliRunner().invoke(notify_group, ["test", "empty", "--config", str(config)])
    assert empty.exit_code == 2
    assert "has no channels" in empty.output
