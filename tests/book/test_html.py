"""The rendered book, checked the way a reader sees it: every page loads in headless Chromium, every figure is
present and non-blank, and no cell shows an error.

The session fixture executes every notebook with ``preset="tiny"`` through papermill and builds the book with
``jupyter-book build -W`` (``python -m nnip.book --preset tiny``), exactly as ``make book`` does at larger scale.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    if os.environ.get("NNIP_SKIP_BOOK_BUILD") != "1":
        subprocess.run([sys.executable, "-m", "nnip.book", "--preset", "tiny"], cwd=ROOT, check=True)
    assert (HTML / "index.html").exists(), "book was not built"
    return HTML


def _pages(html_root: Path) -> list[Path]:
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in html_root.rglob("*.html") if p.name not in skip and "_static" not in p.parts)


def _dom(page: Path, profile: Path) -> str:
    assert CHROMIUM, "headless Chromium is required (Debian package 'chromium'; `make test` installs it)"
    out = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, f"chromium failed on {page}: {out.stderr[-2000:]}"
    return out.stdout


@pytest.fixture(scope="session")
def doms(built_book, tmp_path_factory) -> dict:
    """Every page's DOM after Chromium loaded and ran it (one Chromium start per page, shared by the tests)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    return {page: _dom(page, profile) for page in _pages(built_book)}


def test_every_page_loads_without_errors(built_book, doms):
    assert len(doms) >= 5
    for page, dom in doms.items():
        assert "<title>" in dom and len(dom) > 1000, f"{page.name} did not render"
        for marker in ERROR_MARKERS:
            assert marker not in dom, f"{page.relative_to(built_book)} shows an error ({marker!r})"


def test_every_figure_present_and_non_blank(built_book, doms):
    from PIL import Image

    executed = sorted((ROOT / "book" / "executed").glob("*.ipynb"))
    assert executed, "no executed notebooks"
    n_images = 0
    for nb in executed:
        page = built_book / "book" / "executed" / f"{nb.stem}.html"
        assert page in doms, f"{nb.name} is not in the book (_toc.yml)"
        sources = re.findall(r'<img[^>]+src="([^"]+)"', doms[page])
        figures = [s for s in sources if "_images" in s or s.startswith("data:image")]
        assert figures, f"{page.name}: no figure rendered"
        for src in figures:
            if src.startswith("data:image"):
                continue
            path = (page.parent / src).resolve()
            assert path.exists(), f"{page.name}: missing image {src}"
            img = np.asarray(Image.open(path).convert("L"), dtype=float)
            assert img.size > 100 and img.std() > 2.0, f"{page.name}: blank figure {src}"
            n_images += 1
    assert n_images >= len(executed)


def test_no_page_shows_a_machine_path(built_book, doms):
    """A rendered page never shows where the book was built (project root, home, the interpreter's prefix): e.g. an
    injected ``store`` parameter or a warning's source line would."""
    machine = {str(ROOT), str(Path.home()) + "/", sys.prefix}
    for page, dom in doms.items():
        for path in machine:
            assert path not in dom, f"{page.relative_to(built_book)} shows the machine path {path}"
