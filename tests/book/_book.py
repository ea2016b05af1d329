"""What the book tests share: where the book is built, headless Chromium, and how a page is read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=5000",
]
# what myst-nb renders for a cell that raised: a traceback block
ERROR_MARKERS = ("Traceback (most recent call last)", 'class="output traceback', "output error")


def pages(html_root: Path) -> list[Path]:
    """The book's pages (not the index and search pages, not the theme's files)."""
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in html_root.rglob("*.html") if p.name not in skip and "_static" not in p.parts)


def dom(page: Path, profile: Path) -> str:
    """The page's DOM after headless Chromium loaded it and ran its scripts."""
    assert CHROMIUM, "headless Chromium is required (Debian package 'chromium'; `make test` installs it)"
    out = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, f"chromium failed on {page}: {out.stderr[-2000:]}"
    return out.stdout
