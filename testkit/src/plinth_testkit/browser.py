"""Debian's Chromium for the browser tests (Playwright drives it; no browser is downloaded).

The flags keep a headless Chromium off the network this machine does not have: without the
background-networking ones it keeps trying Google's hosts at every start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

CHROMIUM: Final = Path("/usr/bin/chromium")
"""Installed by ``make setup`` (the Debian packages ``chromium`` and ``chromium-driver``)."""

CHROMIUM_ARGS: Final[list[str]] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
