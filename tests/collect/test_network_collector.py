from __future__ import annotations

from pathlib import Path

from collect_helpers import PROC, SYS, values

from edgewatch.collect.network import NetworkCollector


def test_counters_link_state_and_speed() -> None:
    c = NetworkCollector(interval=1.0, proc_root=str(PROC), sys_root=str(SYS))
    assert c.available() is None
    v = values(c.collect())
    assert v['node_network_receive_bytes_total{device="eth0"}'] == 120331794
    assert v['node_network_receive_errs_total{device="eth0"}'] == 1
    assert v['node_network_receive_drop_total{device="eth0"}'] == 2
    assert v['node_network_transmit_errs_total{device="eth0"}'] == 3
    assert v['node_network_transmit_drop_total{device="eth0"}'] == 4
    assert v['node_network_transmit_packets_total{device="wlan0"}'] == 500
    assert v['node_network_up{device="eth0"}'] == 1.0
    assert v['node_network_up{device="wlan0"}'] == 0.0
    assert v['node_network_speed_bytes{device="eth0"}'] == 125_000_000
    assert 'node_network_speed_bytes{device="wlan0"}' not in v  # unknown speed
    devices = {k.split('device="')[1].split('"')[0] for k in v}
    assert devices == {"eth0", "wlan0"}  # lo and veth* excluded by default


def test_exclusions_are_configurable() -> None:
    c = NetworkCollector(interval=1.0, proc_root=str(PROC), sys_root=str(SYS),
                         exclude_devices=("^wlan",))  # fmt: skip
    devices = {s.key.label("device") for s in c.collect()}
    assert devices == {"lo", "eth0", "veth1a2b"}


def test_real_machine_counters_are_monotonic() -> None:
    c = NetworkCollector(interval=1.0)
    first, second = values(c.collect()), values(c.collect())
    assert first
    for key, value in first.items():
        if "_total{" in key:
            assert second[key] >= value, key


def test_missing_net_dev_disables(tmp_path: Path) -> None:
    c = NetworkCollector(interval=1.0, proc_root=str(tmp_path))
    assert c.available() == f"{tmp_path}/net/dev is not readable"
