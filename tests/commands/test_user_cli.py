"""``edgewatch user add|list|remove`` on a real store file, agent running or not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edgewatch.cli import cli
from edgewatch.store import Store
from edgewatch.web.accounts import Accounts

PASSWORD = "correct horse battery staple"
Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, [*args, "--data-dir", str(tmp_path / "data")], input=input)

    return invoke


def test_add_with_password_stdin_creates_the_store_and_a_verifiable_user(
    run: Run, tmp_path: Path
) -> None:
    r = run("user", "add", "alice", "--role", "admin", "--password-stdin", input=f"{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert "added user alice (admin)" in r.output
    assert PASSWORD not in r.output
    accounts = Accounts(tmp_path / "data")
    user = accounts.authenticate("alice", PASSWORD)
    assert user is not None and user.role == "admin"
    Store.open(tmp_path / "data", readonly=True).close()  # still a valid store


def test_add_prompts_twice_for_the_password(run: Run, tmp_path: Path) -> None:
    r = run("user", "add", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert "Repeat for confirmation" in r.output
    assert PASSWORD not in r.output, "hidden input is not echoed"
    user = Accounts(tmp_path / "data").authenticate("bob", PASSWORD)
    assert user is not None and user.role == "viewer"


def test_list_shows_names_and_roles_never_hashes(run: Run) -> None:
    for name, role in (("carol", "viewer"), ("alice", "admin")):
        r = run("user", "add", name, "--role", role, "--password-stdin", input=f"{PASSWORD}\n")
        assert r.exit_code == 0, r.output
    table = run("user", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "CREATED", "UPDATED"]
    assert [line.split()[:2] for line in lines[1:]] == [["alice", "admin"], ["carol", "viewer"]]
    as_json = run("user", "list", "--format", "json")
    rows = json.loads(as_json.stdout)
    assert [(u["name"], u["role"]) for u in rows] == [("alice", "admin"), ("carol", "viewer")]
    assert set(rows[0]) == {"name", "role", "created", "updated"}
    for out in (table.output, as_json.output):
        assert "scrypt" not in out and PASSWORD not in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "add", "bad name", "--password-stdin"], f"{PASSWORD}\n", "bad user name"),
        (["user", "add", "anonymous", "--password-stdin"], f"{PASSWORD}\n", "reserved"),
        (["user", "add", "dave", "--password-stdin"], "short\n", "at least 10 characters"),
        (["user", "add", "dave", "--password-stdin"], "", "no password on standard input"),
        (["user", "add", "dave", "--role", "root", "--password-stdin"], f"{PASSWORD}\n", "root"),
    ],
)
def test_bad_input_exits_2(run: Run, args: list[str], stdin: str, message: str) -> None:
    r = run(*args, input=stdin)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_existing_user_needs_update_and_remove_needs_a_user(run: Run, tmp_path: Path) -> None:
    add = ("user", "add", "alice", "--password-stdin")
    assert run(*add, input=f"{PASSWORD}\n").exit_code == 0
    again = run(*add, input="another password\n")
    assert again.exit_code == 2 and "exists (use --update" in again.output
    update = run(*add, "--update", "--role", "admin", input="another password\n")
    assert update.exit_code == 0, update.output
    assert "updated user alice (admin)" in update.output
    assert Accounts(tmp_path / "data").authenticate("alice", "another password") is not None
    assert run("user", "remove", "alice").exit_code == 0
    missing = run("user", "remove", "alice")
    assert missing.exit_code == 2 and "no user 'alice'" in missing.output


def test_list_and_remove_without_a_store_exit_2(run: Run, tmp_path: Path) -> None:
    for args in (("user", "list"), ("user", "remove", "alice")):
        r = run(*args)
        assert r.exit_code == 2
        assert "no edgewatch store" in r.output
    assert not (tmp_path / "data").exists()


def test_add_while_the_agent_holds_the_store_open(run: Run, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    store.start()
    try:
        r = run("user", "add", "alice", "--password-stdin", input=f"{PASSWORD}\n")
        listed = run("user", "list", "--format", "json")
    finally:
        store.close()
    assert r.exit_code == 0, r.output
    assert [u["name"] for u in json.loads(listed.stdout)] == ["alice"]


def test_a_file_that_is_not_a_store_is_refused(run: Run, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "edgewatch.db").write_text("not sqlite")
    r = run("user", "add", "alice", "--password-stdin", input=f"{PASSWORD}\n")
    assert r.exit_code == 2
    assert "not an edgewatch store" in r.output
