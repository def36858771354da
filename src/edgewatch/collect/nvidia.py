"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported as ``pynvml``), named as
NVIDIA's DCGM exporter names them, in DCGM's units, so its Grafana dashboards work.

``pynvml`` is imported by ``available()``, never at import time: on a machine
without NVIDIA the agent neither loads it nor needs it installed. A GPU that is
lost mid-run (fallen off the bus, driver unloaded or reloaded) makes this
collector shut NVML down -- which also lets the driver be unloaded -- report
``nvidia_gpu_up 0`` and try to start NVML again with a growing delay, resuming
with fresh device handles when the GPU is back, without an agent restart. The
same holds at start: when NVML cannot start yet because the driver is not
loaded (early boot, a driver upgrade), the collector stays on and retries; only
a machine without nvidia-ml-py or without NVIDIA's library turns it off.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from edgewatch.collect.base import COUNTER, GAUGE, INFO, KeyCache, OnceLogger, family, read_stripped
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

_DCGM = ("gpu", "UUID", "device", "modelName")  # the labels DCGM exporter puts on every series
UTIL = family("DCGM_FI_DEV_GPU_UTIL", GAUGE, "GPU utilisation in percent.", *_DCGM)
MEM_UTIL = family("DCGM_FI_DEV_MEM_COPY_UTIL", GAUGE, "Memory utilisation in percent.", *_DCGM)
FB_USED = family("DCGM_FI_DEV_FB_USED", GAUGE, "Framebuffer memory used, MiB.", *_DCGM)
FB_FREE = family("DCGM_FI_DEV_FB_FREE", GAUGE, "Framebuffer memory free, MiB.", *_DCGM)
FB_TOTAL = family("DCGM_FI_DEV_FB_TOTAL", GAUGE, "Framebuffer memory total, MiB.", *_DCGM)
TEMP = family("DCGM_FI_DEV_GPU_TEMP", GAUGE, "GPU temperature in degrees Celsius.", *_DCGM)
POWER = family("DCGM_FI_DEV_POWER_USAGE", GAUGE, "Power draw in watts.", *_DCGM)
ENERGY = family(
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", COUNTER, "Energy used since boot, mJ.", *_DCGM
)
SM_CLOCK = family("DCGM_FI_DEV_SM_CLOCK", GAUGE, "SM clock in MHz.", *_DCGM)
MEM_CLOCK = family("DCGM_FI_DEV_MEM_CLOCK", GAUGE, "Memory clock in MHz.", *_DCGM)
FAN = family("DCGM_FI_DEV_FAN_SPEED", GAUGE, "Fan speed in percent of its maximum.", *_DCGM)
THROTTLE_MASK = family(
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", GAUGE, "Clock throttle reasons as NVML's bitmask.", *_DCGM
)
XID = family("DCGM_FI_DEV_XID_ERRORS", GAUGE, "Code of the last XID error seen (0: none).", *_DCGM)
ECC_SBE_VOL = family(
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", COUNTER, "Corrected ECC errors since driver load.", *_DCGM
)
ECC_DBE_VOL = family(
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", COUNTER, "Uncorrected ECC errors since driver load.", *_DCGM
)
ECC_SBE_AGG = family(
    "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", COUNTER, "Corrected ECC errors, GPU lifetime.", *_DCGM
)
ECC_DBE_AGG = family(
    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", COUNTER, "Uncorrected ECC errors, GPU lifetime.", *_DCGM
)
THROTTLE = family(
    "nvidia_gpu_throttle_reason", GAUGE, "1 while this reason holds the clocks down.",
    *_DCGM, "reason",
)  # fmt: skip
XID_TOTAL = family(
    "nvidia_gpu_xid_errors_total", COUNTER, "XID errors seen since the agent started.", *_DCGM
)
PROC_MEM = family(
    "nvidia_gpu_process_memory_bytes", GAUGE,
    "GPU memory used by the processes of one name (top N by memory; the rest: other).",
    *_DCGM, "process",
)  # fmt: skip
PROCS = family("nvidia_gpu_processes", GAUGE, "Processes using the GPU.", *_DCGM)
GPU_UP = family("nvidia_gpu_up", GAUGE, "1 while NVML answers for this GPU, 0 once lost.", *_DCGM)
NVML_UP = family("nvidia_nvml_up", GAUGE, "1 while NVML runs, 0 while it is being restarted.")
DRIVER = family("nvidia_driver_info", INFO, "NVIDIA driver version.", "driver_version")
NVML_ERRORS = family(
    "nvidia_nvml_errors_total", COUNTER, "NVML calls that failed (not counting unsupported)."
)

FAMILIES = (
    UTIL, MEM_UTIL, FB_USED, FB_FREE, FB_TOTAL, TEMP, POWER, ENERGY, SM_CLOCK, MEM_CLOCK, FAN,
    THROTTLE_MASK, XID, ECC_SBE_VOL, ECC_DBE_VOL, ECC_SBE_AGG, ECC_DBE_AGG, THROTTLE, XID_TOTAL,
    PROC_MEM, PROCS, GPU_UP, NVML_UP, DRIVER, NVML_ERRORS,
)  # fmt: skip

# NVML's clock-event (throttle) reason bits; part of NVML's C ABI since driver 3.295.
THROTTLE_REASONS = (
    ("gpu_idle", 0x1), ("applications_clocks_setting", 0x2), ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8), ("sync_boost", 0x10), ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40), ("hw_power_brake_slowdown", 0x80),
    ("display_clock_setting", 0x100),
)  # fmt: skip
# Errors that mean the GPU or the driver is gone: NVML must be started again.
_LOST = ("GPU_IS_LOST", "RESET_REQUIRED", "GPU_NOT_FOUND")
_GONE = ("DRIVER_NOT_LOADED", "UNINITIALIZED", "LIB_RM_VERSION_MISMATCH")
# Errors that mean this GPU or driver lacks the metric: stop asking for it.
_MISSING = ("NOT_SUPPORTED", "NO_PERMISSION", "FUNCTION_NOT_FOUND", "INVALID_ARGUMENT")
_MIB = 1024.0 * 1024.0
_MAX_EVENTS = 64  # XID events drained per collection
_XID_EVENT = 0x8  # nvmlEventTypeXidCriticalError
_NVML_LIBRARY = "libnvidia-ml.so.1"  # what pynvml loads on Linux
_NOT_INSTALLED = "nvidia-ml-py is not installed (pip install 'edgewatch[gpu]')"


class _Gpu:
    """One enumerated GPU: its handle, its labels and what it turned out not to support."""

    __slots__ = ("error", "handle", "index", "labels", "lost", "skip")

    def __init__(self, index: int, handle: object, labels: tuple[str, ...]) -> None:
        self.index, self.handle, self.labels = index, handle, labels
        self.skip: set[str] = set()
        self.lost = False
        self.error: object = None  # why it was lost


class NvidiaCollector:
    name = "nvidia"

    def __init__(
        self,
        *,
        interval: float = 5.0,
        top_processes: int = 5,
        retry_max: float = 60.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        nvml: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._top = top_processes
        self._retry_max = max(retry_max, interval)
        self._proc = proc_root
        self._nvml: Any = nvml
        self._clock = clock
        self._keys = KeyCache()
        self._once = OnceLogger(log)
        self._gpus: list[_Gpu] = []
        self._known: dict[int, tuple[str, ...]] = {}  # labels of every GPU seen, by index
        self._events: object = None
        self._driver = ""
        self._running = False  # nvmlInit succeeded and was not shut down since
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._backoff = interval
        self._xid_last: dict[str, int] = {}
        self._xid_count: dict[str, int] = {}
        self._errors = 0

    def available(self) -> str | None:
        if self._nvml is None:
            if importlib.util.find_spec("pynvml") is None:
                return _NOT_INSTALLED
            if not _nvml_library_loads():
                # pynvml's own words for it, without importing pynvml (3 MiB RSS kept for
                # good) on a machine with nvidia-ml-py but no NVIDIA driver.
                return "NVML cannot start: NVML Shared Library Not Found"
            try:
                self._nvml = importlib.import_module("pynvml")
            except ImportError:
                return _NOT_INSTALLED
        try:
            self._open()
        except self._nvml.NVMLError as exc:
            self._close()
            if not _code_in(self._nvml, exc, _GONE + _LOST):
                return f"NVML cannot start: {exc}"
            # The driver is not loaded yet (boot) or is being reloaded: stay on, retry.
            log.warning(
                "NVML cannot start yet (%s): reporting nvidia_nvml_up 0, retrying every "
                "%g s to %g s",
                exc, self.interval, self._retry_max,
            )  # fmt: skip
            now = self._clock()
            self._down_since = now
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, self._retry_max)
            return None
        if not self._gpus and not self._known:
            self._close()
            return "NVML found no NVIDIA GPU"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        nvml = self._nvml
        now = self._clock()
        lost_some = any(g.lost for g in self._gpus) or len(self._gpus) < len(self._known)
        if (not self._running or lost_some) and now >= self._retry_at:
            try:
                self._reopen(now)
            except nvml.NVMLError as exc:
                self._went_down(now, exc)
        if not self._running:
            return self._down_samples()
        out: list[Sample] = []
        try:
            for gpu in self._gpus:
                if not gpu.lost:
                    self._collect_gpu(gpu, out)
            self._drain_events()
        except nvml.NVMLError as exc:
            if _code_in(nvml, exc, _GONE):
                self._went_down(now, exc)
                return self._down_samples()
            raise
        lost = [g for g in self._gpus if g.lost]
        if lost and len(lost) == len(self._gpus):  # none answers: let go of the driver
            self._went_down(now, lost[0].error or "all GPUs lost")
            return self._down_samples()
        if lost and self._retry_at <= now:
            self._retry_at = now + self._backoff
        key = self._keys.key
        answering = {g.index for g in self._gpus if not g.lost}
        for index, labels in sorted(self._known.items()):
            out.append(Sample(key(GPU_UP, *labels), 1.0 if index in answering else 0.0))
            if index in answering:
                uuid = labels[1]
                out.append(Sample(key(XID, *labels), float(self._xid_last.get(uuid, 0))))
                out.append(Sample(key(XID_TOTAL, *labels), float(self._xid_count.get(uuid, 0))))
        out.append(Sample(key(NVML_UP), 1.0))
        out.append(Sample(key(NVML_ERRORS), float(self._errors)))
        if self._driver:
            out.append(Sample(key(DRIVER, self._driver), 1.0))
        return out

    # -- NVML lifecycle -------------------------------------------------------------

    def _open(self) -> None:
        nvml = self._nvml
        nvml.nvmlInit()
        self._running = True
        self._driver = _text(self._optional(nvml.nvmlSystemGetDriverVersion))
        gpus: list[_Gpu] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                model = _text(nvml.nvmlDeviceGetName(handle))
            except nvml.NVMLError as exc:
                if not _code_in(nvml, exc, _LOST):
                    raise
                self._once.warning(f"NVIDIA GPU {index} is lost at start ({exc})")
                self._known.setdefault(index, (str(index), "", f"nvidia{index}", ""))
                continue
            minor = self._optional(nvml.nvmlDeviceGetMinorNumber, handle)
            device = f"nvidia{minor if isinstance(minor, int) else index}"
            labels = (str(index), uuid, device, model)
            self._known[index] = labels
            gpus.append(_Gpu(index, handle, labels))
        self._gpus = gpus
        self._events = self._optional(nvml.nvmlEventSetCreate)
        for gpu in gpus if self._events is not None else ():
            self._optional(nvml.nvmlDeviceRegisterEvents, gpu.handle, _XID_EVENT, self._events)

    def _reopen(self, now: float) -> None:
        was_down = self._down_since is not None
        self._close()
        self._open()
        self._down_since = None
        if len(self._gpus) < len(self._known):  # a GPU is still missing: look again later
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, self._retry_max)
        else:
            self._backoff = self.interval
        if was_down:
            log.info("NVML is back: %d NVIDIA GPU(s) answer", len(self._gpus))

    def _close(self) -> None:
        """Releases NVML (its device files), so that the driver can be unloaded."""
        nvml = self._nvml
        if self._events is not None:
            self._optional(nvml.nvmlEventSetFree, self._events)
            self._events = None
        if self._running:
            self._running = False
            try:
                nvml.nvmlShutdown()
            except nvml.NVMLError as exc:
                log.debug("nvmlShutdown failed: %s", exc)
        self._gpus = []

    def _went_down(self, now: float, exc: object) -> None:
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "NVIDIA GPUs unreachable (%s): NVML shut down, retrying every %g s to %g s",
                exc, self.interval, self._retry_max,
            )  # fmt: skip
        else:
            log.debug("NVML still unreachable: %s", exc)
        self._close()
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self._retry_max)

    def _down_samples(self) -> list[Sample]:
        key = self._keys.key
        out = [Sample(key(GPU_UP, *labels), 0.0) for _, labels in sorted(self._known.items())]
        out.append(Sample(key(NVML_UP), 0.0))
        out.append(Sample(key(NVML_ERRORS), float(self._errors)))
        return out

    # -- readings ---------------------------------------------------------------------

    def _collect_gpu(self, gpu: _Gpu, out: list[Sample]) -> None:
        nvml = self._nvml
        try:
            self._read_gpu(gpu, out)
        except nvml.NVMLError as exc:
            if not _code_in(nvml, exc, _LOST):
                raise
            self._lose(gpu, exc)

    def _lose(self, gpu: _Gpu, exc: object) -> None:
        if not gpu.lost:
            gpu.lost, gpu.error = True, exc
            log.warning("NVIDIA GPU %s (%s) is lost: %s", gpu.index, gpu.labels[1], exc)

    def _read_gpu(self, gpu: _Gpu, out: list[Sample]) -> None:
        nvml, labels, key, call = self._nvml, gpu.labels, self._keys.key, self._call

        def put(fam: MetricFamily, value: float | None, scale: float = 1.0) -> None:
            if value is not None:
                out.append(Sample(key(fam, *labels), value * scale))

        util = call(gpu, "utilization", nvml.nvmlDeviceGetUtilizationRates)
        if util is not None:
            put(UTIL, float(util.gpu))
            put(MEM_UTIL, float(util.memory))
        memory = call(gpu, "memory", nvml.nvmlDeviceGetMemoryInfo)
        if memory is not None:
            put(FB_USED, memory.used / _MIB)
            put(FB_FREE, memory.free / _MIB)
            put(FB_TOTAL, memory.total / _MIB)
        put(TEMP, call(gpu, "temp", nvml.nvmlDeviceGetTemperature, nvml.NVML_TEMPERATURE_GPU))
        put(POWER, call(gpu, "power", nvml.nvmlDeviceGetPowerUsage), 1e-3)  # mW
        put(ENERGY, call(gpu, "energy", nvml.nvmlDeviceGetTotalEnergyConsumption))
        put(SM_CLOCK, call(gpu, "sm clock", nvml.nvmlDeviceGetClockInfo, nvml.NVML_CLOCK_SM))
        put(MEM_CLOCK, call(gpu, "mem clock", nvml.nvmlDeviceGetClockInfo, nvml.NVML_CLOCK_MEM))
        put(FAN, call(gpu, "fan", nvml.nvmlDeviceGetFanSpeed))
        reasons_fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)  # >= 12.535
        reasons_fn = reasons_fn or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        reasons = call(gpu, "throttle", reasons_fn)
        if reasons is not None:
            put(THROTTLE_MASK, float(reasons))
            for reason, bit in THROTTLE_REASONS:
                out.append(Sample(key(THROTTLE, *labels, reason), 1.0 if reasons & bit else 0.0))
        corrected, uncorrected = (
            nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
        )  # fmt: skip
        volatile, aggregate = nvml.NVML_VOLATILE_ECC, nvml.NVML_AGGREGATE_ECC
        ecc = nvml.nvmlDeviceGetTotalEccErrors
        put(ECC_SBE_VOL, call(gpu, "ecc", ecc, corrected, volatile))
        put(ECC_DBE_VOL, call(gpu, "ecc", ecc, uncorrected, volatile))
        put(ECC_SBE_AGG, call(gpu, "ecc", ecc, corrected, aggregate))
        put(ECC_DBE_AGG, call(gpu, "ecc", ecc, uncorrected, aggregate))
        self._processes(gpu, out)

    def _processes(self, gpu: _Gpu, out: list[Sample]) -> None:
        nvml = self._nvml
        by_pid: dict[int, int] = {}
        for what, fn in (
            ("compute processes", nvml.nvmlDeviceGetComputeRunningProcesses),
            ("graphics processes", nvml.nvmlDeviceGetGraphicsRunningProcesses),
        ):
            for proc in self._call(gpu, what, fn) or ():
                used = int(proc.usedGpuMemory or 0)  # None: not reported (WDDM, MIG)
                by_pid[proc.pid] = max(by_pid.get(proc.pid, 0), used)
        by_name: dict[str, int] = {}
        for pid, used in by_pid.items():
            name = self._process_name(pid)
            by_name[name] = by_name.get(name, 0) + used
        ranked = sorted(by_name.items(), key=lambda item: (-item[1], item[0]))
        shown, rest = ranked[: self._top], ranked[self._top :]
        if rest:
            shown.append(("other", sum(used for _, used in rest)))
        key = self._keys.key
        out.append(Sample(key(PROCS, *gpu.labels), float(len(by_pid))))
        out.extend(Sample(key(PROC_MEM, *gpu.labels, name), float(b)) for name, b in shown)

    def _process_name(self, pid: int) -> str:
        name = read_stripped(os.path.join(self._proc, str(pid), "comm"))
        if name:
            return name
        full = self._optional(self._nvml.nvmlSystemGetProcessName, pid)
        return os.path.basename(_text(full)) or "unknown"

    def _drain_events(self) -> None:
        nvml = self._nvml
        if self._events is None:
            return
        for _ in range(_MAX_EVENTS):
            try:
                event = nvml.nvmlEventSetWait_v2(self._events, 0)
            except nvml.NVMLError as exc:
                if exc.value != nvml.NVML_ERROR_TIMEOUT:  # TIMEOUT: no event waiting
                    self._count_error(f"XID events: {exc}")
                return
            if event.eventType & _XID_EVENT:
                uuid = self._uuid_of(event.device, int(event.eventData))
                if uuid is None:
                    continue
                self._xid_last[uuid] = int(event.eventData)
                self._xid_count[uuid] = self._xid_count.get(uuid, 0) + 1
                log.warning("NVIDIA GPU %s: XID error %d", uuid, event.eventData)

    def _uuid_of(self, handle: object, xid: int) -> str | None:
        """The UUID of the GPU an event came from: that of the enumerated GPU with this
        handle, else NVML's answer; None when that GPU is lost and unknown to us."""
        wanted = _handle_id(handle)
        for gpu in self._gpus:
            if _handle_id(gpu.handle) == wanted:
                return gpu.labels[1]
        nvml = self._nvml
        try:
            return _text(nvml.nvmlDeviceGetUUID(handle))
        except nvml.NVMLError as exc:
            if not _code_in(nvml, exc, _LOST):
                raise
            self._once.warning(f"NVIDIA XID error {xid} from a GPU that is lost ({exc})")
            return None

    def _call(self, gpu: _Gpu, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(handle, *args)``, or None when this GPU lacks the metric or the call failed.

        A lost GPU's error propagates; an unsupported metric is never asked again.
        """
        if what in gpu.skip:
            return None
        nvml = self._nvml
        try:
            return fn(gpu.handle, *args)
        except nvml.NVMLError as exc:
            if _code_in(nvml, exc, _LOST + _GONE):
                raise
            if _code_in(nvml, exc, _MISSING):
                gpu.skip.add(what)
                self._once.info(f"NVIDIA GPU {gpu.index} ({gpu.labels[3]}): no {what} ({exc})")
            else:
                self._count_error(f"NVIDIA GPU {gpu.index}: reading {what} failed: {exc}")
            return None

    def _optional(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A call whose failure leaves out one detail (driver version, minor number, events)."""
        nvml = self._nvml
        try:
            return fn(*args)
        except nvml.NVMLError as exc:
            if _code_in(nvml, exc, _LOST + _GONE):
                raise
            self._once.info(f"NVML {getattr(fn, '__name__', 'call')} unavailable: {exc}")
            return None

    def _count_error(self, message: str) -> None:
        self._errors += 1
        self._once.warning(message)


def _code_in(nvml: Any, exc: Any, names: tuple[str, ...]) -> bool:
    code = getattr(exc, "value", None)
    return any(getattr(nvml, f"NVML_ERROR_{name}", object()) == code for name in names)


def _handle_id(handle: object) -> object:
    """What tells two NVML device handles apart: the address a ctypes pointer holds (two
    pointer objects to one device compare unequal), else the handle itself (the fake's)."""
    if isinstance(handle, ctypes._Pointer):
        return ctypes.cast(handle, ctypes.c_void_p).value
    return handle


def _text(value: object) -> str:
    """NVML strings: str from nvidia-ml-py >= 11.515, bytes before."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _nvml_library_loads() -> bool:
    """Whether the dynamic loader finds NVML, as pynvml looks for it on Linux."""
    if not sys.platform.startswith("linux"):
        return True  # pynvml knows where to look elsewhere
    try:
        ctypes.CDLL(_NVML_LIBRARY)
    except OSError:
        return False
    return True
