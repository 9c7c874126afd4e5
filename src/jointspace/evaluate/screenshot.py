"""Rendering a report page to PNG with headless chromium (when one is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a chromium binary, if one is installed."""
    return next((p for p in map(shutil.which, CHROMIUM_CANDIDATES) if p), None)


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = 1200,
               height: int = 2000, timeout: float = 60.0) -> Path | None:
    """Render ``html_path`` to ``png_path`` with headless chromium; None if none is installed."""
    exe = find_chromium()
    if exe is None:
        return None
    png = Path(png_path).absolute()
    subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", f"--screenshot={png}", f"--window-size={width},{height}",
         Path(html_path).absolute().as_uri()],
        check=True, capture_output=True, timeout=timeout,
    )
    return png if png.is_file() else None
