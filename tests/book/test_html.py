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
ERROR_MARKERS = ("Traceback (most recent call last)", "output_error", "ename", "Exception encountered")


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


def test_every_page_loads_without_errors(built_book, tmp_path):
    pages = _pages(built_book)
    assert len(pages) >= 5
    for page in pages:
        dom = _dom(page, tmp_path / "profile")
        assert "<title>" in dom and len(dom) > 1000, f"{page.name} did not render"
        for marker in ERROR_MARKERS:
            assert marker not in dom, f"{page.relative_to(built_book)} shows an error ({marker!r})"


def test_every_figure_present_and_non_blank(built_book, tmp_path):
    from PIL import Image

    executed = sorted((ROOT / "book" / "executed").glob("*.ipynb"))
    assert executed, "no executed notebooks"
    n_images = 0
    for nb in executed:
        page = next(iter(built_book.rglob(f"{nb.stem}.html")), None)
        assert page is not None, f"{nb.name} is not in the book (_toc.yml)"
        dom = _dom(page, tmp_path / "profile")
        sources = re.findall(r'<img[^>]+src="([^"]+)"', dom)
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
