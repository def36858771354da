"""The ``camera`` check: a device node that opens or not, and real PGM/PPM snapshots
(numpy arrays written to tmp_path) that are live, stale, black or frozen."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from health_local_helpers import Clock, observe, write_pnm

from edgewatch.config.health import CameraCheck
from edgewatch.health.kinds.camera import CameraKind, ImageError, decode, thumbnail
from edgewatch.health.model import CheckEnv, Status

NOW = 1_767_225_600.0


def _kind(clock: Clock | None = None, dev_root: Path = Path("/dev"), **fields: object
          ) -> CameraKind:  # fmt: skip
    settings = CameraCheck.model_validate({"name": "cam", **fields})
    return CameraKind(settings, CheckEnv(clock=clock or Clock(NOW), dev_root=dev_root))


def _scene(rng: np.random.Generator, mean: float = 120.0) -> np.ndarray:
    """A 480x640 frame: a gradient plus sensor noise of a few grey levels."""
    gradient = np.linspace(mean - 40, mean + 40, 640)[None, :].repeat(480, axis=0)
    return np.clip(gradient + rng.normal(0, 4, (480, 640)), 0, 255).astype(np.uint8)


def test_device_node_that_opens_passes_and_a_missing_one_fails(tmp_path: Path) -> None:
    node = tmp_path / "video0"
    node.write_bytes(b"")  # a regular file stands in for the V4L2 node
    obs = observe(_kind(device=str(node)))
    assert obs.status is Status.PASS and obs.message == f"{node} opens"
    # a relative name is looked up under the injected /dev
    assert observe(_kind(dev_root=tmp_path, device="video0")).status is Status.PASS
    obs = observe(_kind(dev_root=tmp_path, device="video1"))
    assert obs.status is Status.FAIL and obs.message == f"{tmp_path / 'video1'} does not exist"


def test_device_that_does_not_open_fails(tmp_path: Path) -> None:
    node = tmp_path / "video0"
    node.mkdir()  # opens read-only: a directory; make it refuse instead
    node.rmdir()
    os.symlink(tmp_path / "loop", node)
    os.symlink(node, tmp_path / "loop")  # a symlink loop: ELOOP on open
    obs = observe(_kind(device=str(node)))
    assert obs.status is Status.FAIL and obs.message.startswith(f"{node} does not open: ")


def test_live_snapshots_pass_with_their_luminance(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    snap = tmp_path / "last.pgm"
    clock = Clock(NOW)
    kind = _kind(clock, snapshot=str(snap), frozen_after=2)
    for i in range(5):
        frame = _scene(rng)
        write_pnm(snap, frame, mtime=NOW + i)
        clock.now = NOW + i + 3
        obs = observe(kind)
        assert obs.status is Status.PASS, obs.message
        assert obs.unit == "luminance"
        assert obs.value == pytest.approx(frame.mean(), abs=0.01)
        assert obs.message == f"snapshot 3s old, mean luminance {obs.value:.1f}"


def test_a_stale_snapshot_fails(tmp_path: Path) -> None:
    snap = tmp_path / "last.pgm"
    write_pnm(snap, _scene(np.random.default_rng(2)), mtime=NOW - 120)
    obs = observe(_kind(snapshot=str(snap), max_age=60))
    assert obs.status is Status.FAIL
    assert obs.message == "snapshot stale: not modified for 120s (max 60s)"
    obs = observe(_kind(snapshot=str(tmp_path / "none.pgm")))
    assert obs.status is Status.FAIL and obs.message.endswith("none.pgm does not exist")


def test_a_black_frame_fails(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    snap = tmp_path / "last.pgm"
    dark = np.clip(rng.normal(3, 1.5, (480, 640)), 0, 255).astype(np.uint8)  # lens cap on
    write_pnm(snap, dark, mtime=NOW)
    obs = observe(_kind(snapshot=str(snap), min_luminance=8))
    assert obs.status is Status.FAIL
    assert obs.message == f"black frame: mean luminance {dark.mean():.1f} below 8"
    assert obs.value is not None and obs.value < 8
    # the same frame passes a lower threshold
    assert observe(_kind(snapshot=str(snap), min_luminance=1)).status is Status.PASS


def test_a_frozen_sequence_fails_after_frozen_after_snapshots(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    snap = tmp_path / "last.pgm"
    clock = Clock(NOW)
    kind = _kind(clock, snapshot=str(snap), frozen_after=3)
    frozen = _scene(rng)
    statuses = []
    for i in range(4):  # the pipeline rewrites the very same frame each second
        write_pnm(snap, frozen, mtime=NOW + i)
        clock.now = NOW + i
        statuses.append(observe(kind))
    assert [o.status for o in statuses] == [Status.PASS, Status.PASS, Status.FAIL, Status.FAIL]
    assert statuses[2].message == "frozen: 3 near-identical snapshots in a row"
    # a live frame again: the count starts over
    write_pnm(snap, _scene(rng), mtime=NOW + 10)
    clock.now = NOW + 10
    assert observe(kind).status is Status.PASS


def test_noise_alone_keeps_frames_apart_and_a_tiny_jitter_does_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    base = _scene(rng).astype(np.int16)
    # a re-encoded copy (±1 level at a few pixels) is still "the same frame"
    jitter = np.clip(base + rng.integers(-1, 2, base.shape) * (rng.random(base.shape) < 0.2),
                     0, 255).astype(np.uint8)  # fmt: skip
    snap = tmp_path / "last.pgm"
    clock = Clock(NOW)
    kind = _kind(clock, snapshot=str(snap), frozen_after=2)
    write_pnm(snap, base.astype(np.uint8), mtime=NOW)
    assert observe(kind).status is Status.PASS
    write_pnm(snap, jitter, mtime=NOW + 1)
    clock.now = NOW + 1
    assert observe(kind).message.startswith("frozen")


def test_an_unchanged_file_is_not_counted_as_frozen(tmp_path: Path) -> None:
    snap = tmp_path / "last.pgm"
    write_pnm(snap, _scene(np.random.default_rng(6)), mtime=NOW)
    kind = _kind(snapshot=str(snap), frozen_after=2)
    # checked more often than the pipeline writes: the same file read again is stale or
    # fresh (max_age), not frozen
    assert [observe(kind).status for _ in range(4)] == [Status.PASS] * 4


def test_ppm_colour_and_16_bit_decode_to_luma(tmp_path: Path) -> None:
    rgb = np.zeros((10, 20, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    snap = tmp_path / "last.ppm"
    write_pnm(snap, rgb, mtime=NOW)
    obs = observe(_kind(snapshot=str(snap)))
    assert obs.value == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    grey16 = np.full((8, 8), 32768, dtype=np.uint16)
    write_pnm(snap, grey16, mtime=NOW)
    assert observe(_kind(snapshot=str(snap))).value == pytest.approx(32768 * 255 / 65535)


def test_thumbnail_samples_pixels_down_to_64() -> None:
    grey = np.arange(480 * 640, dtype=np.float64).reshape(480, 640)
    small = thumbnail(grey)
    assert small.shape == (64, 64)
    assert small[0, 0] == grey[3, 5] and small[-1, -1] == grey[476, 635]
    assert thumbnail(np.ones((5, 300))).shape == (5, 64)


def test_a_still_scene_from_a_live_camera_is_not_frozen(tmp_path: Path) -> None:
    # the same scene, only the sensor noise differs: area averages would cancel the
    # noise and call it frozen; sampled pixels keep it
    rng = np.random.default_rng(8)
    snap = tmp_path / "last.pgm"
    clock = Clock(NOW)
    kind = _kind(clock, snapshot=str(snap), frozen_after=2)
    for i in range(4):
        write_pnm(snap, _scene(rng), mtime=NOW + i)
        clock.now = NOW + i
        assert observe(kind).status is Status.PASS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"P5\n4 4\n255\n" + bytes(10), "truncated image: 10 of 16 bytes of pixels"),
        (b"P5\n0 4\n255\n", "bad PNM size 0x4 or maximum value 255"),
        (b"GIF89a....", "not a PGM, PPM, PNG or JPEG image"),
        (b"P5 junk", "not a binary PGM/PPM header"),
    ],
)
def test_broken_images_fail_with_a_reason(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode(data)
    snap = tmp_path / "last.pgm"
    snap.write_bytes(data)
    obs = observe(_kind(snapshot=str(snap)))
    assert (obs.status, obs.message) == (Status.FAIL, message)


def test_jpeg_without_pillow_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # as if Pillow were not installed
    snap = tmp_path / "last.jpg"
    snap.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    obs = observe(_kind(snapshot=str(snap)))
    assert obs.status is Status.UNKNOWN and obs.message == "cannot decode JPEG without Pillow"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_jpeg_and_png_snapshots_decode_with_pillow(tmp_path: Path, fmt: str) -> None:
    from PIL import Image as image  # the test extras install Pillow

    rng = np.random.default_rng(5)
    live = tmp_path / f"live.{fmt.lower()}"
    image.fromarray(_scene(rng)).save(live, fmt)
    os.utime(live, (NOW, NOW))
    obs = observe(_kind(snapshot=str(live)))
    assert obs.status is Status.PASS and obs.value is not None and 100 < obs.value < 140
    dark = tmp_path / f"dark.{fmt.lower()}"
    image.fromarray(np.zeros((480, 640), dtype=np.uint8)).convert("RGB").save(dark, fmt)
    os.utime(dark, (NOW, NOW))
    obs = observe(_kind(snapshot=str(dark)))
    assert obs.status is Status.FAIL and obs.message.startswith("black frame")


def test_device_and_snapshot_together(tmp_path: Path) -> None:
    node = tmp_path / "video0"
    node.write_bytes(b"")
    snap = tmp_path / "last.pgm"
    write_pnm(snap, _scene(np.random.default_rng(7)), mtime=NOW)
    obs = observe(_kind(device=str(node), snapshot=str(snap)))
    assert obs.status is Status.PASS and obs.message.startswith(f"{node} opens, snapshot ")
    node.unlink()
    assert observe(_kind(device=str(node), snapshot=str(snap))).status is Status.FAIL


def test_nothing_configured_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="needs device, snapshot or both"):
        _kind()


def test_a_fifo_at_the_snapshot_path_fails_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "snap.pgm"
    os.mkfifo(fifo)  # no writer: a blocking open or read would never return
    obs = observe(_kind(snapshot=str(fifo)))
    assert obs.status is Status.FAIL
    assert obs.message == f"{fifo} is not a regular file"
