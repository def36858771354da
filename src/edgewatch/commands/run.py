"""``edgewatch run``: the agent, in the foreground, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import os

import click

from edgewatch.agent import Agent
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.config import load_config, parse_listen, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.malloc import limit_arenas
from edgewatch.store import StoreError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Under systemd, journald stamps every line itself: no second timestamp.
JOURNAL_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("httpx", "httpcore")
LOG_LEVELS = ("debug", "info", "warning", "error")


@click.command("run", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="EDGEWATCH_CONFIG",
    help="YAML config file (default: built-in defaults). Env: EDGEWATCH_CONFIG.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    envvar="EDGEWATCH_DATA_DIR",
    help="Where the store lives. Env: EDGEWATCH_DATA_DIR.",
)
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Address of the web dashboard and API (default: the config's listen, 127.0.0.1:8700).",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help="Log verbosity (default: the config's log_level); kept when SIGHUP reloads the config.",
)
def run_cmd(
    config_file: str | None, data_dir: str | None, listen: str | None, log_level: str | None
) -> None:
    """Run the agent: collect, store, and serve, in one process."""
    if listen is not None:
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--listen") from None
    config_path = resolve_config_path(config_file)
    config = load_config(config_path)  # ConfigError: one line per problem, exit 2
    address = parse_listen(listen) if listen is not None else config.listen_address()
    level = (log_level or config.log_level).upper()
    logging.basicConfig(level=level, format=log_format())
    # httpx logs every request with its full URL at INFO: webhook and ntfy URLs carry
    # tokens. The channels log their own, redacted, lines.
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    directory = resolve_data_dir(data_dir, config)
    limit_arenas()  # before the agent starts its threads
    agent = Agent(config, directory, config_path=config_path, listen=address, log_level=log_level)
    try:
        agent.open()
    except StoreError as exc:
        raise UsageError(f"cannot open the store in {directory}: {exc}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot use data directory {directory}: {reason}") from None
    # The agent logs the dashboard's URL once it listens. Its refusals (a non-loopback
    # address without auth, an address in use) are UsageErrors: one line, exit 2.
    asyncio.run(agent.run())


def log_format(environ: dict[str, str] | None = None) -> str:
    """JOURNAL_LOG_FORMAT when stderr is the journal: systemd then sets JOURNAL_STREAM to
    its ``device:inode`` (systemd.exec(5)), compared here as sd_journal_stream_fd advises."""
    stream = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(2)
    except OSError:
        return LOG_FORMAT
    return JOURNAL_LOG_FORMAT if stream == f"{st.st_dev}:{st.st_ino}" else LOG_FORMAT
