#!/usr/bin/env python3
"""Screenshot a benchmark's ``report.html`` in headless Chromium, to look at it.

    python benchmarks/check_report_in_browser.py /tmp/benchreport/report.html --png /tmp/report.png

Uses Debian's ``chromium`` (``apt-get update && apt-get install -y chromium`` when missing;
``--install`` does that, as root). The browser runs offline-friendly: no sandbox (containers),
no GPU, no background networking or component updates, a throwaway profile. The report is
self-contained, so what the screenshot shows is what a reader sees offline.
Exit status: 0 when the PNG was written, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def install_chromium():
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True)


def screenshot(html, png, *, width=1400, height=3000, timeout=120, browser=None):
    """Render ``html`` and write a ``width`` x ``height`` screenshot to ``png``; return the PNG path."""
    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("no chromium found: apt-get update && apt-get install -y chromium "
                           "(or run this script with --install)")
    html = Path(html).resolve()
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
            html.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return png


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", help="the report.html to render")
    parser.add_argument("--png", default=None, help="output PNG (default: next to the HTML, report.png)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--install", action="store_true",
                        help="apt-get install chromium when it is missing (needs root)")
    args = parser.parse_args(argv)
    html = Path(args.html)
    if not html.is_file():
        print(f"{html}: no such file", file=sys.stderr)
        return 1
    if find_browser() is None and args.install:
        install_chromium()
    png = Path(args.png) if args.png else html.with_suffix(".png")
    try:
        path = screenshot(html, png, width=args.width, height=args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(error, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
