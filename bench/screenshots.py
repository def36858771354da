"""Screenshots of the dashboard for the docs: the main pages in the dark and the light
theme, at desktop (1280x800) and phone (360x740) width, taken by Playwright with
Debian's headless Chromium from the real agent over three hours of history with a
firing alert and health checks (bench/demo_site.py).

    python bench/screenshots.py [--out docs/screenshots]

Writes PAGE-THEME-WIDTH.png (e.g. overview-dark-desktop.png). Each image is the
viewport as a person sees it on opening the page, reduced to a 256-colour palette
(Pillow) so the set stays small enough for git.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path
from typing import Literal

from playwright.sync_api import Browser, ConsoleMessage, Response, sync_playwright

from demo_site import demo_agent

CHROMIUM = "/usr/bin/chromium"
PAGES = {
    "overview": "/",
    "explorer": "/explore?q=vision_fps&q=avg_over_time(vision_fps[5m])&range=6h",
    "health": "/health",
    "alerts": "/alerts",
    "processes": "/processes",
}
WIDTHS = {"desktop": (1280, 800), "phone": (360, 740)}
THEMES: tuple[Literal["dark", "light"], ...] = ("dark", "light")
SETTLE_MS = 1200  # after the page says it is ready: charts drawn, fonts laid out


def shrink(png: bytes) -> bytes:
    """The PNG with a 256-colour palette (about a third of the size)."""
    try:
        from PIL import Image
    except ImportError:
        print("Pillow is not installed: screenshots kept at full colour", file=sys.stderr)
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def report_console(message: ConsoleMessage) -> None:
    if message.type == "error":
        print(f"console error: {message.text} ({message.location})", file=sys.stderr)


def report_response(response: Response) -> None:
    if response.status >= 400:
        print(f"{response.status} {response.url}", file=sys.stderr)


def shoot(browser: Browser, url: str, out: Path) -> list[Path]:
    written: list[Path] = []
    for theme in THEMES:
        for width_name, (width, height) in WIDTHS.items():
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=theme
            )
            context.set_default_timeout(20_000)
            try:
                page = context.new_page()
                page.on("console", report_console)
                page.on("response", report_response)
                for name, path in PAGES.items():
                    page.goto(f"{url}{path}")
                    page.wait_for_selector("body[data-ready='1']", state="attached")
                    page.wait_for_timeout(SETTLE_MS)
                    target = out / f"{name}-{theme}-{width_name}.png"
                    target.write_bytes(shrink(page.screenshot()))
                    written.append(target)
            finally:
                context.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="edgewatch-shots-") as tmp,
        demo_agent(Path(tmp)) as demo,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        try:
            written = shoot(browser, demo.url, args.out)
        finally:
            browser.close()
    total = sum(p.stat().st_size for p in written)
    for path in written:
        print(f"{path}  {path.stat().st_size / 1024:7.1f} KiB")
    print(f"{len(written)} screenshots, {total / 1024:.0f} KiB in all")


if __name__ == "__main__":
    main()
