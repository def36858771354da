"""The composition root: builds the store, the collectors and the scheduler, runs them.

``Agent(config, data_dir)`` does no I/O; ``open()`` opens the store (raising
StoreError or OSError for the CLI to report), ``run()`` runs until ``stop()`` or
SIGTERM/SIGINT, and SIGHUP reloads the config file. Every collection goes to the
store and to the live hub; the web app (web/app.py) is served by uvicorn on
``listen`` inside the same loop, loaded on its first request (web/lazy.py), and
refused on a non-loopback address unless authentication is configured
(UsageError). A reload rebuilds only the
collectors whose config section changed: the others keep their state (counters
of process names and groups, rates) and their schedule. A log level given on the
command line stays in force across reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from edgewatch.alerting.loading import load_rule_groups
from edgewatch.alerting.service import AlertingService
from edgewatch.budget import CpuBudget, process_cpu_seconds
from edgewatch.collect.registry import BUILTIN_COLLECTORS, load_collector_class
from edgewatch.config import Config, ConfigError, load_config
from edgewatch.errors import UsageError
from edgewatch.health.events import HealthEvents
from edgewatch.health.heartbeat import Heartbeats
from edgewatch.health.model import CheckEnv
from edgewatch.health.runner import HealthMonitor
from edgewatch.live import LiveHub
from edgewatch.maintenance import active as maintenance_active
from edgewatch.model import Collector, MetricFamily, Sample
from edgewatch.query import Engine
from edgewatch.scheduler import Clock, Scheduler, SystemClock
from edgewatch.sdnotify import SdNotifier
from edgewatch.selfmon import SelfCollector
from edgewatch.store import Store
from edgewatch.store.store import DB_NAME
from edgewatch.web.accounts import auth_configured
from edgewatch.web.audit import AuditLog
from edgewatch.web.context import AppContext
from edgewatch.web.lazy import LazyApp, web_app_builder
from edgewatch.web.server import HttpServer, ListenError, is_loopback, stop_and_wait, url_host
from edgewatch.web.sessions import load_or_create_key

if TYPE_CHECKING:  # imported when an endpoint is configured: httpx, protobuf, cramjam
    from edgewatch.export.remote_write import RemoteWriteService

log = logging.getLogger(__name__)

# Seconds between CPU-budget checks (os.times() is cheap).
BUDGET_CHECK_S = 5.0
COLLECT_WORKERS = 2
# Seconds the web server gets to stop (it closes open streams after 2 s).
HTTP_STOP_TIMEOUT_S = 5.0


def store_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


class Agent:
    def __init__(
        self,
        config: Config,
        data_dir: Path,
        *,
        config_path: Path | None = None,
        listen: tuple[str, int] = ("127.0.0.1", 8700),
        clock: Clock | None = None,
        proc_root: Path = Path("/proc"),
        sys_root: Path = Path("/sys"),
        log_level: str | None = None,
        serve_http: bool = True,
    ) -> None:
        """``log_level``: the command line's, which wins over the config's (reloads too).
        ``serve_http=False`` runs without the web server (tests that need no HTTP)."""
        self.config = config
        self.data_dir = data_dir
        self.config_path = config_path
        self.listen = listen
        self.serve_http = serve_http
        self.hub = LiveHub()
        self.health: HealthMonitor | None = None
        self.alerting: AlertingService | None = None
        self._events: HealthEvents | None = None
        self._http: HttpServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._alerting_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._remote_write: RemoteWriteService | None = None
        self._context: AppContext | None = None
        self._families: dict[str, MetricFamily] = {}
        self._ready = False
        self._clock: Clock = clock or SystemClock()
        self._proc_root = proc_root
        self._sys_root = sys_root
        self._store: Store | None = None
        self._budget = CpuBudget(config.agent.cpu_budget)
        self._scheduler: Scheduler | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping: asyncio.Event | None = None
        self._reload_lock: asyncio.Lock | None = None
        self._background: set[asyncio.Task[object]] = set()
        self._log_level = log_level
        # The running collectors by kind, with the config section each was built from.
        self._built: dict[str, tuple[BaseModel, Collector]] = {}

    @property
    def store_path(self) -> Path:
        return store_path(self.data_dir)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the agent's store is not open; call open() first")
        return self._store

    @property
    def http_port(self) -> int | None:
        """The port the web server listens on (the OS's pick when port 0 was asked)."""
        return None if self._http is None else self._http.port

    @property
    def url(self) -> str | None:
        """The dashboard's URL, once the web server is bound."""
        return None if self._http is None else self._http.url

    def ready(self) -> bool:
        """The store is open and the collectors run (``/readyz``)."""
        return self._ready

    def families(self) -> dict[str, MetricFamily]:
        """The metric families of the running collectors, by name."""
        return self._families

    def collectors(self) -> list[Collector]:
        """The collectors scheduled now (empty before ``run()`` and after it returns)."""
        return [] if self._scheduler is None else [st.collector for st in self._scheduler.states()]

    def open(self) -> None:
        """Open (or create) the store; StoreError/OSError propagate to the caller."""
        if self._store is None:
            if self.data_dir.exists() and not self.data_dir.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(self.data_dir))
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._store = Store.open(self.store_path, self.config.store.to_options())

    async def run(self) -> None:
        self.open()
        store = self.store
        if self.serve_http:
            try:
                self._http = self._bind_http(store)
            except BaseException:
                await asyncio.to_thread(store.close)
                self._store = None
                raise
        loop = self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(COLLECT_WORKERS, thread_name_prefix="ew-collect")
        self._scheduler = Scheduler(self._ingest, clock=self._clock, executor=self._executor)
        store.start()
        installed = self._install_signals(loop)
        self._built = {}
        notifier = SdNotifier.from_environ()  # systemd Type=notify + watchdog; no-op outside
        try:
            self._spawn(notifier.watchdog_loop())  # pings only while this loop turns
            self._start_health(store)
            self._start_alerting(store)
            self._start_remote_write(store)
            self._start_http()
            async with self._reload_lock:
                collectors = await self._build_collectors(self.config)
                self._scheduler.start(collectors)
            self._ready = True
            names = ", ".join(c.name for c in collectors)
            log.info(
                "edgewatch running: data dir %s, %d collectors (%s), store %s",
                self.data_dir,
                len(collectors),
                names,
                self.store_path,
            )
            notifier.ready(f"running: {len(collectors)} collectors, {self.url or 'no web server'}")
            self._spawn(self._budget_loop())
            await self._stopping.wait()
        finally:
            notifier.stopping("stopping")
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self._shutdown()

    def stop(self) -> None:
        """Ask ``run()`` to return; safe to call from the loop (signal handlers)."""
        if self._stopping is not None and not self._stopping.is_set():
            log.info("edgewatch stopping")
            self._stopping.set()

    def request_reload(self) -> None:
        self._spawn(self.reload())

    async def reload(self) -> bool:
        """Re-read the config file; keep the old config if it is invalid."""
        if self._reload_lock is None or self._scheduler is None:
            return False
        async with self._reload_lock:
            if self.config_path is None:
                log.info("SIGHUP: no config file in use, nothing to reload")
                return False
            try:
                new = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                log.error("config reload failed, keeping the previous config: %s", exc)
                return False
            if new.store != self.config.store:
                log.warning("store settings changed; they apply after a restart")
            if new.health != self.config.health:
                log.warning("health checks changed; they apply after a restart")
            alerting_keys = ("alerting", "receivers", "route", "inhibit_rules", "notify")
            if any(getattr(new, k) != getattr(self.config, k) for k in alerting_keys):
                log.warning("alerting settings changed; they apply after a restart")
            self._apply_config(new)
            self._budget.budget_ratio = new.agent.cpu_budget
            _apply_log_level(self._log_level or new.log_level)
            before = {id(c) for _, c in self._built.values()}
            collectors = await self._build_collectors(new)
            await self._scheduler.update(collectors)
            rebuilt = [c.name for c in collectors if id(c) not in before]
            log.info(
                "config reloaded from %s: %d collectors (%s); rebuilt: %s",
                self.config_path,
                len(collectors),
                ", ".join(c.name for c in collectors),
                ", ".join(rebuilt) or "none",
            )
            return True

    # -- internals -----------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        handlers = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
            signal.SIGHUP: self.request_reload,
        }
        installed: list[int] = []
        for sig, handler in handlers.items():
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread (tests), or no signals here
            installed.append(sig)
        return installed

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _start_health(self, store: Store) -> None:
        """The health monitor: its results become samples like any collector's."""
        env = CheckEnv(
            proc_root=self._proc_root,
            sys_root=self._sys_root,
            clock=self._clock.time,
            engine=Engine(store, self.config.query),
            heartbeats=Heartbeats(clock=self._clock.time),
        )
        events = self._events = HealthEvents(self.store_path, on=self.config.health.events_on)
        # Events a previous run left open for checks no longer configured end now.
        events.close_stale(
            [c.name for c in self.config.health.checks], round(self._clock.time() * 1000)
        )
        self.health = HealthMonitor(
            self.config.health,
            env,
            sink=self._ingest,
            on_change=events.on_change,
            audit=AuditLog(self.store_path, clock=self._clock.time).write,  # remediation
            audit_db=self.store_path,  # the reboot guard looks back across restarts
            maintenance=self._in_maintenance,
        )
        if self._context is not None:
            self._context.health = self.health
        if self.config.health.checks:
            self._spawn(self.health.run())
            log.info("health: %d checks", len(self.config.health.checks))

    def _start_alerting(self, store: Store) -> None:
        """The alert engine: rules over the store, notifications through the outbox.
        A rule file that does not load stops the start (ConfigError), like the config."""
        groups = load_rule_groups(self.config.alerting)
        service = self.alerting = AlertingService(
            self.config,
            groups,
            db_path=self.store_path,
            engine=Engine(store, self.config.query),
            sink=self._ingest,
            clock=self._clock.time,
            ack_secret=load_or_create_key(self.data_dir),
        )
        ctx = self._context
        if ctx is not None:
            ctx.alerting = service
            ctx.silences = service.silences
            ctx.acks = service.acks
            ctx.ack_links = service.ack_links
        self._alerting_task = asyncio.create_task(service.run(), name="edgewatch-alerting")

    def _start_remote_write(self, store: Store) -> None:
        """One sender per remote_write endpoint, reading the store from its checkpoint."""
        if self.config.remote_write:
            from edgewatch.export.remote_write import RemoteWriteService

            service = self._remote_write = RemoteWriteService(
                self.config.remote_write,
                store,
                db_path=self.store_path,
                sink=self._ingest,
                clock=self._clock.time,
            )
            service.start()

    def _in_maintenance(self, now_s: float) -> bool:
        return bool(maintenance_active(self.config.maintenance, round(now_s * 1000)))

    def _ingest(self, ts_ms: int, samples: Sequence[Sample]) -> None:
        """Samples to the store (thread-safe) and the live hub (loop-only): a caller in
        a worker thread (the rule evaluator) hands the hub's part to the loop."""
        self.store.append(ts_ms, samples)
        loop = self._loop
        if loop is None or _on_loop(loop):
            self.hub.publish(ts_ms, samples)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self.hub.publish, ts_ms, list(samples))

    def _apply_config(self, new: Config) -> None:
        """Take a reloaded config; the web app sees it (and new query limits) at once."""
        ctx = self._context
        if ctx is not None:
            if new.query != ctx.config.query:
                ctx.engine = Engine(ctx.reader, new.query)
            ctx.config = new
        self.config = new

    def _bind_http(self, store: Store) -> HttpServer:
        """The web app on ``listen``, its socket bound; UsageError when it must not or
        cannot listen there."""
        host, port = self.listen
        loopback = is_loopback(host)
        if not loopback and not auth_configured(self.config, self.store_path):
            raise UsageError(
                f"refusing to listen on {url_host(host)}:{port} without authentication: "
                "add an API token under auth.tokens in the config or a dashboard user "
                "with `edgewatch user add` (see docs/auth.md), or listen on 127.0.0.1"
            )
        self._context = AppContext(
            config=self.config,
            reader=store,
            engine=Engine(store, self.config.query),
            hub=self.hub,
            data_dir=self.data_dir,
            store=store,
            families=self.families,
            ready=self.ready,
        )
        # The web app (fastapi, ~15 MiB) is imported and built on the first request.
        app = LazyApp(web_app_builder(self._context, loopback=loopback))
        server = HttpServer(app, host, port)
        try:
            server.bind()
        except ListenError as exc:
            raise UsageError(f"{exc} (see --listen or the config's listen)") from None
        return server

    def _start_http(self) -> None:
        server = self._http
        if server is None:
            return
        self._http_task = asyncio.create_task(server.serve(), name="edgewatch-http")
        self._http_task.add_done_callback(self._http_done)
        log.info("dashboard and API on %s", server.url)

    def _http_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping is None or self._stopping.is_set():
            return
        exc = task.exception()
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "it returned"
        log.error("the web server stopped unexpectedly (%s); stopping the agent", reason)
        self.stop()

    async def _build_collectors(self, config: Config) -> list[Collector]:
        """The collectors ``config`` enables: the running ones whose section is
        unchanged, new instances for the others."""
        loop = asyncio.get_running_loop()
        previous, self._built = self._built, {}
        built: list[Collector] = []
        for kind in BUILTIN_COLLECTORS:
            section = getattr(config.collectors, kind, None)
            if section is None or not section.enabled:
                continue
            old = previous.get(kind)
            if old is not None and old[0] == section:
                self._built[kind] = old
                built.append(old[1])
                continue
            try:
                cls = load_collector_class(kind)
                kwargs = collector_kwargs(section)
                collector: Collector = cls(
                    proc_root=str(self._proc_root), sys_root=str(self._sys_root), **kwargs
                )
            except Exception as exc:  # one bad collector must not stop the agent
                log.error("collector %s could not be built, disabled: %s", kind, exc)
                continue
            reason = await loop.run_in_executor(self._executor, collector.available)
            if reason is not None:
                log.info("collector %s disabled: %s", kind, reason)
                continue
            self._built[kind] = (section, collector)
            built.append(collector)
        section = config.collectors.self
        if section.enabled:
            old = previous.get("self")
            if old is None or old[0] != section:
                old = (section, self._self_collector(section.interval))
            self._built["self"] = old
            built.append(old[1])
        self._families = _families_of(built)
        return built

    def _self_collector(self, interval: float) -> SelfCollector:
        scheduler = self._scheduler
        if scheduler is None:
            raise RuntimeError("scheduler not started")
        return SelfCollector(
            interval=interval,
            collectors=scheduler.states,
            store_stats=self.store.stats,
            budget=self._budget,
            proc_root=self._proc_root,
        )

    async def _budget_loop(self) -> None:
        budget = self._budget
        while True:
            await self._clock.sleep(BUDGET_CHECK_S)
            before = budget.factor
            # Monotonic: a wall clock stepped by NTP (no RTC) must not skew the window.
            changed = budget.observe(time.monotonic(), process_cpu_seconds())
            if changed is None or self._scheduler is None:
                continue
            names = ", ".join(self._scheduler.set_throttle(changed)) or "no expensive collector"
            usage = (budget.usage_ratio or 0.0) * 100
            limit = budget.budget_ratio * 100
            if changed > before:
                log.warning(
                    "CPU budget exceeded: %.2f%% of one core (budget %.2f%%): "
                    "%s slowed down to 1/%d",
                    usage,
                    limit,
                    names,
                    changed,
                )
            elif changed > 1:
                log.info(
                    "CPU budget: %.2f%% of one core (budget %.2f%%): %s sped up to 1/%d",
                    usage,
                    limit,
                    names,
                    changed,
                )
            else:
                log.info(
                    "CPU budget: %.2f%% of one core (budget %.2f%%): %s back to normal speed",
                    usage,
                    limit,
                    names,
                )

    async def _shutdown(self) -> None:
        self._ready = False
        if self._stopping is not None:
            self._stopping.set()  # an unexpected exit: the web server's end is expected now
        # End the live streams first: an open SSE response never ends by itself, and
        # uvicorn would cancel it (logging an error) once its grace period is over.
        self.hub.close()
        if self._http is not None:
            if self._http_task is not None:
                await stop_and_wait(self._http, self._http_task, HTTP_STOP_TIMEOUT_S)
            self._http.close()
            self._http_task = None
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.alerting is not None:
            self.alerting.stop()
            if self._alerting_task is not None:
                await asyncio.gather(self._alerting_task, return_exceptions=True)
                self._alerting_task = None
            self.alerting.close()
            self.alerting = None
        if self._remote_write is not None:
            await self._remote_write.close()  # before the store closes: cursors saved
            self._remote_write = None
        if self._events is not None:
            await self._events.flush()  # the last state changes reach the file
            self._events.close()
            self._events = None
        if self._scheduler is not None:
            await self._scheduler.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._built = {}
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
            self._store = None
        log.info("edgewatch stopped")


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop in this thread: a worker
        return False


def collector_kwargs(section: BaseModel) -> dict[str, Any]:
    """A collector section's settings as constructor keywords (``enabled`` left out)."""
    kwargs: dict[str, Any] = {
        name: getattr(section, name) for name in type(section).model_fields if name != "enabled"
    }
    groups = kwargs.get("groups")
    if isinstance(groups, dict):  # processes: name -> {match: regex} becomes name -> regex
        kwargs["groups"] = {name: getattr(g, "match", g) for name, g in groups.items()}
    return kwargs


def _families_of(collectors: Sequence[Collector]) -> dict[str, MetricFamily]:
    families: dict[str, MetricFamily] = {}
    for collector in collectors:
        try:
            for family in collector.families():
                families.setdefault(family.name, family)
        except Exception as exc:  # a third-party collector's bug must not stop the agent
            log.error("collector %s: families() failed: %s", collector.name, exc)
    return families


def _apply_log_level(level: str) -> None:
    with contextlib.suppress(ValueError, TypeError):
        logging.getLogger().setLevel(level.upper())
