"""``camera``: the failure modes of a shop camera.

- ``device``: the V4L2 node exists and opens (read-only, non-blocking, closed at
  once: no frame is grabbed, so a pipeline holding the camera is not disturbed).
  A relative name (``video0``) is looked up under the injected ``/dev``.
- ``snapshot``: the image the vision pipeline writes is fresh (modified within
  ``max_age``), not black (mean luminance, 0-255, below ``min_luminance``) and not
  frozen: ``frozen_after`` snapshots in a row that are near-identical, i.e. whose
  mean absolute difference from the previous one, on a 64x64 grey thumbnail, is
  below ``FROZEN_DIFFERENCE`` (1.0 grey level). The thumbnail samples single
  pixels (nearest to each cell's centre) rather than averaging areas: averaging
  would cancel the sensor's noise, and a live camera on a still scene (a shop at
  night) would read as frozen; sampled pixels keep that noise (a few grey levels),
  while a stuck pipeline repeats its frame exactly. A snapshot that was not
  rewritten since the last run (same mtime, size and inode) is not compared again:
  staleness is ``max_age``'s business.

Binary PGM/PPM (P5/P6, 8 or 16 bit) are decoded here with numpy; PNG and JPEG need
Pillow, used when it is installed (it is not a dependency): without it they are
reported unknown. The observed value is the mean luminance.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgewatch.config.health import CameraCheck
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status

F64 = npt.NDArray[np.float64]

FROZEN_DIFFERENCE = 1.0  # mean absolute grey-level difference below which frames match
THUMBNAIL = 64  # frames are compared on at most THUMBNAIL x THUMBNAIL grey pixels
MAX_IMAGE_BYTES = 64 << 20  # a 4K 16-bit PPM is 48 MiB
# magic, then width, height and maxval, each after whitespace or comment lines; then
# one whitespace byte. Possessive: no backtracking over a malformed header.
_PNM_HEADER = re.compile(rb"\A(P[56])((?:(?:\s|#[^\n]*\n)++\d++){3})\s")
_PNM_HEADER_MAX = 4096
_FORMATS = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG"}


class ImageError(ValueError):
    """A file that is not an image this check can read; ``permanent=False`` when only
    an optional decoder is missing (the check is unknown, not failed)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


def decode_pnm(data: bytes) -> F64:
    """Grey levels 0-255 (BT.601 luma for colour) of a binary PGM or PPM."""
    m = _PNM_HEADER.match(data[:_PNM_HEADER_MAX])
    if m is None:
        raise ImageError("not a binary PGM/PPM header")
    numbers = [int(n) for n in re.findall(rb"\d+", re.sub(rb"#[^\n]*\n", b"", m.group(2)))]
    width, height, maxval = numbers
    if width == 0 or height == 0 or not 0 < maxval < 65536:
        raise ImageError(f"bad PNM size {width}x{height} or maximum value {maxval}")
    channels = 3 if m.group(1) == b"P6" else 1
    dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
    needed = width * height * channels * dtype.itemsize
    body = data[m.end() : m.end() + needed]
    if len(body) < needed:
        raise ImageError(f"truncated image: {len(body)} of {needed} bytes of pixels")
    pixels = np.frombuffer(body, dtype=dtype).astype(np.float64) * (255.0 / maxval)
    if channels == 1:
        return pixels.reshape(height, width)
    rgb = pixels.reshape(height, width, 3)
    grey: F64 = rgb @ np.array([0.299, 0.587, 0.114])
    return grey


def decode_with_pillow(data: bytes, fmt: str) -> F64:
    try:
        image_module: Any = importlib.import_module("PIL.Image")
    except ImportError:
        raise ImageError(f"cannot decode {fmt} without Pillow", permanent=False) from None
    try:
        with image_module.open(io.BytesIO(data)) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float64)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for bad files
        raise ImageError(f"cannot decode {fmt}: {exc}") from None
    return grey


def decode(data: bytes) -> F64:
    """Grey levels 0-255 of a PGM, PPM, PNG or JPEG image (the last two need Pillow)."""
    if data[:2] in (b"P5", b"P6"):
        return decode_pnm(data)
    for magic, fmt in _FORMATS.items():
        if data.startswith(magic):
            return decode_with_pillow(data, fmt)
    raise ImageError("not a PGM, PPM, PNG or JPEG image")


def thumbnail(grey: F64, size: int = THUMBNAIL) -> F64:
    """At most ``size`` x ``size`` pixels, each the one nearest a cell's centre."""
    height, width = grey.shape
    rows = (2 * np.arange(min(height, size)) + 1) * height // (2 * min(height, size))
    cols = (2 * np.arange(min(width, size)) + 1) * width // (2 * min(width, size))
    small: F64 = grey[np.ix_(rows, cols)]
    return small


class CameraKind:
    def __init__(self, settings: CameraCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env
        self._lock = threading.Lock()  # a run cut off at its timeout may still be reading
        self._previous: F64 | None = None
        self._previous_file: tuple[int, int, int] | None = None
        self._same = 1  # near-identical snapshots in a row, the latest included

    async def observe(self) -> Observation:
        if self.settings.device is None and self.settings.snapshot is None:
            return Observation(Status.UNKNOWN, message="neither device nor snapshot is set")
        return await run_blocking(self._observe)

    def _observe(self) -> Observation:
        parts: list[str] = []
        if self.settings.device is not None:
            failed = self._check_device(self.settings.device)
            if failed is not None:
                return failed
            parts.append(f"{self._device_path(self.settings.device)} opens")
        if self.settings.snapshot is None:
            return Observation(Status.PASS, message=", ".join(parts))
        with self._lock:
            obs = self._check_snapshot(Path(self.settings.snapshot))
        if parts and obs.status is Status.PASS:
            return Observation(obs.status, obs.value, f"{parts[0]}, {obs.message}", obs.unit)
        return obs

    def _device_path(self, device: str) -> Path:
        path = Path(device)
        return path if path.is_absolute() else self.env.dev_root / path

    def _check_device(self, device: str) -> Observation | None:
        path = self._device_path(device)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return Observation(Status.FAIL, message=f"{path} does not exist")
        except OSError as exc:
            return Observation(Status.FAIL, message=f"{path} does not open: {exc.strerror}")
        os.close(fd)
        return None

    def _check_snapshot(self, path: Path) -> Observation:
        s = self.settings
        try:
            # non-blocking: a FIFO (or a device) at the path must not hang the thread
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return Observation(Status.FAIL, message=f"{path} is not a regular file")
                if st.st_size > MAX_IMAGE_BYTES:
                    message = f"{path}: {st.st_size} bytes, larger than {MAX_IMAGE_BYTES}"
                    return Observation(Status.UNKNOWN, message=message)
                data = f.read(MAX_IMAGE_BYTES)
        except FileNotFoundError:
            return Observation(Status.FAIL, message=f"{path} does not exist")
        except OSError as exc:
            return Observation(Status.FAIL, message=f"{path}: {exc.strerror}")
        age = max(0.0, self.env.clock() - st.st_mtime)
        if age > s.max_age:
            message = f"snapshot stale: not modified for {age:.0f}s (max {s.max_age:g}s)"
            return Observation(Status.FAIL, message=message)
        try:
            grey = decode(data)
        except ImageError as exc:
            return Observation(Status.FAIL if exc.permanent else Status.UNKNOWN, message=str(exc))
        luminance = float(grey.mean())
        frozen = self._track(thumbnail(grey), (st.st_mtime_ns, st.st_size, st.st_ino))
        if luminance < s.min_luminance:
            message = f"black frame: mean luminance {luminance:.1f} below {s.min_luminance:g}"
            return Observation(Status.FAIL, luminance, message, "luminance")
        if frozen:
            message = f"frozen: {self._same} near-identical snapshots in a row"
            return Observation(Status.FAIL, luminance, message, "luminance")
        message = f"snapshot {age:.0f}s old, mean luminance {luminance:.1f}"
        return Observation(Status.PASS, luminance, message, "luminance")

    def _track(self, small: F64, file_id: tuple[int, int, int]) -> bool:
        """Count near-identical snapshots in a row; True once there are frozen_after."""
        if file_id != self._previous_file:
            previous = self._previous
            if previous is not None and previous.shape == small.shape:
                difference = float(np.abs(small - previous).mean())
                self._same = self._same + 1 if difference < FROZEN_DIFFERENCE else 1
            else:
                self._same = 1
            self._previous, self._previous_file = small, file_id
        return self._same >= self.settings.frozen_after
