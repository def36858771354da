"""The NVML collector against a fake pynvml (no GPU here) and against the real module."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
from pathlib import Path

import pynvml  # type: ignore[import-untyped]
import pytest
from collect_helpers import values
from fake_pynvml import FakeGpu, FakeNvml

from edgewatch.collect.nvidia import NvidiaCollector

A2 = 'UUID="GPU-a2",device="nvidia0",gpu="0",modelName="NVIDIA A2"'
T4 = 'UUID="GPU-t4",device="nvidia1",gpu="1",modelName="Tesla T4"'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def two_gpus() -> FakeNvml:
    return FakeNvml([
        FakeGpu(name="NVIDIA A2", uuid="GPU-a2", minor=0),
        FakeGpu(name="Tesla T4", uuid="GPU-t4", minor=1, temperature=61, power_mw=70_000),
    ])  # fmt: skip


def started(fake: FakeNvml, clock: Clock | None = None, **kw: object) -> NvidiaCollector:
    c = NvidiaCollector(interval=5.0, nvml=fake, clock=clock or Clock(), **kw)  # type: ignore[arg-type]
    assert c.available() is None
    return c


def test_dcgm_names_labels_and_units() -> None:
    fake = two_gpus()
    fake.gpus[1].ecc = {
        (pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, pynvml.NVML_VOLATILE_ECC): 3,
        (pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_AGGREGATE_ECC): 1,
    }
    v = values(started(fake).collect())
    assert v[f"DCGM_FI_DEV_GPU_UTIL{{{A2}}}"] == 37
    assert v[f"DCGM_FI_DEV_MEM_COPY_UTIL{{{A2}}}"] == 12
    assert v[f"DCGM_FI_DEV_FB_USED{{{A2}}}"] == 3072  # MiB, as DCGM
    assert v[f"DCGM_FI_DEV_FB_FREE{{{A2}}}"] == 13312
    assert v[f"DCGM_FI_DEV_GPU_TEMP{{{T4}}}"] == 61
    assert v[f"DCGM_FI_DEV_POWER_USAGE{{{T4}}}"] == 70.0  # W from NVML's mW
    assert v[f"DCGM_FI_DEV_SM_CLOCK{{{A2}}}"] == 1410
    assert v[f"DCGM_FI_DEV_MEM_CLOCK{{{A2}}}"] == 6251
    assert v[f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{A2}}}"] == 123_456_789
    assert v[f"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{{{T4}}}"] == 3
    assert v[f"DCGM_FI_DEV_ECC_DBE_AGG_TOTAL{{{T4}}}"] == 1
    assert v[f"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{{{T4}}}"] == 0
    assert v[f"nvidia_gpu_up{{{A2}}}"] == v[f"nvidia_gpu_up{{{T4}}}"] == 1
    assert v["nvidia_nvml_up"] == 1
    assert v['nvidia_driver_info{driver_version="550.127.05"}'] == 1


def test_throttle_reasons_are_decoded_from_the_bitmask() -> None:
    fake = two_gpus()
    fake.gpus[0].throttle = (
        pynvml.nvmlClocksEventReasonSwPowerCap | pynvml.nvmlClocksEventReasonHwThermalSlowdown
    )
    v = values(started(fake).collect())
    assert v[f"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{{{A2}}}"] == 0x44
    on = {k for k, x in v.items() if k.startswith("nvidia_gpu_throttle_reason{") and x == 1}
    assert on == {
        f'nvidia_gpu_throttle_reason{{{A2},reason="sw_power_cap"}}',
        f'nvidia_gpu_throttle_reason{{{A2},reason="hw_thermal_slowdown"}}',
    }
    assert v[f'nvidia_gpu_throttle_reason{{{T4},reason="hw_slowdown"}}'] == 0


def test_a_metric_the_gpu_lacks_is_absent_logged_once_and_not_asked_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = two_gpus()
    fake.gpus[1].unsupported = {"nvmlDeviceGetFanSpeed", "nvmlDeviceGetTotalEccErrors"}
    c = started(fake)
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.nvidia"):
        runs = [values(c.collect()) for _ in range(5)]
    for v in runs:
        assert f"DCGM_FI_DEV_FAN_SPEED{{{T4}}}" not in v
        assert f"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{{{T4}}}" not in v
        assert v[f"DCGM_FI_DEV_FAN_SPEED{{{A2}}}"] == 30
        assert v["nvidia_nvml_errors_total"] == 0
    lines = [r.getMessage() for r in caplog.records]
    assert sum("no fan (Not Supported)" in m for m in lines) == 1
    assert sum("no ecc (Not Supported)" in m for m in lines) == 1
    # asked once per GPU on the first collection, then only of the GPU that has a fan
    assert fake.calls["nvmlDeviceGetFanSpeed"] == 2 + 4
    assert fake.calls["nvmlDeviceGetTotalEccErrors"] == 4 + 1 + 4 * 4


def test_process_memory_by_name_top_n_and_the_rest_as_other(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, comm in ((100, "detector"), (101, "detector"), (200, "segmenter"), (300, "Xorg")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(f"{comm}\n")
    fake = two_gpus()
    fake.process_names = {400: "/usr/bin/python3.11"}  # gone from our /proc: NVML's name
    mib = 1024 * 1024
    fake.gpus[0].compute = [(100, 900 * mib), (101, 300 * mib), (200, 500 * mib), (400, 10 * mib)]
    fake.gpus[0].graphics = [(300, 40 * mib), (200, 500 * mib)]  # 200 in both lists: once
    fake.gpus[1].compute = [(999, None)]  # usedGpuMemory not reported
    c = NvidiaCollector(nvml=fake, clock=Clock(), top_processes=2, proc_root=str(proc))
    assert c.available() is None
    v = values(c.collect())
    mem = {k: x / mib for k, x in v.items() if k.startswith("nvidia_gpu_process_memory_bytes")}
    assert mem == {
        f'nvidia_gpu_process_memory_bytes{{{A2},process="detector"}}': 1200,
        f'nvidia_gpu_process_memory_bytes{{{A2},process="segmenter"}}': 500,
        f'nvidia_gpu_process_memory_bytes{{{A2},process="other"}}': 50,
        f'nvidia_gpu_process_memory_bytes{{{T4},process="unknown"}}': 0,
    }
    assert v[f"nvidia_gpu_processes{{{A2}}}"] == 5
    assert v[f"nvidia_gpu_processes{{{T4}}}"] == 1


def test_xid_errors_from_nvml_events() -> None:
    fake = two_gpus()
    c = started(fake)
    assert values(c.collect())[f"DCGM_FI_DEV_XID_ERRORS{{{T4}}}"] == 0
    fake.xid(1, 48)
    fake.xid(1, 79)
    v = values(c.collect())
    assert v[f"DCGM_FI_DEV_XID_ERRORS{{{T4}}}"] == 79  # the last one, as DCGM
    assert v[f"nvidia_gpu_xid_errors_total{{{T4}}}"] == 2
    assert v[f"nvidia_gpu_xid_errors_total{{{A2}}}"] == 0


def test_driver_unloaded_mid_run_then_back_without_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, clock = two_gpus(), Clock()
    c = started(fake, clock, retry_max=20.0)
    assert values(c.collect())[f"DCGM_FI_DEV_GPU_TEMP{{{A2}}}"] == 54
    fake.unload_driver()
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.nvidia"):
        v = values(c.collect())
        assert v == {
            "nvidia_nvml_up": 0, f"nvidia_gpu_up{{{A2}}}": 0, f"nvidia_gpu_up{{{T4}}}": 0,
            "nvidia_nvml_errors_total": 0,
        }  # fmt: skip
        assert not fake.initialised  # NVML let go of the driver, so it can be reloaded
        inits = fake.calls["nvmlInit"]
        for _ in range(3):  # within the delay: no attempt
            assert values(c.collect())["nvidia_nvml_up"] == 0
        assert fake.calls["nvmlInit"] == inits
        # attempts after 5 s, then 10 s more, then 20 s more (the cap), then 20 s more
        for step in (5.0, 10.0, 20.0, 20.0):
            clock.now += step - 0.5
            c.collect()
            assert fake.calls["nvmlInit"] == inits
            clock.now += 0.5
            assert values(c.collect())["nvidia_nvml_up"] == 0
            inits += 1
            assert fake.calls["nvmlInit"] == inits
        fake.load_driver()
        clock.now += 20.0
        v = values(c.collect())
    assert v["nvidia_nvml_up"] == 1
    assert v[f"nvidia_gpu_up{{{T4}}}"] == 1
    assert v[f"DCGM_FI_DEV_GPU_TEMP{{{A2}}}"] == 54  # fresh handles: the old ones are stale
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [  # once each, not again while retrying
        "NVIDIA GPU 0 (GPU-a2) is lost: GPU is lost",
        "NVIDIA GPU 1 (GPU-t4) is lost: GPU is lost",
        "NVIDIA GPUs unreachable (GPU is lost): NVML shut down, retrying every 5 s to 20 s",
    ]
    assert "NVML is back: 2 NVIDIA GPU(s) answer" in caplog.text


def test_one_gpu_lost_the_other_keeps_reporting_until_it_returns() -> None:
    fake, clock = two_gpus(), Clock()
    c = started(fake, clock)
    c.collect()
    fake.lose(1)
    v = values(c.collect())
    assert v[f"nvidia_gpu_up{{{T4}}}"] == 0
    assert f"DCGM_FI_DEV_GPU_TEMP{{{T4}}}" not in v
    assert v[f"DCGM_FI_DEV_GPU_TEMP{{{A2}}}"] == 54
    assert v["nvidia_nvml_up"] == 1
    clock.now += 5.0  # a re-enumeration finds it still lost; A2 goes on
    v = values(c.collect())
    assert (v[f"nvidia_gpu_up{{{T4}}}"], v[f"nvidia_gpu_up{{{A2}}}"]) == (0, 1)
    fake.restore(1)
    clock.now += 10.0
    v = values(c.collect())
    assert v[f"nvidia_gpu_up{{{T4}}}"] == 1
    assert v[f"DCGM_FI_DEV_GPU_TEMP{{{T4}}}"] == 61


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("library", "NVML cannot start: NVML Shared Library Not Found"),
        ("no gpu", "NVML found no NVIDIA GPU"),
    ],
)
def test_no_nvidia_here_disables_with_a_reason(fault: str, reason: str) -> None:
    fake = two_gpus()
    if fault == "library":
        fake.library_present = False
    else:
        fake.gpus = []
    assert NvidiaCollector(nvml=fake).available() == reason
    assert not fake.initialised


def test_driver_not_loaded_at_start_stays_on_and_finds_the_gpus_when_it_loads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, clock = two_gpus(), Clock()
    fake.unload_driver()  # the agent started before the driver (boot), or during a reload
    c = NvidiaCollector(interval=5.0, nvml=fake, clock=clock)
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.nvidia"):
        assert c.available() is None
        assert not fake.initialised
        for _ in range(3):
            assert values(c.collect()) == {"nvidia_nvml_up": 0, "nvidia_nvml_errors_total": 0}
            clock.now += 5.0
        fake.load_driver()
        clock.now += 20.0  # past the backoff (5 s, 10 s, 20 s)
        v = values(c.collect())
    assert v["nvidia_nvml_up"] == 1
    assert v[f"nvidia_gpu_up{{{A2}}}"] == v[f"nvidia_gpu_up{{{T4}}}"] == 1
    assert v[f"DCGM_FI_DEV_GPU_TEMP{{{T4}}}"] == 61
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "NVML cannot start yet (Driver Not Loaded): reporting nvidia_nvml_up 0, "
        "retrying every 5 s to 60 s"
    ]
    assert "NVML is back: 2 NVIDIA GPU(s) answer" in caplog.text


def test_xid_event_of_a_gpu_lost_meanwhile_does_not_fail_the_collection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, clock = two_gpus(), Clock()
    c = started(fake, clock)
    c.collect()
    fake.xid(1, 79)  # "fallen off the bus": the GPU is lost by the time the event is read
    fake.lose(1)
    with caplog.at_level(logging.WARNING, logger="edgewatch.collect.nvidia"):
        v = values(c.collect())
    assert v[f"DCGM_FI_DEV_GPU_TEMP{{{A2}}}"] == 54
    assert v[f"nvidia_gpu_up{{{T4}}}"] == 0
    assert v["nvidia_nvml_up"] == 1
    fake.restore(1)
    clock.now += 5.0  # the next look for the lost GPU
    v = values(c.collect())
    assert v[f"nvidia_gpu_xid_errors_total{{{T4}}}"] == 1  # counted against T4 all the same
    assert v[f"DCGM_FI_DEV_XID_ERRORS{{{T4}}}"] == 79
    assert "NVIDIA GPU 1 (GPU-t4) is lost: GPU is lost" in caplog.text


def test_xid_event_of_a_gpu_lost_since_start_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = two_gpus()
    fake.lose(1)
    c = started(fake)
    with caplog.at_level(logging.WARNING, logger="edgewatch.collect.nvidia"):
        for _ in range(2):
            fake.xid(1, 79)  # nvmlDeviceGetUUID(event.device) answers GPU_IS_LOST
            v = values(c.collect())
            assert v[f"DCGM_FI_DEV_GPU_TEMP{{{A2}}}"] == 54
            assert v["nvidia_nvml_up"] == 1
    assert caplog.text.count("NVIDIA XID error 79 from a GPU that is lost (GPU is lost)") == 1


def test_this_machine_without_a_gpu_says_why() -> None:
    reason = NvidiaCollector().available()  # the real pynvml
    if reason is not None:
        assert reason.startswith(("NVML cannot start", "NVML found no NVIDIA GPU"))


def test_without_nvidia_ml_py_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    reason = NvidiaCollector().available()
    assert reason == "nvidia-ml-py is not installed (pip install 'edgewatch[gpu]')"


def test_importing_the_collector_does_not_load_pynvml() -> None:
    code = "import sys, edgewatch.collect.nvidia; print('pynvml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_fake_has_the_real_signatures_and_errors() -> None:
    fake = FakeNvml()
    names = [n for n in dir(fake) if n.startswith("nvml") and callable(getattr(fake, n))]
    names = [n for n in names if n not in vars(pynvml) or inspect.isfunction(vars(pynvml)[n])]
    assert len(names) >= 20
    for name in names:
        want = list(inspect.signature(getattr(pynvml, name)).parameters)
        assert list(inspect.signature(getattr(fake, name)).parameters) == want, name
    fake = FakeNvml([FakeGpu()])
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    fake.lose(0)
    with pytest.raises(pynvml.NVMLError_GpuIsLost) as lost:
        fake.nvmlDeviceGetName(handle)
    assert lost.value.value == pynvml.NVML_ERROR_GPU_IS_LOST
    assert str(lost.value) == "GPU is lost"
