"""A stand-in for ``pynvml`` (nvidia-ml-py) that simulates GPUs without a driver.

Faithful where the collector depends on it: the constants, the ``NVMLError``
class hierarchy and the result structures are the real module's own (imported
from nvidia-ml-py, which the ``test`` extra installs); only the calls into
``libnvidia-ml.so`` are replaced by an in-memory model of the GPUs, with the
function names and parameter names of the real module (a test checks them).
Errors come back as NVML does: ``NVMLError(NVML_ERROR_...)`` instantiates the
per-code subclass (``NVMLError_GpuIsLost``...).

Toggle the state to simulate faults: ``library_present``, ``unload_driver()`` /
``load_driver()``, ``lose(i)`` / ``restore(i)``, ``FakeGpu.unsupported``.
"""

from __future__ import annotations

import types
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pynvml as real  # type: ignore[import-untyped]

# The real module's public names the fake re-exports unchanged.
_REEXPORT = ("NVML_", "NVMLError", "nvmlClocks", "nvmlEventType", "c_nvml")


@dataclass
class FakeGpu:
    name: str = "NVIDIA A2"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    minor: int = 0
    util_gpu: int = 37
    util_memory: int = 12
    memory_total: int = 16 * 1024**3
    memory_used: int = 3 * 1024**3
    temperature: int = 54
    power_mw: int = 41_250
    energy_mj: int = 123_456_789
    sm_clock: int = 1_410
    mem_clock: int = 6_251
    fan: int = 30
    throttle: int = 0
    # (error type, counter type) -> count; the NVML_MEMORY_ERROR_TYPE_* / NVML_*_ECC codes.
    ecc: dict[tuple[int, int], int] = field(default_factory=dict)
    compute: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    # pynvml function names that answer NVML_ERROR_NOT_SUPPORTED on this GPU.
    unsupported: set[str] = field(default_factory=set)
    lost: bool = False
    generation: int = 0  # bumped when the GPU comes back: older handles stay invalid


@dataclass(frozen=True)
class _Handle:
    gpu: FakeGpu
    generation: int


class FakeNvml:
    """Use an instance where the ``pynvml`` module would go: ``NvidiaCollector(nvml=fake)``."""

    def __init__(self, gpus: list[FakeGpu] | None = None) -> None:
        for name in dir(real):
            if name.startswith(_REEXPORT):
                setattr(self, name, getattr(real, name))
        self.gpus = list(gpus or [])
        self.library_present = True
        self.driver_loaded = True
        self.driver_version = "550.127.05"
        self.process_names: dict[int, str] = {}
        self.calls: Counter[str] = Counter()
        self._refcount = 0
        self._events: list[tuple[FakeGpu, int]] = []  # pending (gpu, xid)

    # -- faults ----------------------------------------------------------------------

    def unload_driver(self) -> None:
        self.driver_loaded = False

    def load_driver(self) -> None:
        self.driver_loaded = True
        for gpu in self.gpus:
            gpu.generation += 1

    def lose(self, index: int) -> None:
        self.gpus[index].lost = True

    def restore(self, index: int) -> None:
        self.gpus[index].lost = False
        self.gpus[index].generation += 1

    def xid(self, index: int, code: int) -> None:
        self._events.append((self.gpus[index], code))

    # -- library ---------------------------------------------------------------------

    def _fail(self, code: int) -> None:
        raise real.NVMLError(code)

    def _check(self, fn: str) -> None:
        self.calls[fn] += 1
        if self._refcount == 0:
            self._fail(real.NVML_ERROR_UNINITIALIZED)

    def _gpu(self, fn: str, handle: _Handle) -> FakeGpu:
        self._check(fn)
        gpu = handle.gpu
        if not self.driver_loaded or gpu.lost or handle.generation != gpu.generation:
            self._fail(real.NVML_ERROR_GPU_IS_LOST)
        if fn in gpu.unsupported:
            self._fail(real.NVML_ERROR_NOT_SUPPORTED)
        return gpu

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if not self.library_present:
            self._fail(real.NVML_ERROR_LIBRARY_NOT_FOUND)
        if not self.driver_loaded:
            self._fail(real.NVML_ERROR_DRIVER_NOT_LOADED)
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        self._check("nvmlShutdown")
        self._refcount -= 1

    @property
    def initialised(self) -> bool:
        return self._refcount > 0

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self._check("nvmlSystemGetProcessName")
        if pid not in self.process_names:
            self._fail(real.NVML_ERROR_NOT_FOUND)
        return self.process_names[pid]

    def nvmlDeviceGetCount(self) -> int:
        self._check("nvmlDeviceGetCount")
        if not self.driver_loaded:
            self._fail(real.NVML_ERROR_DRIVER_NOT_LOADED)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._check("nvmlDeviceGetHandleByIndex")
        if index >= len(self.gpus):
            self._fail(real.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[index]
        if gpu.lost:
            self._fail(real.NVML_ERROR_GPU_IS_LOST)
        return _Handle(gpu, gpu.generation)

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return self._gpu("nvmlDeviceGetName", handle).name

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        return self._gpu("nvmlDeviceGetUUID", handle).uuid

    def nvmlDeviceGetMinorNumber(self, handle: _Handle) -> int:
        return self._gpu("nvmlDeviceGetMinorNumber", handle).minor

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> Any:
        gpu = self._gpu("nvmlDeviceGetUtilizationRates", handle)
        return real.c_nvmlUtilization_t(gpu=gpu.util_gpu, memory=gpu.util_memory)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: int | None = None) -> Any:
        gpu = self._gpu("nvmlDeviceGetMemoryInfo", handle)
        free = gpu.memory_total - gpu.memory_used
        return real.c_nvmlMemory_t(total=gpu.memory_total, free=free, used=gpu.memory_used)

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        gpu = self._gpu("nvmlDeviceGetTemperature", handle)
        if sensor != real.NVML_TEMPERATURE_GPU:
            self._fail(real.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temperature

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        return self._gpu("nvmlDeviceGetPowerUsage", handle).power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        return self._gpu("nvmlDeviceGetTotalEnergyConsumption", handle).energy_mj

    def nvmlDeviceGetClockInfo(self, handle: _Handle, type: int) -> int:
        gpu = self._gpu("nvmlDeviceGetClockInfo", handle)
        clocks = {real.NVML_CLOCK_SM: gpu.sm_clock, real.NVML_CLOCK_MEM: gpu.mem_clock}
        if type not in clocks:
            self._fail(real.NVML_ERROR_NOT_SUPPORTED)
        return clocks[type]

    def nvmlDeviceGetFanSpeed(self, handle: _Handle) -> int:
        return self._gpu("nvmlDeviceGetFanSpeed", handle).fan

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: _Handle) -> int:
        return self._gpu("nvmlDeviceGetCurrentClocksEventReasons", handle).throttle

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: _Handle) -> int:
        return self._gpu("nvmlDeviceGetCurrentClocksThrottleReasons", handle).throttle

    def nvmlDeviceGetTotalEccErrors(self, handle: _Handle, errorType: int, counterType: int) -> int:
        gpu = self._gpu("nvmlDeviceGetTotalEccErrors", handle)
        return gpu.ecc.get((errorType, counterType), 0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[Any]:
        gpu = self._gpu("nvmlDeviceGetComputeRunningProcesses", handle)
        return [_process(pid, used) for pid, used in gpu.compute]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: _Handle) -> list[Any]:
        gpu = self._gpu("nvmlDeviceGetGraphicsRunningProcesses", handle)
        return [_process(pid, used) for pid, used in gpu.graphics]

    def nvmlEventSetCreate(self) -> object:
        self._check("nvmlEventSetCreate")
        return object()

    def nvmlDeviceRegisterEvents(self, handle: _Handle, eventTypes: int, eventSet: object) -> None:
        self._gpu("nvmlDeviceRegisterEvents", handle)

    def nvmlEventSetWait_v2(self, eventSet: object, timeoutms: int) -> Any:
        self._check("nvmlEventSetWait_v2")
        if not self._events:
            self._fail(real.NVML_ERROR_TIMEOUT)
        gpu, code = self._events.pop(0)
        return types.SimpleNamespace(
            device=_Handle(gpu, gpu.generation),
            eventType=real.nvmlEventTypeXidCriticalError,
            eventData=code,
            gpuInstanceId=0,
            computeInstanceId=0,
        )

    def nvmlEventSetWait(self, eventSet: object, timeoutms: int) -> Any:
        return self.nvmlEventSetWait_v2(eventSet, timeoutms)

    def nvmlEventSetFree(self, eventSet: object) -> None:
        self._check("nvmlEventSetFree")


def _process(pid: int, used: int | None) -> Any:
    """What pynvml returns: the struct made friendly, ``usedGpuMemory`` None when not reported."""
    raw = real.c_nvmlProcessInfo_v2_t(pid=pid, usedGpuMemory=used or 0)
    obj = real.nvmlStructToFriendlyObject(raw)
    if used is None:
        obj.usedGpuMemory = None
    return obj
